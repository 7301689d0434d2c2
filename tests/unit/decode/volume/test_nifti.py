"""NIfTI volumes against nibabel: the slices of a volume with a non-identity affine equal nibabel's
own canonical (RAS+) layout, shown in the radiological display convention."""

from __future__ import annotations

import gzip
import struct

import nibabel
import numpy as np
import pytest

from helpers.volumes import canonical_slice, linear, nifti_bytes
from medembed_decode import DEFAULT_LIMITS, DecodeError, DecodeErrorKind, DecodeLimits
from medembed_decode.volume import SliceOptions, decode_slices, volume_kind

# Array axes permuted and flipped: i runs along -y (anterior to posterior), j along -z (superior to
# inferior), k along -x (right to left): the axial axis is the array's second.
PERMUTED = np.array([[0.0, 0.0, -0.9, 40.0],
                     [-1.1, 0.0, 0.0, 30.0],
                     [0.0, -1.3, 0.0, 20.0],
                     [0.0, 0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return np.random.default_rng(3).integers(-1000, 1500, size=(12, 10, 9)).astype(np.int16)


@pytest.mark.parametrize("axis", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("gzipped", [False, True])
def test_every_slice_equals_nibabels_canonical_volume_windowed(volume: np.ndarray, axis: str, gzipped: bool) -> None:
    data = nifti_bytes(volume, PERMUTED, gzipped=gzipped)
    image = nibabel.Nifti1Image.from_bytes(nifti_bytes(volume, PERMUTED))
    canonical = nibabel.as_closest_canonical(image)
    assert nibabel.aff2axcodes(canonical.affine) == ("R", "A", "S")
    expected_volume = canonical.get_fdata()
    count = expected_volume.shape[{"sagittal": 0, "coronal": 1, "axial": 2}[axis]]

    result = decode_slices(data, SliceOptions.parse("all", axis, "-100/900"), DEFAULT_LIMITS)

    assert result.slice_count == count and result.slice_indices == tuple(range(count))
    for index, decoded in enumerate(result.images):
        np.testing.assert_array_equal(decoded.pixels, linear(canonical_slice(expected_volume, axis, index), -100, 900))


def test_the_default_is_the_middle_axial_slice_min_max_scaled(volume: np.ndarray) -> None:
    data = nifti_bytes(volume, PERMUTED)
    canonical = nibabel.as_closest_canonical(nibabel.Nifti1Image.from_bytes(data)).get_fdata()
    result = decode_slices(data, SliceOptions(), DEFAULT_LIMITS)
    middle = (canonical.shape[2] - 1) // 2
    assert result.slice_indices == (middle,) and result.slice_count == canonical.shape[2]
    expected = canonical_slice(canonical, "axial", middle)
    scaled = np.round((expected - expected.min()) * 255.0 / (expected.max() - expected.min())).astype(np.uint8)
    np.testing.assert_array_equal(result.images[0].pixels, scaled)


def test_nifti2_and_nifti1_of_the_same_voxels_give_the_same_slices(volume: np.ndarray) -> None:
    options = SliceOptions.parse("every:3", "coronal", "lung")
    one = decode_slices(nifti_bytes(volume, PERMUTED), options, DEFAULT_LIMITS)
    two = decode_slices(nifti_bytes(volume, PERMUTED, version=2), options, DEFAULT_LIMITS)
    assert one.slice_indices == two.slice_indices == (0, 3, 6, 9)
    for a, b in zip(one.images, two.images, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)


def test_scl_slope_and_inter_are_applied_as_nibabel_applies_them(volume: np.ndarray) -> None:
    raw = bytearray(nifti_bytes(volume, np.eye(4)))
    struct.pack_into("<ff", raw, 112, 2.0, -1024.0)  # scl_slope, scl_inter (nifti1.h offsets)
    image = nibabel.Nifti1Image.from_bytes(bytes(raw))
    assert image.dataobj.slope == 2.0 and image.dataobj.inter == -1024.0
    values = image.get_fdata()
    result = decode_slices(bytes(raw), SliceOptions.parse("index:4", "axial", "40/400"), DEFAULT_LIMITS)
    np.testing.assert_array_equal(result.images[0].pixels, linear(values[::-1, ::-1, 4].T, 40, 400))


def test_cal_min_and_cal_max_are_the_files_own_display_range() -> None:
    values = np.arange(16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
    data = nifti_bytes(values, np.eye(4), cal_min=100.0, cal_max=400.0)
    shown = decode_slices(data, SliceOptions.parse("index:0"), DEFAULT_LIMITS).images[0].pixels
    plane = values[::-1, ::-1, 0].T.astype(np.float64)
    expected = np.clip(np.round((plane - 100.0) / 300.0 * 255.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(shown, expected)


def test_a_4d_file_yields_its_first_volume_and_says_so(volume: np.ndarray) -> None:
    four = np.stack([volume, volume[::-1]], axis=-1)
    result = decode_slices(nifti_bytes(four, np.eye(4)), SliceOptions.parse("middle", window="0/2000"), DEFAULT_LIMITS)
    np.testing.assert_array_equal(result.images[0].pixels, linear(volume[::-1, ::-1, 4].T.astype(float), 0, 2000))
    assert any("first 3-D volume" in note for note in result.notes)


def test_volume_kind_names_nifti_raw_and_gzipped(volume: np.ndarray) -> None:
    assert volume_kind(nifti_bytes(volume, np.eye(4))) == "NIfTI"
    assert volume_kind(nifti_bytes(volume, np.eye(4), gzipped=True)) == "NIfTI"
    assert volume_kind(nifti_bytes(volume, np.eye(4), version=2)) == "NIfTI"


def test_a_truncated_file_is_a_decode_error_naming_the_sizes(volume: np.ndarray) -> None:
    data = nifti_bytes(volume, np.eye(4))
    with pytest.raises(DecodeError) as caught:
        decode_slices(data[:-100], SliceOptions(), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.DECODE_ERROR and "truncated NIfTI" in str(caught.value)


def test_a_header_of_a_pair_is_refused_with_the_next_step(volume: np.ndarray) -> None:
    data = bytearray(nifti_bytes(volume, np.eye(4)))
    data[344:348] = b"ni1\0"
    with pytest.raises(DecodeError) as caught:
        decode_slices(bytes(data[:352]), SliceOptions(), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.UNSUPPORTED_FORMAT and "single-file .nii" in str(caught.value)


def test_index_out_of_range_names_the_slice_count(volume: np.ndarray) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_slices(nifti_bytes(volume, PERMUTED), SliceOptions.parse("index:10"), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.DECODE_ERROR
    assert "index:10 is out of range: the item has 10 slices" in str(caught.value)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_cifti_file_is_refused_naming_its_kind(gzipped: bool) -> None:
    """CIFTI-2 (nibabel.cifti2): brainordinate values in a NIfTI-2 container whose spatial dims are
    1 x 1 x 1, known by its intent code (3006: dense scalar). Read as a volume it was a 1 x 1 image."""
    image = nibabel.Nifti2Image(np.arange(40, dtype=np.float32).reshape(1, 1, 1, 1, 2, 20), np.eye(4))
    image.header.set_intent(3006)
    raw = image.to_bytes()
    assert nibabel.Nifti2Image.from_bytes(raw).header.get_intent()[0] == "ConnDenseScalar"
    data = gzip.compress(raw) if gzipped else raw
    for rule in ("", "all"):
        with pytest.raises(DecodeError) as caught:
            decode_slices(data, SliceOptions.parse(rule), DecodeLimits(min_side=1))
        assert caught.value.kind == DecodeErrorKind.UNSUPPORTED_FORMAT
        assert "CIFTI-2 dense scalar (.dscalar.nii)" in str(caught.value) and "wb_command" in str(caught.value)


@pytest.mark.parametrize("srow_z", [(0.0, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, float("nan"), 0.0),
                                    (0.0, 0.0, float("inf"), 0.0)], ids=["zero", "parallel", "nan", "inf"])
@pytest.mark.parametrize("axis", ["", "sagittal"])
def test_an_affine_that_gives_an_axis_no_direction_is_a_decode_error(volume: np.ndarray, srow_z: tuple[float, ...],
                                                                    axis: str) -> None:
    """A damaged sform (its third row a zero, parallel or non-finite vector; the 3 x 3 part then has
    a zero, parallel or non-finite column): nibabel's own as_closest_canonical refuses it too."""
    raw = bytearray(nifti_bytes(volume, np.eye(4)))
    struct.pack_into("<4f", raw, 312, *srow_z)  # srow_z (nifti1.h offset); sform_code stays 2
    image = nibabel.Nifti1Image.from_bytes(bytes(raw))
    assert image.header.get_sform(coded=True)[1] == 2
    with pytest.raises((nibabel.orientations.OrientationError, np.linalg.LinAlgError)), np.errstate(invalid="ignore"):
        nibabel.as_closest_canonical(image)
    with pytest.raises(DecodeError) as caught:
        decode_slices(bytes(raw), SliceOptions.parse("middle", axis), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.DECODE_ERROR
    assert "gives an array axis no direction" in str(caught.value) and "NIfTI volume" in str(caught.value)
