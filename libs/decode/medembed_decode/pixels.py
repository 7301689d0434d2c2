"""Pixel arrays to the 8-bit result: the min-max rule, EXIF orientation, and what a decode returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .limits import DecodeError, DecodeErrorKind


@dataclass(frozen=True)
class Decoded:
    """One decoded item: uint8 pixels [H, W] (single-channel source) or [H, W, 3] (colour), plus the
    rule fallbacks taken on the way (an ignored invalid window, non-finite pixels ...), one line each."""

    pixels: np.ndarray
    notes: tuple[str, ...] = field(default=())

    def image(self) -> Image.Image:
        """Mode L for [H, W], RGB for [H, W, 3]."""
        return Image.fromarray(np.ascontiguousarray(self.pixels))


def to_uint8(values: np.ndarray, notes: list[str], valid: np.ndarray | None = None) -> np.ndarray:
    """uint8 as is; any other dtype min-max scaled to 0..255 over the finite values of the whole
    image (all channels together, so the colour balance is kept). NaN and -inf become 0, +inf 255;
    a constant image becomes 0. Raises DECODE_ERROR when no value is finite.

    valid: bool of values' shape, True where a pixel is image data: only those set the minimum and
    the maximum (DICOM padding is not image data; what the others show is the caller's choice).
    """
    if values.dtype == np.uint8 and valid is None:
        return values
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * 255
    if values.dtype.kind not in "uif":
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"pixels of type {values.dtype} cannot be shown")
    data = values.astype(np.float64)
    finite = np.isfinite(data)
    all_finite = bool(finite.all())
    if not all_finite:
        if not finite.any():
            raise DecodeError(DecodeErrorKind.DECODE_ERROR, "no finite pixel value: every pixel is NaN or infinite")
        notes.append(f"{int(data.size - finite.sum())} NaN/infinite pixel value(s): scaled over the finite "
                     "pixels, NaN and -inf shown black, +inf white")
    counted = finite if valid is None else finite & valid
    if not counted.any():
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, "no finite pixel value in the image data")
    counted_values = data if all_finite and valid is None else data[counted]
    low, high = float(counted_values.min()), float(counted_values.max())
    scaled = np.zeros(data.shape, dtype=np.float64) if high <= low else (data - low) * 255.0 / (high - low)
    if not all_finite:
        scaled[np.isnan(data) | (data == -np.inf)] = 0.0
        scaled[data == np.inf] = 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def drop_alpha(pixels: np.ndarray, single_channel: bool) -> np.ndarray:
    """[H, W] for a single-channel source (gray, gray + alpha), [H, W, 3] for colour."""
    if pixels.ndim == 2:
        return pixels
    samples = pixels.shape[-1] if pixels.ndim == 3 else 0
    if samples == 0 or (not single_channel and samples < 3):
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"pixel data of shape {pixels.shape} is not a {'gray' if single_channel else 'colour'} image")
    return pixels[..., 0] if single_channel else pixels[..., :3]


def checked(pixels: np.ndarray) -> np.ndarray:
    """The decode result, refused unless uint8 [H, W] or [H, W, 3] with pixels in it."""
    if pixels.dtype != np.uint8 or pixels.size == 0 or not (
            pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[-1] == 3)):
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"decoded pixels of shape {pixels.shape} ({pixels.dtype}) are not an image")
    return np.ascontiguousarray(pixels)


# EXIF / TIFF Orientation (tag 0x0112) -> the transposition that shows the image upright; the same
# table as Pillow's ImageOps.exif_transpose.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8; anything else leaves the image as stored)."""
    method = _ORIENTATION.get(orientation)
    if method is None:
        return pixels
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).transpose(method))


_OBJECT_REPR = re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>")


def library_message(exc: BaseException) -> str:
    """A decoder library's exception as one line a person can read: no object reprs, no newlines."""
    text = _OBJECT_REPR.sub("the item", str(exc)) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."
