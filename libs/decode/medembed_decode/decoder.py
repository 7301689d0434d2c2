"""Bytes to an 8-bit PIL image (mode L for single-channel sources, RGB for colour), with limits
checked before any pixel is decoded.

Rules (part of the vector identity; bump DECODE_RULES_VERSION when one changes):
- Formats: PNG, JPEG, TIFF, BMP, WEBP (by magic bytes) and DICOM (`DICM` at offset 128).
  Anything else is UNSUPPORTED_FORMAT.
- Limits: raw bytes <= max_image_bytes; width x height (x frames for DICOM) <= max_pixels, read
  from the header before decoding; both sides >= min_side.
- Integer images deeper than 8 bits (16-bit PNG/TIFF, I/F modes) are min-max scaled per image to
  0..255 (a constant image becomes 0): medical images rarely use the full 16-bit range, so a fixed
  /257 would leave them nearly black.
- DICOM: modality LUT (rescale slope/intercept), then the VOI LUT / window when the file has one,
  else min-max; MONOCHROME1 is inverted so that high values are bright; the first frame of a
  multi-frame file is used.
- Single-channel images come out in mode L (each model's preprocessing makes RGB of them as its
  upstream code does); palette, CMYK and YCbCr are converted to RGB; alpha is dropped (the colour
  channels are kept as stored).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from enum import Enum

import numpy as np
from PIL import Image

DECODE_RULES_VERSION = "2"


class DecodeErrorKind(Enum):
    DECODE_ERROR = "decode_error"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_LARGE = "too_large"
    TOO_SMALL = "too_small"


class DecodeError(Exception):
    def __init__(self, kind: DecodeErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class DecodeLimits:
    max_image_bytes: int
    max_pixels: int
    min_side: int


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)


def sniff_format(data: bytes) -> str | None:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[128:132] == b"DICM":
        return "DICOM"
    return None


def _check_size(width: int, height: int, frames: int, limits: DecodeLimits) -> None:
    if width * height * frames > limits.max_pixels:
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{width}x{height}{f'x{frames}' if frames > 1 else ''} pixels exceeds the cap "
                          f"of {limits.max_pixels}")
    if min(width, height) < limits.min_side:
        raise DecodeError(DecodeErrorKind.TOO_SMALL,
                          f"{width}x{height} image: both sides must be >= {limits.min_side} pixels")


def scale_to_uint8(pixels: np.ndarray) -> np.ndarray:
    values = pixels.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _array_to_image(pixels: np.ndarray) -> Image.Image:
    if pixels.dtype != np.uint8:
        pixels = scale_to_uint8(pixels)
    if pixels.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(pixels))  # uint8 2-D: mode L
    return Image.fromarray(np.ascontiguousarray(pixels[..., :3]))


def _pil_to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _array_to_image(np.asarray(image))
    if image.mode in ("1", "L", "LA"):
        return image.convert("L")
    return image.convert("RGB")


def _decode_pil(data: bytes, fmt: str, limits: DecodeLimits) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
            _check_size(image.width, image.height, 1, limits)
            image.load()
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(DecodeErrorKind.TOO_LARGE, str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"cannot decode {fmt}: {exc}") from None
    return _pil_to_8bit(image)


def _decode_dicom(data: bytes, limits: DecodeLimits) -> Image.Image:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    except Exception as exc:  # pydicom raises many types for malformed headers
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"cannot read DICOM header: {exc}") from None
    _check_size(columns, rows, frames, limits)
    try:
        pixels = dataset.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        syntax = getattr(dataset.file_meta, "TransferSyntaxUID", "unknown")
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          f"DICOM transfer syntax {syntax} cannot be decoded here: {exc}") from None
    except Exception as exc:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"cannot decode DICOM pixels: {exc}") from None
    if frames > 1:
        pixels = pixels[0]
    photometric = str(getattr(dataset, "PhotometricInterpretation", "MONOCHROME2"))
    if photometric.startswith("MONOCHROME"):
        values = apply_modality_lut(pixels, dataset)
        values = apply_voi_lut(values, dataset) if "WindowCenter" in dataset or "VOILUTSequence" in dataset else values
        gray = scale_to_uint8(np.asarray(values))
        if photometric == "MONOCHROME1":
            gray = 255 - gray
        return _array_to_image(gray)
    return _array_to_image(np.asarray(pixels))


def rules_identity() -> str:
    """The decode rules' version and the versions of the libraries that decode: one line of the
    vector identity, so a rule change or a decoder upgrade never serves a stale cached vector."""
    import PIL
    import pydicom

    return (f"decode-rules:{DECODE_RULES_VERSION} numpy:{np.__version__} pillow:{PIL.__version__} "
            f"pydicom:{pydicom.__version__}")


def decode_image(data: bytes, limits: DecodeLimits) -> Image.Image:
    """Decode one item to an 8-bit PIL image, mode L or RGB; raises DecodeError (kind + a human
    message) for anything that cannot be read under `limits`."""
    if not data:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, "empty item: no bytes")
    if len(data) > limits.max_image_bytes:
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{len(data)} bytes exceeds the per-image cap of {limits.max_image_bytes}")
    fmt = sniff_format(data)
    if fmt is None:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          "not a PNG, JPEG, TIFF, BMP, WEBP or DICOM file")
    if fmt == "DICOM":
        return _decode_dicom(data, limits)
    return _decode_pil(data, fmt, limits)
