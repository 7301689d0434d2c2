"""DICOM to 8-bit pixels as a viewer shows them, with pydicom's own LUT functions (PS3.3 C.11).

Two steps, so that a volume reader can reuse them frame by frame:
- dicom_frame(): one frame after the modality LUT, with the attributes that apply to that frame:
  the top level's, overridden by the Shared and then the frame's Per-frame Functional Groups
  (Enhanced and legacy-converted multi-frame objects, PS3.3 C.7.6.16), the file's own VOI (VOI
  LUT table or first window), and the Pixel Padding Value / Range Limit mask (PS3.3 C.7.5.1.1.2).
- render_frame(): the frame to uint8 by the file's VOI, a given window, or min-max over the pixels
  that are image data; MONOCHROME1 inverted; padding black.

Header values are parsed here before pydicom sees them, so that an invalid window is ignored
(and said so) and an invalid rescale is a decode error naming the tag, never a crash.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import pydicom
import simplejpeg
from pydicom.datadict import dictionary_description, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, apply_windowing, get_decoder, pixel_array
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MediaStorageDirectoryStorage,
)

from . import jpeg_family
from .limits import DecodeError, DecodeErrorKind, DecodeLimits, check_shape
from .pixels import library_message, to_uint8

jpeg_family.register()

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# The top-level attributes a frame's rendering reads; functional group macros override them.
_FRAME_KEYWORDS = ("PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                   "SamplesPerPixel", "PlanarConfiguration", "ModalityLUTSequence", "RescaleSlope",
                   "RescaleIntercept", "RescaleType", "VOILUTSequence", "WindowCenter", "WindowWidth",
                   "VOILUTFunction", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
                   "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
                   "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
                   "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
                   "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
                   "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID")
# Functional group macros (PS3.3 C.7.6.16.2) whose single item holds attributes of the frame, each
# with the attributes it replaces as a whole (a window in the macro drops a VOI LUT from elsewhere).
_FRAME_MACROS = {
    "PixelValueTransformationSequence": ("ModalityLUTSequence", "RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": ("VOILUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction"),
    "PixelMeasuresSequence": ("PixelSpacing",),
    "PlanePositionSequence": ("ImagePositionPatient",),
    "PlaneOrientationSequence": ("ImageOrientationPatient",),
}


@dataclass(frozen=True)
class VoiTransform:
    """A frame's own VOI (PS3.3 C.11.2): a VOI LUT table, else a window (`center`, `width`,
    `function` LINEAR / LINEAR_EXACT / SIGMOID).

    The table: `lut` [entries] as pydicom's apply_voi reads the first VOI LUT Sequence item (input
    value `lut_first` maps to entry 0), shown over 0..`lut_top` (its real range)."""

    center: float = 0.0
    width: float = 0.0
    function: str = "LINEAR"
    lut: np.ndarray | None = None
    lut_first: int = 0
    lut_top: int = 0


@dataclass(frozen=True)
class DicomFrame:
    """One frame of a DICOM data set after the modality LUT (per-frame functional groups applied).

    values: float64 [H, W] in modality units (HU for CT), or uint8 [H, W, 3] for colour.
    voi: the file's own VOI for this frame (VOI LUT table or first valid window), None if none.
    padding: bool [H, W], True where Pixel Padding Value / Range Limit marks no image data; None if none.
    monochrome1: minimum values show white (PS3.3 C.7.6.3.1.2).
    position: Image Position (Patient) of the frame, mm; orientation: Image Orientation (Patient),
    six direction cosines; spacing: Pixel Spacing (row, column) in mm. Each None when absent or invalid.
    """

    values: np.ndarray
    voi: VoiTransform | None
    padding: np.ndarray | None
    monochrome1: bool
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    spacing: tuple[float, float] | None


class _InvalidValue(ValueError):
    """A header value that is not what its tag needs; the message names the tag."""


def _decode_error(message: str) -> DecodeError:
    return DecodeError(DecodeErrorKind.DECODE_ERROR, message)


def _tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword) or 0
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {dictionary_description(tag)}"


def decode_dicom(data: bytes, limits: DecodeLimits, notes: list[str]) -> np.ndarray:
    """uint8 [H, W] (monochrome) or [H, W, 3] (palette, RGB, YBR) of the first frame, by its own VOI."""
    dataset = read_dataset(data, limits)
    _frames(dataset, notes)  # the note on a Number of Frames of 0
    return render_frame(dicom_frame(dataset, 0, notes), None, notes)


def read_dataset(data: bytes, limits: DecodeLimits) -> Dataset:
    """The data set of a DICOM file (preamble or not, or a bare data set), its image header checked:
    Rows and Columns present, width x height x frames within `limits`.

    Raises DecodeError: DECODE_ERROR for an unreadable header or an image object without its pixel
    data, UNSUPPORTED_FORMAT for a DICOM object of a kind without pixel data (a DICOMDIR, a
    structured report ... named), TOO_LARGE / TOO_SMALL from the limits.
    """
    dataset = _read(data)
    rows, columns, frames = _unsigned(dataset, "Rows"), _unsigned(dataset, "Columns"), _frames(dataset, [])
    if not rows or not columns:
        raise _decode_error("DICOM header lacks (0028,0010) Rows or (0028,0011) Columns")
    check_shape(columns, rows, frames, limits)
    return dataset


def frame_count(dataset: Dataset) -> int:
    """Number of Frames (1 when absent or 0, as pydicom reads it); DecodeError when not a count."""
    return _frames(dataset, [])


def dicom_frame(dataset: Dataset, index: int, notes: list[str]) -> DicomFrame:
    """Frame `index` (0-based) of a data set from read_dataset(), after the modality LUT, with the
    attributes of its functional groups; fallbacks taken are appended to `notes`.

    Raises DecodeError: DECODE_ERROR for damaged pixel data, an invalid rescale, or an index
    outside 0..frames-1; UNSUPPORTED_FORMAT for a transfer syntax or photometric interpretation
    with no decoder here (the message names the missing decoder).
    """
    frames = frame_count(dataset)
    if not 0 <= index < frames:
        raise _decode_error(f"DICOM frame {index} does not exist: the data set has {frames} frame(s)")
    view = _frame_view(dataset, index)
    photometric = _code_string(view, "PhotometricInterpretation")
    pixels = _frame_pixels(dataset, index, frames)
    geometry = _geometry(view, notes)
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        if pixels.ndim != 2:
            raise _decode_error(f"{photometric} pixel data of shape {pixels.shape} is not one gray frame")
        padding = _padding(pixels, dataset, notes)
        values = np.asarray(_modality(pixels, view, notes), dtype=np.float64)
        return DicomFrame(values, _voi(view, notes), padding, photometric == "MONOCHROME1", *geometry)
    if photometric == "PALETTE COLOR":
        return DicomFrame(_palette(pixels, view), None, None, False, *geometry)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:  # RGB; pydicom converts YBR_* to RGB
        stored = _unsigned(view, "BitsStored") or 8
        rgb = pixels.astype(np.uint8) if stored <= 8 and pixels.max(initial=0) <= 255 else to_uint8(pixels, notes)
        return DicomFrame(rgb, None, None, False, *geometry)
    raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                      f"DICOM (0028,0004) Photometric Interpretation {photometric or 'missing'!r} is not read")


def render_frame(frame: DicomFrame, window: tuple[float, float] | None, notes: list[str]) -> np.ndarray:
    """uint8 [H, W] (or [H, W, 3] colour, returned as it is) of one frame.

    window None: the frame's own VOI (VOI LUT table over its real range, else its window mapped to
    0..255, not stretched again), else min-max over the pixels that are not padding.
    window (center, width): DICOM PS3.3 C.11.2.1.2.1 LINEAR window to 0..255 (width >= 1, else
    ValueError). MONOCHROME1 is inverted, then padding is shown black (the background).
    """
    if frame.values.ndim == 3:
        if window is not None:
            notes.append("window ignored: a colour DICOM image is shown as stored")
        return frame.values
    if window is not None:
        center, width = window
        if not width >= 1:
            raise ValueError(f"window width {width:g} must be >= 1 for LINEAR")
        gray = _windowed(frame.values, VoiTransform(center, width, "LINEAR"))
    elif frame.voi is None:
        gray = _min_max(frame.values, frame.padding, notes)
    elif frame.voi.lut is not None:
        gray = _lut(frame.values, frame.voi)
    else:
        gray = _windowed(frame.values, frame.voi)
    if frame.monochrome1:
        gray = 255 - gray
    if frame.padding is not None:
        gray = np.where(frame.padding, np.uint8(0), gray)
    return gray


def _read(data: bytes) -> Dataset:
    if data[128:132] == b"DICM":  # whatever the preamble holds (a TIFF header in dual-personality files)
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
        raise _not_an_image(dataset)
    if "TransferSyntaxUID" not in dataset.file_meta:
        implicit, little = dataset.original_encoding
        dataset.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return dataset


def _not_an_image(dataset: Dataset) -> DecodeError:
    """The error for a DICOM object without pixel data, naming what it is: UNSUPPORTED_FORMAT for
    an object of a kind that holds none (a DICOMDIR, a report, a plan ...), DECODE_ERROR for an
    image object (its SOP class an image storage, or Rows present) whose pixels are missing."""
    try:
        sop_class = str(dataset.file_meta.get("MediaStorageSOPClassUID", "") or dataset.get("SOPClassUID", "") or "")
    except Exception:  # a damaged element (pydicom raises e.g. NotImplementedError for an unknown VR): unnamed
        sop_class = ""
    if sop_class == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in dataset:
        return DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                           "a DICOMDIR (the index of a DICOM folder or disc), not an image: "
                           "send the image files it lists instead")
    if not len(dataset) and not len(dataset.file_meta):
        return DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                           "an empty DICOM file (the DICM marker and no data elements): not an image")
    name = UID(sop_class).name if sop_class else ""
    what = f"DICOM {name} object" if name and name != sop_class else "DICOM data set"
    if "Image" in name or "Rows" in dataset:
        return _decode_error(f"{what} has no (7FE0,0010) Pixel Data: the file is truncated, or its pixels "
                             "were removed")
    return DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT, f"{what} has no (7FE0,0010) Pixel Data: not an image")


def _frame_view(dataset: Dataset, index: int) -> Dataset:
    """The attributes that apply to frame `index`: the top level's, overridden by those in the
    Shared Functional Groups Sequence, overridden by the frame's Per-frame Functional Groups item
    (PS3.3 C.7.6.16: a macro in the per-frame item wins over the same macro shared). A macro
    replaces what it stands for as a whole: a Frame VOI LUT with a window drops a VOI LUT Sequence
    from the level below, a Pixel Value Transformation a Modality LUT Sequence."""
    if "SharedFunctionalGroupsSequence" not in dataset and "PerFrameFunctionalGroupsSequence" not in dataset:
        return dataset
    view = Dataset()
    view.file_meta = dataset.file_meta
    view.set_original_encoding(*dataset.original_encoding, dataset.original_character_set)
    for keyword in _FRAME_KEYWORDS:
        tag = tag_for_keyword(keyword)
        if tag in dataset:
            view[tag] = dataset.get_item(tag)
    for group in (_first_item(dataset, "SharedFunctionalGroupsSequence"),
                  _item(dataset, "PerFrameFunctionalGroupsSequence", index)):
        for macro, replaced in _FRAME_MACROS.items():
            item = _first_item(group, macro) if group is not None else None
            if item is None:
                continue
            for keyword in replaced:
                view.pop(tag_for_keyword(keyword), None)
            for tag in tuple(item.keys()):  # tags: iterating a Dataset converts its elements
                view[tag] = item.get_item(tag)
    return view


def _item(dataset: Dataset, keyword: str, index: int) -> Dataset | None:
    try:
        sequence = dataset.get(keyword)
        return sequence[index] if sequence is not None and index < len(sequence) else None
    except Exception as exc:  # a sequence pydicom cannot parse
        raise _decode_error(f"{_tag(keyword)} is unreadable: {library_message(exc)}") from None


def _first_item(dataset: Dataset, keyword: str) -> Dataset | None:
    return _item(dataset, keyword, 0)


def _frame_pixels(dataset: Dataset, index: int, frames: int) -> np.ndarray:
    syntax = dataset.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          f"DICOM transfer syntax {syntax} ({syntax.name}) is not read: no decoder for it here; "
                          "convert the file to an uncompressed or JPEG syntax (e.g. dcmtk's dcmconv, "
                          "gdcmconv --raw) and send that") from None
    if not decoder.is_available:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          f"DICOM transfer syntax {syntax.name} needs a decoder this server lacks: "
                          f"{'; '.join(decoder.missing_dependencies)}")
    try:
        if syntax == JPEGBaseline8Bit:  # JPEG data is checked like a JPEG file: missing scan lines are errors
            frame = get_frame(dataset.PixelData, index, number_of_frames=frames)
            header = jpeg_family.frame_header(frame)
            if header is None or not header.needs_imagecodecs:
                simplejpeg.decode_jpeg(frame, "RGB", strict=True)
        return pixel_array(dataset, index=index)
    except Exception as exc:  # truncated or corrupt pixel data, inconsistent pixel module
        raise _decode_error(f"DICOM pixel data ({syntax.name}) is truncated or damaged: "
                            f"{_plugin_failures(exc)}") from None


_ALL_PLUGINS_FAILED = "Unable to decode as exceptions were raised by all available plugins:"


def _plugin_failures(exc: BaseException) -> str:
    """pydicom's error, with "every plugin failed" reduced to what each decoder said."""
    text = library_message(exc)
    return "no decoder reads it (" + text.removeprefix(_ALL_PLUGINS_FAILED).strip() + ")" \
        if text.startswith(_ALL_PLUGINS_FAILED) else text


