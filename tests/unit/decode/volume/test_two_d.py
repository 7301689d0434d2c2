"""Any 2-D item through decode_slices: with default options exactly medembed_decode.decode (so no
existing vector changes); a window only where there are modality values."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from helpers.decode_corpus import CORPUS, Case
from helpers.volumes import ct_slice, linear
from medembed_decode import DEFAULT_LIMITS, DecodeError, DecodeErrorKind, decode
from medembed_decode.volume import SliceOptions, decode_slices


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_default_options_give_exactly_what_decode_gives(case: Case) -> None:
    try:
        expected = decode(case.data, DEFAULT_LIMITS)
    except DecodeError as error:
        with pytest.raises(DecodeError) as caught:
            decode_slices(case.data, SliceOptions(), DEFAULT_LIMITS)
        assert (caught.value.kind, str(caught.value)) == (error.kind, str(error))
        return
    result = decode_slices(case.data, SliceOptions(), DEFAULT_LIMITS)
    assert result.slice_indices == (0,) and len(result.images) == 1
    assert result.slice_count == frames(case.data)
    np.testing.assert_array_equal(result.images[0].pixels, expected.pixels)
    assert result.images[0].notes == expected.notes


def frames(data: bytes) -> int:
    """Number of Frames as pydicom reads it (1 for anything that is not a multi-frame DICOM)."""
    try:
        stream = bytes(128) + data if data[:4] == b"DICM" else data
        return int(pydicom.dcmread(io.BytesIO(stream), force=True).get("NumberOfFrames", 1) or 1)
    except Exception:
        return 1


def test_rules_on_a_2d_image_give_its_one_image_and_index_1_is_out_of_range() -> None:
    png = next(case for case in CORPUS if case.expected is not None and case.data.startswith(b"\x89PNG"))
    for rule in ("middle", "all", "mean", "every:4", "index:0"):
        result = decode_slices(png.data, SliceOptions.parse(rule, "coronal"), DEFAULT_LIMITS)
        np.testing.assert_array_equal(result.images[0].pixels, png.expected)
    with pytest.raises(DecodeError) as caught:
        decode_slices(png.data, SliceOptions.parse("index:1"), DEFAULT_LIMITS)
    assert "the item has 1 slice along this axis" in str(caught.value)


def test_a_window_on_a_png_is_refused_naming_why() -> None:
    png = next(case for case in CORPUS if case.expected is not None and case.data.startswith(b"\x89PNG"))
    with pytest.raises(DecodeError) as caught:
        decode_slices(png.data, SliceOptions.parse(window="lung"), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.UNSUPPORTED_FORMAT and "modality units" in str(caught.value)


def test_a_preset_applies_to_a_single_ct_slice() -> None:
    stored = np.arange(256, dtype=np.int16).reshape(16, 16) * 8  # HU -1024 .. 1016 with the rescale
    data = ct_slice(stored, (0.0, 0.0, 0.0), 1, padding=None)
    result = decode_slices(data, SliceOptions.parse(window="mediastinum"), DEFAULT_LIMITS)
    np.testing.assert_array_equal(result.images[0].pixels, linear(stored.astype(float) - 1024, 50, 350))
    own = decode_slices(data, SliceOptions.parse("middle"), DEFAULT_LIMITS)  # no window: the file's own
    np.testing.assert_array_equal(own.images[0].pixels, decode(data, DEFAULT_LIMITS).pixels)


def test_volume_kind_is_none_for_2d_items() -> None:
    from medembed_decode.volume import volume_kind

    for case in CORPUS:
        if case.expected is not None and frames(case.data) == 1:
            assert volume_kind(case.data) is None, case.name
