"""Multi-frame DICOM as a volume: frames ordered by their per-frame Plane Position, the default
still the first stored frame exactly as the 2-D decode reads it."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from helpers.dicom import dicom_bytes
from helpers.volumes import enhanced_ct, linear, phantom
from medembed_decode import DEFAULT_LIMITS, DecodeError, DecodeErrorKind, decode
from medembed_decode.volume import SliceOptions, decode_slices, volume_kind

FRAMES = 9
Z = [12.5, -2.5, 5.0, 0.0, 10.0, 2.5, 7.5, -5.0, 15.0]  # stored order is not position order


@pytest.fixture(scope="module")
def enhanced() -> bytes:
    stored = np.moveaxis(phantom((16, 16, FRAMES), seed=5), -1, 0)
    return enhanced_ct(stored, [(-60.0, -70.0, z) for z in Z])


def frames_by_pydicom(data: bytes) -> np.ndarray:
    """HU [frames, H, W] in stored order: pydicom's pixel_array and apply_modality_lut with the
    Shared Functional Groups' Pixel Value Transformation."""
    ds = pydicom.dcmread(io.BytesIO(data))
    transform = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    return np.asarray(apply_modality_lut(ds.pixel_array, transform), dtype=np.float64)


def test_default_is_the_first_stored_frame_as_decode_reads_it(enhanced: bytes) -> None:
    result = decode_slices(enhanced, SliceOptions(), DEFAULT_LIMITS)
    assert result.slice_indices == (0,) and len(result.images) == 1
    np.testing.assert_array_equal(result.images[0].pixels, decode(enhanced, DEFAULT_LIMITS).pixels)


def test_explicit_rules_order_frames_by_position(enhanced: bytes) -> None:
    hu = frames_by_pydicom(enhanced)
    order = np.argsort(Z)
    result = decode_slices(enhanced, SliceOptions.parse("all", window="lung"), DEFAULT_LIMITS)
    assert result.slice_count == FRAMES
    for index, decoded in enumerate(result.images):
        np.testing.assert_array_equal(decoded.pixels, linear(hu[order[index]], -600, 1500))
    middle = decode_slices(enhanced, SliceOptions.parse("middle"), DEFAULT_LIMITS)
    # the frame's own window from the Frame VOI LUT functional group: WC 40 / WW 400
    np.testing.assert_array_equal(middle.images[0].pixels, linear(hu[order[(FRAMES - 1) // 2]], 40, 400))


def test_a_window_on_the_default_rule_windows_the_first_frame(enhanced: bytes) -> None:
    hu = frames_by_pydicom(enhanced)
    result = decode_slices(enhanced, SliceOptions.parse(window="-600/1500"), DEFAULT_LIMITS)
    np.testing.assert_array_equal(result.images[0].pixels, linear(hu[0], -600, 1500))


def test_frames_without_positions_keep_stored_order_and_refuse_an_axis() -> None:
    cine = np.stack([np.full((16, 16), value, np.uint16) + np.eye(16, dtype=np.uint16) * 50
                     for value in (10, 200, 90)])
    data = dicom_bytes(cine, frames=3)
    assert volume_kind(data) == "multi-frame DICOM"
    result = decode_slices(data, SliceOptions.parse("all"), DEFAULT_LIMITS)
    assert result.slice_indices == (0, 1, 2)
    assert any("stored order" in note for note in result.notes)
    with pytest.raises(DecodeError) as caught:
        decode_slices(data, SliceOptions.parse("all", "coronal"), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.DECODE_ERROR and "no patient orientation" in str(caught.value)


def test_volume_kind_names_a_multi_frame_file(enhanced: bytes) -> None:
    assert volume_kind(enhanced) == "multi-frame DICOM"


def test_two_stacks_in_one_file_keep_stored_order_and_say_so() -> None:
    stored = np.moveaxis(phantom((16, 16, 4), seed=6), -1, 0)
    data = enhanced_ct(stored, [(0.0, 0.0, z) for z in (0.0, 2.5, 0.0, 2.5)])  # two time points
    hu = frames_by_pydicom(data)
    result = decode_slices(data, SliceOptions.parse("all", window="40/400"), DEFAULT_LIMITS)
    assert result.slice_indices == (0, 1, 2, 3)
    assert any("same position" in note and "stored order" in note for note in result.notes)
    for index, decoded in enumerate(result.images):
        np.testing.assert_array_equal(decoded.pixels, linear(hu[index], 40, 400))


def per_frame_windows(data: bytes, centers: list[float]) -> bytes:
    """The file with its Frame VOI LUT moved from the Shared to the Per-frame Functional Groups, one
    Window Center per frame (width 400)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence
    for item, center in zip(ds.PerFrameFunctionalGroupsSequence, centers, strict=True):
        voi = pydicom.Dataset()
        voi.WindowCenter, voi.WindowWidth = f"{center:g}", "400"
        item.FrameVOILUTSequence = pydicom.Sequence([voi])
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_the_note_on_frames_of_different_windows_is_given_once_and_only_when_their_window_is_shown(
        enhanced: bytes) -> None:
    data = per_frame_windows(enhanced, [float(10 * i) for i in range(FRAMES)])

    def notes(window: str) -> list[str]:
        result = decode_slices(data, SliceOptions.parse("all", "coronal", window), DEFAULT_LIMITS)
        assert len(result.images) == 16
        return [note for image in result.images for note in image.notes] + list(result.notes)

    assert [note for note in notes("") if "different windows" in note] == [
        f"the multi-frame DICOM's frames carry {FRAMES} different windows: a reformatted slice is shown with the "
        "middle frame's"]
    assert not [note for note in notes("lung") if "different windows" in note]
