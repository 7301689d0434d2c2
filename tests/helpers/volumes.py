"""Volumes built in memory for the volume tests: CT slices and series archives written with
pydicom, Enhanced multi-frame CT, NIfTI written with nibabel. Small (16 x 16 x N)."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import nibabel
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .dicom import with_file_meta

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _base(sop_class: str, stored: np.ndarray, series_uid: str) -> Dataset:
    ds = with_file_meta(sop_class)
    ds.Modality = "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4", series_uid
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = stored.astype("<i2").tobytes()
    return ds


def write(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ct_slice(stored: np.ndarray, position: tuple[float, float, float], instance: int, *,
             series_uid: str = "1.2.3.4.5", orientation: tuple[float, ...] = AXIAL,
             spacing: tuple[float, float] = (0.8, 0.7), slope: float = 1.0, intercept: float = -1024.0,
             window: tuple[float, float] | None = (40.0, 400.0), padding: int | None = -2000) -> bytes:
    """One classic CT slice: signed stored pixels [H, W] (int16), rescale, Pixel Padding Value."""
    ds = _base(CT_IMAGE, stored, series_uid)
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{v:g}" for v in position]
    ds.ImageOrientationPatient = [f"{v:g}" for v in orientation]
    ds.PixelSpacing = [f"{v:g}" for v in spacing]
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    if padding is not None:
        ds.PixelPaddingValue = padding
    return write(ds)


def phantom(shape: tuple[int, int, int], seed: int = 0, padding: int = -2000) -> np.ndarray:
    """Stored CT values int16 [rows, columns, slices] over -1024 .. 2000 (HU + 1024 with the
    default rescale), a different pattern per slice, padding in the corners of every slice."""
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 3000, size=shape).astype(np.int16)
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    corner = (rows - (shape[0] - 1) / 2) ** 2 + (columns - (shape[1] - 1) / 2) ** 2 > (min(shape[:2]) / 2) ** 2
    stored[corner] = padding
    return stored


def series_files(stored: np.ndarray, *, step: float = 2.5, seed: int = 1, **options: object) -> dict[str, bytes]:
    """The slices stored[:, :, k] at z = -40 + k * step, as files whose names are in a shuffled
    order (name order is not position order), instance numbers shuffled too."""
    count = stored.shape[2]
    order = np.random.default_rng(seed).permutation(count)
    files = {}
    for k in range(count):
        name = f"IM{int(order[k]):04d}.dcm"
        files[name] = ct_slice(stored[:, :, k], (-60.0, -70.0, -40.0 + k * step), int(order[k]) + 1,
                               **options)  # type: ignore[arg-type]
    return dict(sorted(files.items()))


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"series/{name}", data)
    return buffer.getvalue()


def tar_of(files: dict[str, bytes], gzipped: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzipped else "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def enhanced_ct(stored: np.ndarray, positions: list[tuple[float, float, float]], *, window: tuple[float, float]
                = (40.0, 400.0), slope: float = 1.0, intercept: float = -1024.0) -> bytes:
    """Enhanced CT: frames stored[f] ([frames, H, W]) at per-frame positions; orientation, pixel
    measures, rescale and window in the Shared Functional Groups."""
    ds = _base(ENHANCED_CT_IMAGE, stored[0], "1.2.3.4.9")
    ds.NumberOfFrames = stored.shape[0]
    ds.PixelData = stored.astype("<i2").tobytes()
    shared = Dataset()
    orientation, measures, transform, voi = Dataset(), Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [f"{v:g}" for v in AXIAL]
    measures.PixelSpacing, measures.SliceThickness = ["0.8", "0.7"], "2.5"
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = f"{slope:g}", f"{intercept:g}", "HU"
    voi.WindowCenter, voi.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PixelValueTransformationSequence = Sequence([transform])
    shared.FrameVOILUTSequence = Sequence([voi])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for position in positions:
        item, plane = Dataset(), Dataset()
        plane.ImagePositionPatient = [f"{v:g}" for v in position]
        item.PlanePositionSequence = Sequence([plane])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    return write(ds)


def nifti_bytes(data: np.ndarray, affine: np.ndarray, *, version: int = 1, gzipped: bool = False,
                **header: float) -> bytes:
    """A single-file NIfTI written by nibabel, header fields (cal_min, cal_max ...) set as given."""
    image_class = nibabel.Nifti2Image if version == 2 else nibabel.Nifti1Image
    image = image_class(data, affine)
    for key, value in header.items():
        image.header[key] = value
    raw = image.to_bytes()
    return gzip.compress(raw, mtime=0) if gzipped else raw


def linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1, LINEAR, output range 0..255, rounded."""
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    shown = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    shown = np.where(values <= low, 0, np.where(values > high, 255, shown))
    return np.clip(np.round(shown), 0, 255).astype(np.uint8)


def canonical_slice(canonical: np.ndarray, axis: str, index: int) -> np.ndarray:
    """A slice of nibabel's RAS+ canonical array, shown radiologically: axial and coronal with the
    patient's right on the image's left, sagittal with anterior on the left; superior / anterior up."""
    if axis == "axial":
        return canonical[::-1, ::-1, index].T
    if axis == "coronal":
        return canonical[::-1, index, ::-1].T
    return canonical[index, ::-1, ::-1].T
