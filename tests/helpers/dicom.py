"""DICOM files built in memory with pydicom (explicit VR little endian unless encapsulated)."""

from __future__ import annotations

import io

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid


def with_file_meta(sop_class: str) -> Dataset:
    """An empty data set with its file meta group: `sop_class`, a new instance UID, explicit VR
    little endian; SOP Class and Instance UIDs copied into the data set."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    return ds


def dicom_dataset(pixels: np.ndarray, photometric: str = "MONOCHROME2", *, bits_stored: int = 16,
                  signed: bool = False, frames: int = 1) -> Dataset:
    """Native pixel data: pixels [H, W] (or [frames, H, W]) gray, or [H, W, 3] colour (RGB)."""
    ds = with_file_meta(SecondaryCaptureImageStorage)
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


def dicomdir_bytes() -> bytes:
    """A DICOMDIR as pydicom writes one: a file meta group with the Media Storage Directory Storage
    SOP class (1.2.840.10008.1.3.10), a File-set ID and an empty Directory Record Sequence."""
    ds = with_file_meta("1.2.840.10008.1.3.10")
    del ds.SOPClassUID, ds.SOPInstanceUID  # a DICOMDIR names its class in the file meta only
    ds.FileSetID = "EXPORT"
    ds.DirectoryRecordSequence = []
    return to_bytes(ds)


def pydicom_rendering(ds: Dataset, frame: np.ndarray) -> np.ndarray:
    """The README's decode rules with pydicom's functions, on a frame pydicom decoded: modality LUT,
    VOI LUT (its declared range) or first window (from apply_windowing's output range) to 0..255,
    else min-max; MONOCHROME1 inverted; palette through apply_color_lut; deep colour min-max."""
    photometric = ds.PhotometricInterpretation
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        values = apply_modality_lut(frame, ds)
        if ds.get("VOILUTSequence"):
            top = 2 ** ds.VOILUTSequence[0].LUTDescriptor[2] - 1
            shown = apply_voi_lut(values, ds).astype(np.float64) * 255 / top
        elif "WindowCenter" in ds:
            # apply_windowing's output range: the stored range, through the rescale when there is one
            low, high = ((0, 2**ds.BitsStored - 1) if ds.PixelRepresentation == 0
                         else (-(2 ** (ds.BitsStored - 1)), 2 ** (ds.BitsStored - 1) - 1))
            if "RescaleSlope" in ds and "RescaleIntercept" in ds:
                low, high = (low * ds.RescaleSlope + ds.RescaleIntercept, high * ds.RescaleSlope + ds.RescaleIntercept)
            shown = (apply_voi_lut(values, ds).astype(np.float64) - low) * 255 / (high - low)
        else:
            values = values.astype(np.float64)
            spread = values.max() - values.min()
            shown = (values - values.min()) * 255 / spread if spread else np.zeros(values.shape)
        gray = np.clip(np.round(shown), 0, 255).astype(np.uint8)
        return 255 - gray if photometric == "MONOCHROME1" else gray
    rgb = apply_color_lut(frame, ds) if photometric == "PALETTE COLOR" else frame
    if rgb.dtype == np.uint8:
        return rgb
    if photometric == "PALETTE COLOR":  # the tables' entries at their full bit depth
        return np.round(rgb * 255.0 / np.iinfo(rgb.dtype).max).astype(np.uint8)
    values = rgb.astype(np.float64)
    return np.round((values - values.min()) * 255 / (values.max() - values.min())).astype(np.uint8)


def encapsulated_dataset(frame: bytes, syntax: str, shape: tuple[int, ...], *, bits_stored: int,
                         photometric: str = "MONOCHROME2", signed: bool = False) -> Dataset:
    """One compressed frame (`frame`, already encoded) of `shape` [H, W] or [H, W, 3] under `syntax`."""
    colour = len(shape) == 3
    ds = dicom_dataset(np.zeros(shape, np.uint8 if bits_stored <= 8 else np.uint16),
                       "RGB" if colour else "MONOCHROME2", bits_stored=bits_stored, signed=signed)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PhotometricInterpretation = photometric
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    return ds
