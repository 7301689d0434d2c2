"""PNG, JPEG, TIFF, BMP and WEBP to 8-bit pixels, each sample read at the depth it is stored at.

Decoders: Pillow reads every header (size, EXIF) and the 8-bit images; imagecodecs (libpng) the
16-bit PNGs, which Pillow cuts to their high byte in every colour type but gray; tifffile (with
imagecodecs) the TIFFs deeper than 8 bits, signed or float, and every gray or RGB BigTIFF;
simplejpeg (libjpeg-turbo) the 8-bit JPEGs, with libjpeg's warnings as errors, since Pillow
silently fills scan lines missing from a file; imagecodecs the 12-bit, lossless and JPEG-LS ones.
"""

from __future__ import annotations

import io

import imagecodecs
import numpy as np
import simplejpeg
import tifffile
from PIL import BmpImagePlugin, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin

from .jpeg_family import FrameHeader, codec_missing, decode_plain, frame_header
from .limits import DecodeError, DecodeErrorKind, DecodeLimits, check_shape
from .pixels import drop_alpha, library_message, orient, to_uint8
from .sniff import is_bigtiff

# The plugin classes themselves, not Image.open: Image.open applies Pillow's own pixel limit, while
# the server's max_pixels (checked from the header) is the only cap and the one messages quote.
_PILLOW_CLASSES: dict[str, type[ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
}
_ORIENTATION_TAG = 0x0112
_PNG_GRAY_TYPES = (0, 4)  # IHDR colour types: gray, gray + alpha
_TIFF_SIGNED, _TIFF_FLOAT = 2, 3
_TIFF_MIN_IS_WHITE, _TIFF_MIN_IS_BLACK, _TIFF_RGB = 0, 1, 2
# Pillow modes of single-channel sources.
_GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def _failed(fmt: str, exc: BaseException) -> DecodeError:
    return DecodeError(DecodeErrorKind.DECODE_ERROR, f"cannot decode {fmt}: {library_message(exc)}")


def decode_raster(data: bytes, fmt: str, limits: DecodeLimits, notes: list[str]) -> np.ndarray:
    """uint8 [H, W] or [H, W, 3], EXIF orientation applied."""
    if fmt == "TIFF":
        bigtiff = is_bigtiff(data)
        deep = _deep_tiff(data, limits, notes, bigtiff)
        if deep is not None:
            return deep
        fmt = "BigTIFF" if bigtiff else fmt
    if fmt == "JPEG":
        frame = frame_header(data)
        if frame is not None and frame.needs_imagecodecs:
            return _jpeg_family(data, frame, limits, notes)
    try:
        header = _PILLOW_CLASSES["TIFF" if fmt == "BigTIFF" else fmt](io.BytesIO(data))
    except Exception as exc:  # Pillow raises many types for a malformed header
        raise _failed(fmt, exc) from None
    check_shape(header.width, header.height, 1, limits)
    try:
        if fmt == "PNG" and data[24] == 16:
            pixels = _png16(data, notes)
            orientation = _orientation(header, notes) if "exif" in header.info else 1
        elif fmt == "JPEG" and header.mode in ("L", "RGB"):
            pixels = _jpeg(data, "GRAY" if header.mode == "L" else "RGB")
            orientation = _orientation(header, notes)
        else:
            if fmt == "JPEG":
                _jpeg(data, "CMYK")  # only to check the data: Pillow converts CMYK and YCCK to RGB
            pixels = _pillow_pixels(header, notes)
            orientation = _orientation(header, notes)
    except DecodeError:
        raise
    except Exception as exc:
        raise _failed(fmt, exc) from None
    return orient(pixels, orientation)


def _jpeg_family(data: bytes, frame: FrameHeader, limits: DecodeLimits, notes: list[str]) -> np.ndarray:
    """A >8-bit, lossless or JPEG-LS file, by imagecodecs, its size checked from the frame header
    first; deep samples follow the min-max rule. No EXIF orientation: Pillow cannot open these."""
    check_shape(frame.width, frame.height, 1, limits)
    missing = codec_missing(frame)
    if missing:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          f"{frame.kind} needs a decoder this server lacks: {missing}")
    try:
        samples = decode_plain(data, frame)
    except Exception as exc:  # imagecodecs raises its codec's error types for damaged data
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"corrupt or truncated {frame.kind} data: {library_message(exc)}") from None
    return to_uint8(drop_alpha(samples, single_channel=frame.components < 3), notes)


