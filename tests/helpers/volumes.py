"""Volumes built in memory: NIfTI with nibabel, CT series (one zip of DICOM files) with pydicom."""

from __future__ import annotations

import io
import random
import zipfile

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from .dicom import to_bytes


def nifti_bytes(volume: np.ndarray, affine: np.ndarray | None = None, *, gzipped: bool = True) -> bytes:
    """A NIfTI-1 file of `volume` [I, J, K] (nibabel's array order) with `affine` (identity: RAS, 1 mm)."""
    image = nib.Nifti1Image(volume, np.eye(4) if affine is None else affine)
    data = image.to_bytes()
    if not gzipped:
        return data
    import gzip

    return gzip.compress(data, mtime=0)


def ct_series_datasets(hu: np.ndarray, *, spacing: float = 2.5, intercept: float = -1024.0,
                       padding: int | None = None) -> list[Dataset]:
    """One axial CT series of `hu` [slices, rows, columns] (slice 0 lowest, feet first), stored as
    signed 16-bit with RescaleIntercept `intercept`; `padding` sets Pixel Padding Value (stored)."""
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for index, plane in enumerate(hu):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.InstanceNumber = index + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, index * spacing]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = spacing
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, intercept
        if padding is not None:
            ds.PixelPaddingValue = padding
        ds.PixelData = np.round(plane - intercept).astype("<i2").tobytes()
        datasets.append(ds)
    return datasets


def series_zip(datasets: list[Dataset], *, seed: int = 0) -> bytes:
    """The series' files in a zip, in shuffled order under names that do not sort by position."""
    order = list(range(len(datasets)))
    random.Random(seed).shuffle(order)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, index in enumerate(order):
            archive.writestr(f"IM{name:04d}", to_bytes(datasets[index]))
    return buffer.getvalue()
