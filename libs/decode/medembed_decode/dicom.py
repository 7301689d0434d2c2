"""DICOM to 8-bit pixels as a viewer shows them, with pydicom's own LUT functions (PS3.3 C.11).

Header values are parsed here before pydicom sees them, so that an invalid window is ignored
(and said so) and an invalid rescale is a decode error naming the tag, never a crash.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pydicom
import simplejpeg
from pydicom.datadict import dictionary_description, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, apply_windowing, get_decoder, pixel_array
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit

from .limits import DecodeError, DecodeErrorKind, DecodeLimits, check_shape
from .pixels import library_message, to_uint8

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class _InvalidValue(ValueError):
    """A header value that is not what its tag needs; the message names the tag."""


def _decode_error(message: str) -> DecodeError:
    return DecodeError(DecodeErrorKind.DECODE_ERROR, message)


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword) or 0
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {dictionary_description(tag)}"


def decode_dicom(data: bytes, limits: DecodeLimits, notes: list[str]) -> np.ndarray:
    """uint8 [H, W] (monochrome) or [H, W, 3] (palette, RGB, YBR) of the first frame."""
    dataset = _read(data)
    rows, columns, frames = _unsigned(dataset, "Rows"), _unsigned(dataset, "Columns"), _frames(dataset, notes)
    if not rows or not columns:
        raise _decode_error("DICOM header lacks (0028,0010) Rows or (0028,0011) Columns")
    check_shape(columns, rows, frames, limits)
    photometric = _code_string(dataset, "PhotometricInterpretation")
    pixels = _first_frame(dataset, frames)
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        gray = _monochrome(pixels, dataset, notes)
        return 255 - gray if photometric == "MONOCHROME1" else gray
    if photometric == "PALETTE COLOR":
        return _palette(pixels, dataset)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:  # RGB; pydicom converts YBR_* to RGB
        stored = _unsigned(dataset, "BitsStored") or 8
        return pixels.astype(np.uint8) if stored <= 8 and pixels.max(initial=0) <= 255 else to_uint8(pixels, notes)
    raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                      f"DICOM (0028,0004) Photometric Interpretation {photometric or 'missing'!r} is not read")


def _read(data: bytes) -> Dataset:
    if data[128:132] == b"DICM":
        stream, force = data, False
    elif data[:4] == b"DICM":  # the 128-byte preamble stripped: put it back
        stream, force = bytes(128) + data, False
    else:  # a bare data set (sniffed by its first element): what pydicom reads with force=True
        stream, force = data, True
    try:
        dataset = pydicom.dcmread(io.BytesIO(stream), force=force)
    except Exception as exc:  # pydicom raises many types for malformed headers
        raise _decode_error(f"cannot read the DICOM header: {library_message(exc)}") from None
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise _decode_error("DICOM data set has no (7FE0,0010) Pixel Data: not an image")
    if "TransferSyntaxUID" not in dataset.file_meta:
        implicit, little = dataset.original_encoding
        dataset.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return dataset


def _first_frame(dataset: Dataset, frames: int) -> np.ndarray:
    syntax = dataset.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          f"DICOM transfer syntax {syntax} ({syntax.name}) is not read") from None
    if not decoder.is_available:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          f"DICOM transfer syntax {syntax.name} needs a decoder this server lacks: "
                          f"{'; '.join(decoder.missing_dependencies)}")
    try:
        if syntax == JPEGBaseline8Bit:  # JPEG data is checked like a JPEG file: missing scan lines are errors
            simplejpeg.decode_jpeg(get_frame(dataset.PixelData, 0, number_of_frames=frames), "RGB", strict=True)
        return pixel_array(dataset, index=0)
    except Exception as exc:  # truncated or corrupt pixel data, inconsistent pixel module
        raise _decode_error(f"DICOM pixel data ({syntax.name}) cannot be decoded: {library_message(exc)}") from None


def _monochrome(pixels: np.ndarray, dataset: Dataset, notes: list[str]) -> np.ndarray:
    """Modality LUT, then the VOI LUT, else the first valid window, else min-max."""
    values = _modality(pixels, dataset, notes)
    shown = _voi_lut(values, dataset, notes)
    if shown is not None:
        return shown
    window = _window(dataset, notes)
    if window is None:
        return to_uint8(values, notes)
    windowed = apply_windowing(np.asarray(values, dtype=np.float64), window)
    return np.clip(np.round(np.nan_to_num(windowed, nan=0.0)), 0, 255).astype(np.uint8)


def _modality(pixels: np.ndarray, dataset: Dataset, notes: list[str]) -> np.ndarray:
    if "ModalityLUTSequence" in dataset:
        try:
            return apply_modality_lut(pixels, dataset)
        except Exception as exc:
            raise _decode_error(f"{_tag('ModalityLUTSequence')} cannot be applied: {library_message(exc)}") from None
    try:
        slopes, intercepts = _decimals(dataset, "RescaleSlope"), _decimals(dataset, "RescaleIntercept")
    except _InvalidValue as invalid:
        raise _decode_error(str(invalid)) from None
    if slopes is None and intercepts is None:
        return pixels
    if slopes is None or intercepts is None:
        notes.append(f"only one of {_tag('RescaleSlope')} and {_tag('RescaleIntercept')} given: "
                     "the other taken as 1 / 0")
    slope, intercept = (slopes or [1.0])[0], (intercepts or [0.0])[0]
    if slope == 0:
        raise _decode_error(f"{_tag('RescaleSlope')} is 0: every pixel would have the same value")
    rescale = Dataset()
    rescale.RescaleSlope, rescale.RescaleIntercept = slope, intercept
    return apply_modality_lut(pixels, rescale)


def _voi_lut(values: np.ndarray, dataset: Dataset, notes: list[str]) -> np.ndarray | None:
    """The first item of the VOI LUT Sequence, its output range mapped to 0..255 (as pydicom's
    apply_voi_lut prefers it to a window)."""
    if "VOILUTSequence" not in dataset:
        return None
    try:
        sequence = dataset.VOILUTSequence
        if not sequence:
            return None
        top = 2 ** int(sequence[0].LUTDescriptor[2]) - 1
        shown = apply_voi(values, dataset, index=0).astype(np.float64) * (255.0 / top)
    except Exception as exc:
        notes.append(f"{_tag('VOILUTSequence')} ignored: {library_message(exc)}")
        return None
    return np.clip(np.round(shown), 0, 255).astype(np.uint8)


def _window(dataset: Dataset, notes: list[str]) -> Dataset | None:
    """The first window (as pydicom's index=0), as a data set whose output range is 0..255, or None
    when there is none or it is invalid (noted)."""
    if "WindowCenter" not in dataset and "WindowWidth" not in dataset:
        return None
    try:
        centers, widths = _decimals(dataset, "WindowCenter"), _decimals(dataset, "WindowWidth")
    except _InvalidValue as invalid:
        notes.append(f"window ignored: {invalid}")
        return None
    if not centers or not widths:
        notes.append(f"window ignored: {_tag('WindowCenter')} or {_tag('WindowWidth')} is empty or missing")
        return None
    function = _code_string(dataset, "VOILUTFunction") or "LINEAR"
    if function not in VOI_FUNCTIONS:
        notes.append(f"window ignored: {_tag('VOILUTFunction')} {function!r} is not one of {', '.join(VOI_FUNCTIONS)}")
        return None
    width = widths[0]
    if (width < 1) if function == "LINEAR" else (width <= 0):
        notes.append(f"window ignored: {_tag('WindowWidth')} {width:g} must be "
                     f"{'>= 1' if function == 'LINEAR' else '> 0'} for {function}")
        return None
    display = Dataset()
    display.PhotometricInterpretation, display.PixelRepresentation, display.BitsStored = "MONOCHROME2", 0, 8
    display.WindowCenter, display.WindowWidth, display.VOILUTFunction = centers[0], width, function
    return display


def _palette(pixels: np.ndarray, dataset: Dataset) -> np.ndarray:
    try:
        rgb = apply_color_lut(pixels, dataset)
    except Exception as exc:
        raise _decode_error(f"the PALETTE COLOR lookup tables cannot be applied: {library_message(exc)}") from None
    if rgb.dtype == np.uint8:
        return rgb
    top = float(np.iinfo(rgb.dtype).max)  # the tables' entries use their full bit depth
    return np.clip(np.round(rgb.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def _raw_text(dataset: Dataset, keyword: str) -> str | None:
    """An element's value as text without pydicom's conversion (which raises on bad values)."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in dataset:
        return None
    value = dataset.get_item(tag).value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(part) for part in value)
    return str(value)


