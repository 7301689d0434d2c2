from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from helpers.decode_corpus import CORPUS
from helpers.images import png_bytes
from medembed_decode import DecodeError, DecodeErrorKind
from medembed_evaluator import raw_pixels
from medembed_evaluator.raw_pixels import raw_pixel_vector, raw_pixels_provenance

from .images import image_bytes


def _vectors(items: list[bytes]) -> np.ndarray:
    """[N, 1024]: raw_pixel_vector of each item."""
    return np.stack([raw_pixel_vector(data) for data in items])


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_shape_dtype_range_and_grayscale_of_color() -> None:
    features = _vectors([image_bytes(0), image_bytes(255, mode="RGB", fmt="JPEG", size=50), image_bytes(51)])
    assert features.shape == (3, 1024)
    assert features.dtype == np.float32
    assert np.allclose(features[0], 0.0)
    assert np.allclose(features[1], 1.0, atol=0.01)
    assert np.allclose(features[2], 0.2)


def test_resize_keeps_the_layout_of_the_image() -> None:
    array = np.zeros((64, 64), np.uint8)
    array[:, 32:] = 255  # right half white
    vector = _vectors([_png(array)])[0].reshape(32, 32)
    assert np.allclose(vector[:, :15], 0.0) and np.allclose(vector[:, 17:], 1.0)


def test_every_format_the_encoder_reads_by_the_same_rules() -> None:
    """DICOM, 16-bit, float TIFF, EXIF-rotated ...: the same features as an 8-bit PNG of the pixels
    the decode rules give (the encoder's corpus)."""
    readable = [case for case in CORPUS if case.expected is not None]
    features = _vectors([case.data for case in readable])
    expected = _vectors([png_bytes(case.expected) for case in readable])
    for row, case in enumerate(readable):
        np.testing.assert_array_equal(features[row], expected[row], err_msg=case.name)


def test_undecodable_bytes_raise_the_decode_error_of_the_rules() -> None:
    with pytest.raises(DecodeError, match="not a PNG, JPEG") as caught:
        _vectors([b"not an image"])
    assert caught.value.kind == DecodeErrorKind.UNSUPPORTED_FORMAT


def test_provenance() -> None:
    provenance = raw_pixels_provenance()
    assert provenance.model_id == "raw-pixels"
    assert provenance.weights_digest == "none"
    assert provenance.embedding_spec == "gray32"
    assert provenance.dtype == "float32"
    assert len(provenance.preprocess_digest) == len(hashlib.sha256().hexdigest())
    assert provenance.vector_identity.startswith("sha256:")


def test_provenance_changes_with_the_decode_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    before = raw_pixels_provenance()
    monkeypatch.setattr(raw_pixels, "rules_identity", lambda: "decode-rules:999 pillow:0")
    after = raw_pixels_provenance()
    assert after.vector_identity != before.vector_identity
    assert after.preprocess_digest != before.preprocess_digest
