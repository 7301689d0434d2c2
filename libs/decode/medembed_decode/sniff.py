"""Which format an item is, from its first bytes (never from a file name)."""

from __future__ import annotations

import struct

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)
# Formats people send that we do not read, named in the error so the next step is clear.
_KNOWN_OTHERS = (
    (b"GIF8", "GIF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000 codestream"),
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "ZIP"),
    (b"%PDF", "PDF"),
)
# Groups a bare DICOM data set (no preamble, no "DICM") starts with: file meta or identifying elements.
_BARE_DICOM_GROUPS = (0x0002, 0x0008)
_EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split())


def sniff_format(data: bytes) -> str | None:
    """PNG, JPEG, TIFF, BMP, WEBP or DICOM by magic bytes; None for anything else.

    DICOM: "DICM" after the 128-byte preamble, "DICM" at offset 0 (preamble stripped), or a bare
    data set whose first element is in group 0002 or 0008.
    """
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[128:132] == b"DICM" or data[:4] == b"DICM" or _bare_dicom(data):
        return "DICOM"
    return None


def _bare_dicom(data: bytes) -> bool:
    if len(data) < 12:
        return False
    group, _element = struct.unpack_from("<HH", data)
    if group not in _BARE_DICOM_GROUPS:
        return False
    if data[4:6] in _EXPLICIT_VRS:
        return True
    (implicit_length,) = struct.unpack_from("<I", data, 4)
    return implicit_length <= len(data) - 8


def describe_unknown(data: bytes) -> str:
    """The unsupported-format message: what the bytes look like, and what is read."""
    for magic, name in _KNOWN_OTHERS:
        if data.startswith(magic):
            return f"{name} is not read; send PNG, JPEG, TIFF, BMP, WEBP or DICOM"
    shown = data[:8].hex(" ")
    return f"not a PNG, JPEG, TIFF, BMP, WEBP or DICOM file (first bytes: {shown})"
