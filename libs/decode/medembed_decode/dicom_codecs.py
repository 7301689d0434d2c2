"""Compressed DICOM pixel data: what the JPEG family's headers say, and decode failures named."""

from __future__ import annotations

from .pixels import library_message

# Start-of-frame markers (ITU-T T.81 B.1.1.3): SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# JPEG-LS start of frame (ITU-T T.87 C.2.2).
_SOF55 = 0xF7


def jpeg_precision(data: bytes) -> int:
    """Sample precision (bits) from the first start-of-frame segment of JPEG or JPEG-LS data;
    8 when no frame header is found in the markers before the scan."""
    position = 2 if data[:2] == b"\xff\xd8" else 0
    while position + 4 < len(data):
        if data[position] != 0xFF:
            return 8
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _SOF_MARKERS or marker == _SOF55:
            return data[position + 4] if position + 4 < len(data) else 8
        if marker == 0xDA:  # start of scan: no frame header before it
            return 8
        length = int.from_bytes(data[position + 2:position + 4], "big")
        position += 2 + length
    return 8


def describe_failure(exc: BaseException) -> str:
    """A decoder's exception as one line a person can read."""
    return library_message(exc)