def _geometry(view: Dataset, notes: list[str]) -> tuple[tuple[float, ...] | None, ...]:
    """(position, orientation, spacing), each None when absent; invalid ones noted and None."""
    found: list[tuple[float, ...] | None] = []
    for keyword, count in (("ImagePositionPatient", 3), ("ImageOrientationPatient", 6), ("PixelSpacing", 2)):
        try:
            values = _decimals(view, keyword)
        except _InvalidValue as invalid:
            notes.append(f"ignored: {invalid}")
            values = None
        if values is not None and len(values) != count:
            notes.append(f"ignored: {_tag(keyword)} has {len(values)} values, not {count}")
            values = None
        found.append(tuple(values) if values is not None else None)
    return tuple(found)


def _padding(pixels: np.ndarray, dataset: Dataset, notes: list[str]) -> np.ndarray | None:
    """True where the stored value is Pixel Padding Value, or between it and Pixel Padding Range
    Limit inclusive (PS3.3 C.7.5.1.1.2); None when no pixel is padding."""
    value = _stored_value(dataset, "PixelPaddingValue", notes)
    if value is None:
        return None
    limit = _stored_value(dataset, "PixelPaddingRangeLimit", notes)
    low, high = (value, value) if limit is None else (min(value, limit), max(value, limit))
    mask = (pixels >= low) & (pixels <= high)
    return mask if mask.any() else None


