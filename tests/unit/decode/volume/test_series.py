"""A synthetic CT series (pydicom-written files, shuffled names, gantry tilt 0, signed pixels,
rescale, Pixel Padding) against pydicom reading the same files in position order, and against a
NIfTI of the same voxels read by nibabel."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from helpers.dicom import dicomdir_bytes
from helpers.volumes import canonical_slice, ct_slice, linear, nifti_bytes, phantom, series_files, tar_of, zip_of
from medembed_decode import DEFAULT_LIMITS, DecodeError, DecodeErrorKind
from medembed_decode.volume import SliceOptions, decode_slices, volume_kind

SHAPE = (16, 16, 9)


@pytest.fixture(scope="module")
def stored() -> np.ndarray:
    return phantom(SHAPE)


@pytest.fixture(scope="module")
def files(stored: np.ndarray) -> dict[str, bytes]:
    return series_files(stored)


def pydicom_volume(files: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    """HU [rows, columns, slices] and padding masks, by pydicom, slices sorted by Image Position
    (Patient) along the normal of Image Orientation (Patient) (PS3.3 C.7.6.2.1.1)."""
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in files.values()]
    normal = np.cross(np.asarray(datasets[0].ImageOrientationPatient[:3], float),
                      np.asarray(datasets[0].ImageOrientationPatient[3:], float))
    datasets.sort(key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float))))
    hu = np.stack([apply_modality_lut(ds.pixel_array, ds) for ds in datasets], axis=-1)
    padding = np.stack([ds.pixel_array == ds.PixelPaddingValue for ds in datasets], axis=-1)
    return hu.astype(np.float64), padding


def test_the_file_order_in_the_archive_is_not_the_position_order(files: dict[str, bytes]) -> None:
    names = list(files)
    positions = [float(pydicom.dcmread(io.BytesIO(files[name])).ImagePositionPatient[2]) for name in names]
    assert positions != sorted(positions)


@pytest.mark.parametrize("archive", ["zip", "tar", "tar.gz"])
def test_every_axial_slice_is_pydicoms_hu_under_the_files_own_window(files: dict[str, bytes], archive: str) -> None:
    data = {"zip": zip_of, "tar": tar_of, "tar.gz": lambda f: tar_of(f, gzipped=True)}[archive](files)
    hu, _ = pydicom_volume(files)
    result = decode_slices(data, SliceOptions.parse("all"), DEFAULT_LIMITS)
    assert result.slice_count == SHAPE[2] and result.slice_indices == tuple(range(SHAPE[2]))
    for index, decoded in enumerate(result.images):  # the files' own window, WC 40 / WW 400
        np.testing.assert_array_equal(decoded.pixels, linear(hu[:, :, index], 40, 400))


def test_a_preset_replaces_the_files_window_and_three_windows_are_rgb(files: dict[str, bytes]) -> None:
    hu, _ = pydicom_volume(files)
    lung = decode_slices(zip_of(files), SliceOptions.parse("index:2", window="lung"), DEFAULT_LIMITS)
    np.testing.assert_array_equal(lung.images[0].pixels, linear(hu[:, :, 2], -600, 1500))
    rgb = decode_slices(zip_of(files), SliceOptions.parse("middle", window="brain,subdural,bone"), DEFAULT_LIMITS)
    middle = (SHAPE[2] - 1) // 2
    expected = np.stack([linear(hu[:, :, middle], 40, 80), linear(hu[:, :, middle], 80, 200),
                         linear(hu[:, :, middle], 600, 2800)], axis=-1)
    assert rgb.slice_indices == (middle,)
    np.testing.assert_array_equal(rgb.images[0].pixels, expected)


def test_without_a_window_padding_is_left_out_of_the_min_max_and_shown_black(stored: np.ndarray) -> None:
    files = series_files(stored, window=None)
    hu, padding = pydicom_volume(files)
    shown = decode_slices(zip_of(files), SliceOptions.parse("index:3"), DEFAULT_LIMITS).images[0].pixels
    plane, pad = hu[:, :, 3], padding[:, :, 3]
    low, high = plane[~pad].min(), plane[~pad].max()
    expected = np.where(pad, 0, np.round((plane - low) * (255.0 / (high - low))))
    np.testing.assert_array_equal(shown, expected.astype(np.uint8))


def test_the_series_and_a_nifti_of_the_same_voxels_give_the_same_slices_on_every_axis(
        files: dict[str, bytes]) -> None:
    hu, _ = pydicom_volume(files)
    # The series' own geometry (C.7.6.2.1.1) as a NIfTI affine: index (row, column, slice) -> LPS
    # mm, then x and y negated to RAS+. Rows run along the column cosines (0, 1, 0) by 0.8 mm,
    # columns along the row cosines (1, 0, 0) by 0.7 mm, slices 2.5 mm up from z = -40.
    affine = np.array([[0.0, -0.7, 0.0, 60.0],
                       [-0.8, 0.0, 0.0, 70.0],
                       [0.0, 0.0, 2.5, -40.0],
                       [0.0, 0.0, 0.0, 1.0]])
    nifti = nifti_bytes(hu.astype(np.float32), affine)
    canonical = nibabel.as_closest_canonical(nibabel.Nifti1Image.from_bytes(nifti)).get_fdata()
    for axis in ("axial", "coronal", "sagittal"):
        options = SliceOptions.parse("all", axis, "brain,subdural,bone")
        from_series = decode_slices(zip_of(files), options, DEFAULT_LIMITS)
        from_nifti = decode_slices(nifti, options, DEFAULT_LIMITS)
        assert from_series.slice_indices == from_nifti.slice_indices
        for index, (a, b) in enumerate(zip(from_series.images, from_nifti.images, strict=True)):
            np.testing.assert_array_equal(a.pixels, b.pixels)
            np.testing.assert_array_equal(a.pixels[..., 0], linear(canonical_slice(canonical, axis, index), 40, 80))


def test_every_k_and_mean_pick_their_slices(files: dict[str, bytes]) -> None:
    every = decode_slices(zip_of(files), SliceOptions.parse("every:3"), DEFAULT_LIMITS)
    assert every.slice_indices == (0, 3, 6)
    options = SliceOptions.parse("mean")
    pooled = decode_slices(zip_of(files), options, DEFAULT_LIMITS)
    assert options.pooled and pooled.slice_indices == tuple(range(SHAPE[2])) and len(pooled.images) == SHAPE[2]


def test_non_dicom_members_and_a_dicomdir_are_skipped_and_said(files: dict[str, bytes]) -> None:
    extra = dict(files)
    extra["README.txt"] = b"exported by a PACS"
    extra["__MACOSX/._IM0000.dcm"] = b"\x00\x05\x16\x07" + bytes(60)
    extra["DICOMDIR"] = dicomdir_bytes()
    result = decode_slices(zip_of(extra), SliceOptions.parse("all"), DEFAULT_LIMITS)
    assert len(result.images) == SHAPE[2]
    assert any("3 archive member(s) that are not DICOM images skipped" in note for note in result.notes)




def test_two_series_in_one_archive_are_refused_naming_both_uids(stored: np.ndarray) -> None:
    files = series_files(stored)
    files["other.dcm"] = ct_slice(stored[:, :, 0], (0.0, 0.0, 100.0), 1, series_uid="9.8.7")
    with pytest.raises(DecodeError) as caught:
        decode_slices(zip_of(files), SliceOptions(), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.DECODE_ERROR
    assert "2 series" in str(caught.value) and "9.8.7" in str(caught.value) and "1.2.3.4.5" in str(caught.value)


def test_two_files_at_one_position_are_refused(stored: np.ndarray) -> None:
    files = series_files(stored)
    files["again.dcm"] = ct_slice(stored[:, :, 0], (-60.0, -70.0, -40.0), 99)
    with pytest.raises(DecodeError) as caught:
        decode_slices(zip_of(files), SliceOptions(), DEFAULT_LIMITS)
    assert "same position" in str(caught.value)


def test_a_2000_slice_series_is_too_large_before_any_pixel_is_read() -> None:
    # Pixel Data one byte short: decoding any frame would be a decode error, so TOO_LARGE shows
    # that the limit is checked from the headers first.
    one = pydicom.dcmread(io.BytesIO(ct_slice(np.zeros((16, 16), np.int16), (0.0, 0.0, 0.0), 1)))
    one.PixelData = one.PixelData[:-2]
    buffer = io.BytesIO()
    one.save_as(buffer, enforce_file_format=True)
    member = buffer.getvalue()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for index in range(2000):
            zipped.writestr(f"IM{index:05d}.dcm", member)
    with pytest.raises(DecodeError) as caught:
        decode_slices(archive.getvalue(), SliceOptions(), DEFAULT_LIMITS)
    assert caught.value.kind == DecodeErrorKind.TOO_LARGE
    assert "(the archive holds 2000 files)" in str(caught.value)
    assert f"over max_volume_slices = {DEFAULT_LIMITS.max_volume_slices}" in str(caught.value)


def test_declared_member_sizes_and_counts_are_checked_before_extraction(files: dict[str, bytes]) -> None:
    limits = replace(DEFAULT_LIMITS, max_volume_bytes=4096)
    with pytest.raises(DecodeError) as caught:
        decode_slices(zip_of(files), SliceOptions(), limits)
    assert caught.value.kind == DecodeErrorKind.TOO_LARGE and "max_volume_bytes = 4096" in str(caught.value)
    with pytest.raises(DecodeError) as caught:
        decode_slices(zip_of(files), SliceOptions(), replace(DEFAULT_LIMITS, max_archive_members=3))
    assert caught.value.kind == DecodeErrorKind.TOO_LARGE
    assert "holds 9 files, over max_archive_members = 3" in str(caught.value)


def test_volume_kind_names_a_series_archive(files: dict[str, bytes]) -> None:
    assert volume_kind(zip_of(files)) == "DICOM series archive"
    assert volume_kind(tar_of(files, gzipped=True)) == "DICOM series archive"
    assert volume_kind(zip_of({"a.txt": b"hello"})) is None
    assert volume_kind(next(iter(files.values()))) is None  # one classic slice: 2-D


def test_a_sagittal_series_is_resliced_as_nibabel_reorients_its_voxels() -> None:
    """Slices acquired sagittally (rows along -z, columns along +y (LPS), stacked along +x): every
    axis equals nibabel's canonical layout of a NIfTI built from the files' own geometry."""
    stored = phantom((16, 12, 10), seed=7)
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    files = {f"S{9 - k}.dcm": ct_slice(stored[:, :, k], (-20.0 + 2.5 * k, -70.0, 60.0), 10 - k,
                                       orientation=sagittal, spacing=(0.9, 0.8), window=None)
             for k in range(10)}
    hu = np.stack([apply_modality_lut(stored[:, :, k], pydicom.dcmread(io.BytesIO(files[f"S{9 - k}.dcm"])))
                   for k in range(10)], axis=-1).astype(np.float32)
    # index (row, column, k) -> LPS: rows along (0, 0, -1) * 0.9, columns along (0, 1, 0) * 0.8,
    # k along (2.5, 0, 0) from (-20, -70, 60); RAS+ negates x and y.
    affine = np.array([[0.0, 0.0, -2.5, 20.0],
                       [0.0, -0.8, 0.0, 70.0],
                       [-0.9, 0.0, 0.0, 60.0],
                       [0.0, 0.0, 0.0, 1.0]])
    nifti = nifti_bytes(hu, affine)
    canonical = nibabel.as_closest_canonical(nibabel.Nifti1Image.from_bytes(nifti)).get_fdata()
    for axis in ("axial", "coronal", "sagittal"):
        options = SliceOptions.parse("all", axis, "-200/1800")
        from_series = decode_slices(zip_of(files), options, DEFAULT_LIMITS)
        from_nifti = decode_slices(nifti, options, DEFAULT_LIMITS)
        assert from_series.slice_count == from_nifti.slice_count == canonical.shape[
            {"sagittal": 0, "coronal": 1, "axial": 2}[axis]]
        for index, (a, b) in enumerate(zip(from_series.images, from_nifti.images, strict=True)):
            expected = linear(canonical_slice(canonical, axis, index), -200, 1800)
            np.testing.assert_array_equal(a.pixels, expected)
            np.testing.assert_array_equal(b.pixels, expected)


def test_without_positions_files_are_stacked_by_instance_number(stored: np.ndarray) -> None:
    files = {}
    for k in range(SHAPE[2]):
        ds = pydicom.dcmread(io.BytesIO(ct_slice(stored[:, :, k], (0.0, 0.0, 0.0), k + 1)))
        del ds.ImagePositionPatient
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        files[f"Z{SHAPE[2] - k:03d}.dcm"] = buffer.getvalue()  # names in reverse instance order
    result = decode_slices(zip_of(files), SliceOptions.parse("all", window="lung"), DEFAULT_LIMITS)
    assert any("Instance Number order" in note for note in result.notes)
    for k, decoded in enumerate(result.images):
        np.testing.assert_array_equal(decoded.pixels, linear(stored[:, :, k].astype(float) - 1024, -600, 1500))
    with pytest.raises(DecodeError) as caught:
        decode_slices(zip_of(files), SliceOptions.parse(axis="coronal"), DEFAULT_LIMITS)
    assert "no patient orientation" in str(caught.value)


@pytest.mark.parametrize("spacing", [(0.0, 0.0), (0.8, 0.0), (-0.8, 0.7)], ids=["zero", "one zero", "negative"])
@pytest.mark.parametrize("axis", ["axial", "coronal", "sagittal"])
def test_an_invalid_pixel_spacing_neither_fails_nor_turns_the_slices(stored: np.ndarray, spacing: tuple[float, float],
                                                                    axis: str) -> None:
    """Pixel Spacing is a distance (> 0): zero gave the affine a zero column (an internal error),
    a negative one reversed an axis. Read as absent, the slices are those of the valid series."""
    valid = decode_slices(zip_of(series_files(stored)), SliceOptions.parse("all", axis), DEFAULT_LIMITS)
    invalid = decode_slices(zip_of(series_files(stored, spacing=spacing)), SliceOptions.parse("all", axis),
                            DEFAULT_LIMITS)
    assert invalid.slice_indices == valid.slice_indices
    for got, expected in zip(invalid.images, valid.images, strict=True):
        np.testing.assert_array_equal(got.pixels, expected.pixels)