def _decimals(dataset: Dataset, keyword: str) -> list[float] | None:
    """The values of a DS element; None when absent or empty. Raises _InvalidValue naming the tag."""
    text = _raw_text(dataset, keyword)
    parts = [part.strip(" \0") for part in (text or "").split("\\")]
    if not any(parts):
        return None
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise _InvalidValue(f"{_tag(keyword)} {text.strip(' ')!r} is not a number") from None
    if not all(math.isfinite(number) for number in numbers):
        raise _InvalidValue(f"{_tag(keyword)} {text.strip(' ')!r} is not a finite number")
    return numbers


def _unsigned(dataset: Dataset, keyword: str) -> int:
    """A US element such as Rows; 0 when missing, empty or multi-valued."""
    try:
        value = dataset.get(keyword)
    except Exception as exc:
        raise _decode_error(f"{_tag(keyword)} is unreadable: {library_message(exc)}") from None
    return value if isinstance(value, int) else 0


def _frames(dataset: Dataset, notes: list[str]) -> int:
    try:
        values = _decimals(dataset, "NumberOfFrames")
    except _InvalidValue as invalid:
        raise _decode_error(str(invalid)) from None
    if not values:
        return 1
    if values[0] == 0:  # as pydicom reads it
        notes.append(f"{_tag('NumberOfFrames')} 0 read as 1")
        return 1
    if values[0] < 0 or values[0] != int(values[0]):
        raise _decode_error(f"{_tag('NumberOfFrames')} {values[0]:g} is not a count of frames")
    return int(values[0])


def _code_string(dataset: Dataset, keyword: str) -> str:
    return (_raw_text(dataset, keyword) or "").split("\\")[0].strip(" \0").upper()