def _stored_value(dataset: Dataset, keyword: str, notes: list[str]) -> int | None:
    """A US-or-SS element (Pixel Padding Value ...) as a stored pixel value, two's complement for
    signed pixel data whatever VR it was written with; None (noted when unreadable) otherwise."""
    try:
        value = dataset.get(keyword)
        if isinstance(value, bytes) and len(value) == 2:  # VR UN or OB: the value as little-endian bytes
            value = int.from_bytes(value, "big" if not dataset.original_encoding[1] else "little")
    except Exception as exc:
        notes.append(f"{_tag(keyword)} ignored: {library_message(exc)}")
        return None
    if value is None or value == "" or isinstance(value, (list, MultiValue)):
        return None
    if not isinstance(value, int):
        notes.append(f"{_tag(keyword)} ignored: {value!r} is not a pixel value")
        return None
    allocated = _unsigned(dataset, "BitsAllocated") or 16
    if _unsigned(dataset, "PixelRepresentation") == 1 and value >= 2 ** (allocated - 1):
        value -= 2**allocated
    return value


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


def _voi(dataset: Dataset, notes: list[str]) -> VoiTransform | None:
    """The first VOI LUT Sequence item (as pydicom's apply_voi_lut prefers it), else the first valid
    window, else None."""
    table = _voi_table(dataset, notes)
    return table if table is not None else _window(dataset, notes)


