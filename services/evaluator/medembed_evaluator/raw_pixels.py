"""The raw-pixels baseline "model", computed by the evaluator itself.

bytes -> PIL -> grayscale -> 32x32 bilinear -> 1024 float32 values in [0, 1]. It answers the
question every probe table needs: how much of the score needs no learned features at all?
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from medembed_evaluator.errors import DecodeError

RAW_PIXELS_MODEL_ID = "raw-pixels"
SIDE = 32
DIM = SIDE * SIDE
_PREPROCESS = f"PIL decode; grayscale (8-bit /255, 16-bit /65535); resize {SIDE}x{SIDE} bilinear; float32"
# 16-bit and 32-bit integer modes are scaled by their full range, not clipped to 8 bits.
_INTEGER_MODE_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I": 65535.0}


def raw_pixels_provenance() -> dict[str, str]:
    return {
        "model_id": RAW_PIXELS_MODEL_ID,
        "weights_digest": "none",
        "preprocess_digest": hashlib.sha256(_PREPROCESS.encode()).hexdigest(),
        "embedding_spec": "gray32",
        "dtype": "float32",
    }


def raw_pixel_features(image_bytes: Sequence[bytes]) -> np.ndarray:
    """[N, 1024] float32; raises DecodeError on the first item that does not decode."""
    features = np.empty((len(image_bytes), DIM), dtype=np.float32)
    for row, data in enumerate(image_bytes):
        features[row] = raw_pixel_vector(data)
    return features


def raw_pixel_vector(data: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            gray = grayscale01(image)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DecodeError(f"raw-pixels cannot decode the image ({error})") from error
    resized = Image.fromarray(gray).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32).reshape(DIM), 0.0, 1.0)


def grayscale01(image: Image.Image) -> np.ndarray:
    """float32 gray values in [0, 1]; 16/32-bit integer modes scaled by their range, float modes min-max."""
    if image.mode in _INTEGER_MODE_SCALE:
        return np.asarray(image, dtype=np.float32) / _INTEGER_MODE_SCALE[image.mode]
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
