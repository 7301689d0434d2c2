"""Tiny images for building dataset fixtures in tmp_path (no image file is committed)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def image_bytes(value: int = 128, *, size: int = 8, fmt: str = "PNG", mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), value if mode == "L" else (value, value, value)).save(buffer, format=fmt)
    return buffer.getvalue()


def write_image(path: Path, value: int = 128, *, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower(), "PNG")
    path.write_bytes(image_bytes(value, fmt=fmt, mode="RGB" if fmt == "JPEG" else "L"))
    return path