def _voi_table(dataset: Dataset, notes: list[str]) -> VoiTransform | None:
    """The first VOI LUT item and the top of its output range. A table whose entries never reach
    the range its LUT Descriptor declares (16 bits declared, 12-bit entries: a known device quirk)
    is shown over the range its entries use, as viewers do, and the fallback is noted."""
    if "VOILUTSequence" not in dataset:
        return None
    try:
        sequence = dataset.VOILUTSequence
        if not sequence:
            return None
        item = sequence[0]
        entries, first, declared = (int(value) for value in item.LUTDescriptor)
        entries = entries or 2**16
        table = apply_voi(np.arange(first, first + entries, dtype=np.int64), dataset, index=0)
    except Exception as exc:
        notes.append(f"{_tag('VOILUTSequence')} ignored: {library_message(exc)}")
        return None
    used = max(int(table.max(initial=0)).bit_length(), 1)
    if used < declared:
        notes.append(f"{_tag('VOILUTSequence')}: its LUT Descriptor declares {declared}-bit entries, the entries "
                     f"are {used}-bit (largest {int(table.max())}): shown over 0..{2**used - 1}")
        declared = used
    return VoiTransform(lut=table, lut_first=first, lut_top=2**declared - 1)


def _window(dataset: Dataset, notes: list[str]) -> VoiTransform | None:
    """The first window (as pydicom's index=0), or None when there is none or it is invalid (noted)."""
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
    return VoiTransform(centers[0], width, function)


