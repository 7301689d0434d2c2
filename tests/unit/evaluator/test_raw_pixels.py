from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from medembed_evaluator.errors import DecodeError
from medembed_evaluator.raw_pixels import raw_pixel_features, raw_pixels_provenance

from .images import image_bytes


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_shape_dtype_range_and_grayscale_of_color() -> None:
    features = raw_pixel_features([image_bytes(0), image_bytes(255, mode="RGB", fmt="JPEG", size=50), image_bytes(51)])
    assert features.shape == (3, 1024)
    assert features.dtype == np.float32
    assert np.allclose(features[0], 0.0)
    assert np.allclose(features[1], 1.0, atol=0.01)
    assert np.allclose(features[2], 0.2)


def test_resize_keeps_the_layout_of_the_image() -> None:
    array = np.zeros((64, 64), np.uint8)
    array[:, 32:] = 255  # right half white
    vector = raw_pixel_features([_png(array)])[0].reshape(32, 32)
    assert np.allclose(vector[:, :15], 0.0) and np.allclose(vector[:, 17:], 1.0)


def test_sixteen_bit_images_scale_by_their_full_range() -> None:
    array = np.full((16, 16), 32768, dtype=np.uint16)
    assert np.allclose(raw_pixel_features([_png(array)]), 32768 / 65535, atol=1e-4)


def test_undecodable_bytes_raise_decode_error() -> None:
    with pytest.raises(DecodeError, match="raw-pixels cannot decode"):
        raw_pixel_features([b"not an image"])


def test_provenance() -> None:
    provenance = raw_pixels_provenance()
    assert provenance["model_id"] == "raw-pixels"
    assert provenance["weights_digest"] == "none"
    assert provenance["embedding_spec"] == "gray32"
    assert provenance["dtype"] == "float32"
    assert len(provenance["preprocess_digest"]) == len(hashlib.sha256().hexdigest())