def _png16(data: bytes, notes: list[str]) -> np.ndarray:
    colour_type = data[25]
    values = imagecodecs.png_decode(data)  # uint16, [H, W] or [H, W, samples], samples as stored
    return to_uint8(drop_alpha(values, single_channel=colour_type in _PNG_GRAY_TYPES), notes)


def _jpeg(data: bytes, colorspace: str) -> np.ndarray:
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace=colorspace, strict=True)
    except ValueError as exc:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"corrupt or truncated JPEG data: {library_message(exc)}") from None
    return pixels[..., 0] if colorspace == "GRAY" else pixels


def _pillow_pixels(image: ImageFile.ImageFile, notes: list[str]) -> np.ndarray:
    image.load()
    if image.mode in ("1", "L", "LA", "La"):
        return np.asarray(image.convert("L"))
    if image.mode in _GRAY_MODES:  # 16/32-bit integer or float gray: the min-max rule
        return to_uint8(np.asarray(image), notes)
    return np.asarray(image.convert("RGB"))  # RGB(A), palette, CMYK, YCbCr, LAB ...


def _orientation(image: ImageFile.ImageFile, notes: list[str]) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception as exc:
        notes.append(f"EXIF unreadable ({library_message(exc)}): orientation not applied")
        return 1
    return value if isinstance(value, int) else 1


def _deep_tiff(data: bytes, limits: DecodeLimits, notes: list[str], bigtiff: bool) -> np.ndarray | None:
    """The first page of a TIFF deeper than 8 bits (or signed, or float), or of a gray or RGB
    BigTIFF of any depth; None for the others (8-bit TIFF, BigTIFF palette ...: Pillow reads them)."""
    name = "BigTIFF" if bigtiff else "TIFF"
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            page = tiff.pages.first
            deep = page.bitspersample > 8 or page.sampleformat in (_TIFF_SIGNED, _TIFF_FLOAT)
            shown = int(page.photometric) in (_TIFF_MIN_IS_WHITE, _TIFF_MIN_IS_BLACK, _TIFF_RGB)
            if not deep and not (bigtiff and shown):
                return None
            check_shape(page.imagewidth, page.imagelength, 1, limits)
            photometric = int(page.photometric)
            if photometric not in (_TIFF_MIN_IS_WHITE, _TIFF_MIN_IS_BLACK, _TIFF_RGB):
                raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                                  f"{page.bitspersample}-bit {name} with PhotometricInterpretation "
                                  f"{page.photometric.name} is not read; send gray or RGB")
            values = _samples_last(page.asarray(), page.axes)
            orientation = int(page.tags.valueof(_ORIENTATION_TAG, 1))
    except DecodeError:
        raise
    except Exception as exc:  # tifffile and its codecs raise many types for malformed files
        raise _failed(name, exc) from None
    gray = to_uint8(drop_alpha(values, single_channel=photometric != _TIFF_RGB), notes)
    if photometric == _TIFF_MIN_IS_WHITE:
        gray = 255 - gray
    return orient(gray, orientation)


def _samples_last(values: np.ndarray, axes: str) -> np.ndarray:
    """[H, W] or [H, W, samples] from a page array with tifffile's axes (e.g. YX, YXS, SYX)."""
    if "S" in axes:
        values = np.moveaxis(values, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    extra = tuple(i for i, axis in enumerate(axes) if axis not in "YXS")
    if any(values.shape[i] != 1 for i in extra):
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"TIFF page of shape {values.shape} ({axes}) is not one image")
    return values.reshape([n for i, n in enumerate(values.shape) if i not in extra])