def _windowed(values: np.ndarray, voi: VoiTransform) -> np.ndarray:
    """pydicom's apply_windowing with the output range 0..255 (the window's range is the display's)."""
    display = Dataset()
    display.PhotometricInterpretation, display.PixelRepresentation, display.BitsStored = "MONOCHROME2", 0, 8
    display.WindowCenter, display.WindowWidth, display.VOILUTFunction = voi.center, voi.width, voi.function
    windowed = apply_windowing(np.asarray(values, dtype=np.float64), display)
    return np.clip(np.round(np.nan_to_num(windowed, nan=0.0)), 0, 255).astype(np.uint8)


def _lut(values: np.ndarray, voi: VoiTransform) -> np.ndarray:
    """The VOI LUT applied as pydicom's apply_voi does (inputs below the first mapped value take
    entry 0, above the last the last entry), its output range 0..lut_top mapped to 0..255."""
    assert voi.lut is not None
    finite = np.nan_to_num(np.round(values), nan=voi.lut_first, posinf=voi.lut_first + len(voi.lut),
                           neginf=voi.lut_first)
    indices = np.clip(finite - voi.lut_first, 0, len(voi.lut) - 1).astype(np.int64)
    shown = voi.lut[indices].astype(np.float64) * 255.0 / max(voi.lut_top, 1)
    return np.clip(np.round(shown), 0, 255).astype(np.uint8)


def _min_max(values: np.ndarray, padding: np.ndarray | None, notes: list[str]) -> np.ndarray:
    """The min-max rule over the pixels that are image data (padding excluded)."""
    if padding is None:
        return to_uint8(values, notes)
    if padding.all():
        notes.append("every pixel is Pixel Padding: the image is shown black")
        return np.zeros(values.shape, dtype=np.uint8)
    return to_uint8(values, notes, valid=~padding)


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
