"""Test images generated in memory: no image file is ever committed."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def random_image(seed: int, size: int = 48, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    pixels = rng.integers(0, 256, (size, size, channels), dtype=np.uint8)
    return Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels)


def png(seed: int, size: int = 48) -> bytes:
    return encode(random_image(seed, size))


def png_with_claimed_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is tiny (a decompression bomb shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # samples per pixel -> IHDR colour type


def png_bytes(samples: np.ndarray, filter_type: int = 0) -> bytes:
    """A PNG written from the PNG specification (not by the library under test): 8- or 16-bit
    samples [H, W] (gray), [H, W, 2] (gray + alpha), [H, W, 3] (RGB) or [H, W, 4] (RGBA). Rows get
    `filter_type` as their filter byte; 0 (None) keeps the data as given, others only make a
    decoder do more work for all-zero images (every filter of a zero row with zero neighbours is zero)."""
    if samples.dtype not in (np.uint8, np.uint16):
        raise ValueError("PNG samples are uint8 or uint16")
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    big_endian = samples.astype(">u2" if samples.dtype == np.uint16 else "u1").reshape(height, -1)
    rows = np.concatenate([np.full((height, 1), filter_type, dtype=np.uint8),
                           big_endian.view(np.uint8).reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, samples.dtype.itemsize * 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))


def tiff_bytes(array: np.ndarray, **options: object) -> bytes:
    """A TIFF written by tifffile (any dtype and sample layout: photometric, extrasamples, planarconfig ...)."""
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def jpeg_with_claimed_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its start-of-frame header claiming width x height; the scan data is unchanged."""
    offset = 2
    while offset < len(data):
        marker, length = data[offset + 1], struct.unpack(">H", data[offset + 2:offset + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            mutated = bytearray(data)
            mutated[offset + 5:offset + 9] = struct.pack(">HH", height, width)
            return bytes(mutated)
        offset += 2 + length
    raise ValueError("no start-of-frame marker")


def with_orientation(image: Image.Image, fmt: str, orientation: int) -> bytes:
    """The image saved with an EXIF Orientation tag (0x0112)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"lossless": True} if fmt == "WEBP" else {"quality": 95} if fmt == "JPEG" else {}
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, exif=exif.tobytes(), **options)
    return buffer.getvalue()
