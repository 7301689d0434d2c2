"""Bytes to an 8-bit image (mode L for single-channel sources, RGB for colour), limits checked first.

The rules (README "Decode rules"; part of the vector identity: bump DECODE_RULES_VERSION when one
changes, and name every decoder library in rules_identity):
- Formats by magic bytes: PNG, JPEG (12-bit, lossless and JPEG-LS included), TIFF (BigTIFF
  included), BMP, WEBP and DICOM (with or without the 128-byte preamble; "DICM" at byte 128 wins
  over whatever the preamble holds). Anything else is UNSUPPORTED_FORMAT, named when known
  (NIfTI volume, Git LFS pointer, ZIP / tar / gzip, JPEG 2000, GIF, PDF ...).
- Limits, from the header before any pixel is decoded: bytes <= max_image_bytes; width x height
  (x frames for DICOM) <= max_pixels; both sides >= min_side; long / short side <= max_aspect_ratio.
- Every sample is read at its stored depth. Anything that is not 8-bit (16-bit PNG and TIFF in
  every colour type, 32-bit integer or float TIFF, deep DICOM colour) is min-max scaled to 0..255
  over the finite values of the whole image, all channels together; NaN and -inf show black, +inf
  white; a constant image is black; an image with no finite value is DECODE_ERROR.
- Alpha is dropped; gray + alpha is gray. EXIF orientation is applied.
- JPEG: libjpeg's warnings (data missing or corrupt) are errors, not gray filled scan lines.
- DICOM (dicom.py): the first frame, with its Shared / Per-frame Functional Groups; modality LUT
  (Modality LUT Sequence, else Rescale Slope / Intercept); then the VOI LUT Sequence (over its
  entries' real range), else the first Window Center / Width (LINEAR, LINEAR_EXACT or SIGMOID)
  with the window's range mapped to 0..255 (not stretched again), else min-max over the pixels
  that are not Pixel Padding, whatever the stored depth; MONOCHROME1 inverted; padding black;
  PALETTE COLOR through its lookup tables; RGB / YBR as RGB. An invalid window is ignored
  (logged); an invalid rescale is DECODE_ERROR naming the tag.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from PIL import Image

from .dicom import decode_dicom
from .limits import DecodeError, DecodeErrorKind, DecodeLimits, check_bytes
from .pixels import Decoded, checked
from .raster import decode_raster
from .sniff import describe_unknown, sniff_format

DECODE_RULES_VERSION = "4"
_DECODER_LIBRARIES = ("numpy", "pillow", "pydicom", "imagecodecs", "tifffile", "simplejpeg")

# Decoder libraries log what they skip; the result (an error or a note) says what matters, so their
# records go to the application's handlers when it has some and are otherwise dropped, never
# printed raw on stderr by logging's last-resort handler.
for _name in ("tifffile", "imagecodecs", "PIL"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


def decode(data: bytes, limits: DecodeLimits) -> Decoded:
    """Decode one item: uint8 pixels [H, W] or [H, W, 3] plus the fallbacks taken (notes).

    Raises DecodeError (kind + a one-line message for a person) for anything that cannot be read
    under `limits`. Library warnings are not shown: what they meant ends as an error or a note.
    """
    if not data:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, "empty item: no bytes")
    check_bytes(len(data), limits)
    fmt = sniff_format(data)
    if fmt is None:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT, describe_unknown(data))
    notes: list[str] = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        pixels = decode_dicom(data, limits, notes) if fmt == "DICOM" else decode_raster(data, fmt, limits, notes)
    return Decoded(checked(pixels), tuple(notes))


def decode_image(data: bytes, limits: DecodeLimits) -> Image.Image:
    """Decode one item to an 8-bit PIL image, mode L or RGB; raises DecodeError."""
    return decode(data, limits).image()


def rules_identity() -> str:
    """The decode rules' version and the versions of the libraries that decode: one line of the
    vector identity, so a rule change or a decoder upgrade never serves a stale cached vector."""
    from importlib.metadata import version

    libraries = " ".join(f"{name}:{version(name)}" for name in _DECODER_LIBRARIES)
    return f"decode-rules:{DECODE_RULES_VERSION} {libraries}"
