"""DICOM files built in memory with pydicom (explicit VR little endian unless encapsulated)."""

from __future__ import annotations

import io

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid


def dicom_dataset(pixels: np.ndarray, photometric: str = "MONOCHROME2", *, bits_stored: int = 16,
                  signed: bool = False, frames: int = 1) -> Dataset:
    """Native pixel data: pixels [H, W] (or [frames, H, W]) gray, or [H, W, 3] colour (RGB)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    colour = photometric in ("RGB", "YBR_FULL")
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    allocated = 8 if bits_stored <= 8 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    dtype = {(8, False): "<u1", (16, False): "<u2", (16, True): "<i2"}[(allocated, signed)]
    ds.PixelData = pixels.astype(dtype).tobytes()
    return ds


def dicom_bytes(pixels: np.ndarray, photometric: str = "MONOCHROME2", slope: float = 1.0, intercept: float = 0.0,
                window: tuple[float, float] | None = None, **options: object) -> bytes:
    ds = dicom_dataset(pixels, photometric, **options)  # type: ignore[arg-type]
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    return to_bytes(ds)


def with_raw(ds: Dataset, **values: bytes) -> Dataset:
    """Elements set to raw value bytes, exactly as written (invalid ones included: "abc" in a DS)."""
    for keyword, value in values.items():
        tag = Tag(tag_for_keyword(keyword))
        value = value + b" " if len(value) % 2 else value
        vr = {"VOILUTFunction": "CS"}.get(keyword, "DS")
        ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    return ds


def palette_dataset(indices: np.ndarray, red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> Dataset:
    """PALETTE COLOR: 8-bit indices, 256-entry lookup tables of 16-bit values."""
    ds = dicom_dataset(indices, "PALETTE COLOR", bits_stored=8)
    for colour, table in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.astype("<u2").tobytes())
    return ds


def jpeg_dataset(jpeg: bytes, rows: int, columns: int) -> Dataset:
    """JPEG Baseline colour (YBR_FULL_422): `jpeg` encapsulated as the one frame."""
    ds = dicom_dataset(np.zeros((rows, columns, 3), np.uint8), "RGB", bits_stored=8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate([jpeg])
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
