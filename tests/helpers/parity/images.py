"""The parity images: a non-square RGB image, a gray image and a 16-bit image, as PNG bytes.

References see the image medembed's decode rules produce (`decoded`). For the 8-bit images that is
what the upstream code reads itself (`Image.open(path)`); for the 16-bit image it is deliberately
not: upstream `Image.open(p).convert("RGB")` clips 16-bit values to 255, medembed min-max scales
them to 0..255 (its documented decode rule), so there the reference runs on medembed's 8-bit image.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from medembed_decode import DecodeLimits, decode_image

LIMITS = DecodeLimits(max_image_bytes=1 << 26, max_pixels=1 << 26, min_side=8)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _structured(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """A smooth gradient with a bright disc and some noise: structure at every scale."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx / width * 0.6 + yy / height * 0.3)[..., None] * np.linspace(1.0, 0.5, channels)
    disc = (((xx - width * 0.6) ** 2 + (yy - height * 0.4) ** 2) < (min(height, width) / 4) ** 2)[..., None] * 0.35
    return np.clip(base + disc + rng.normal(0, 0.05, (height, width, channels)), 0, 1)


def _rgb() -> bytes:
    return _png(Image.fromarray((_structured(30, 47, 3, 1) * 255).astype(np.uint8), "RGB"))


def _gray() -> bytes:
    return _png(Image.fromarray((_structured(41, 29, 1, 2)[..., 0] * 255).astype(np.uint8), "L"))


def _gray16() -> bytes:
    pixels = (_structured(27, 36, 1, 3)[..., 0] * 3000 + 500).astype(np.uint16)  # 12-bit data in 16 bits
    return _png(Image.fromarray(pixels))


IMAGES: dict[str, bytes] = {"rgb 47x30": _rgb(), "gray 29x41": _gray(), "gray16 36x27": _gray16()}


def decoded(data: bytes) -> Image.Image:
    """The 8-bit image (mode L or RGB) medembed's decode rules make of `data`."""
    return decode_image(data, LIMITS)
