"""Everything the client accepts as an image, turned into the encoded bytes sent on the wire."""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image

# File suffixes taken for images when a folder is expanded (CLI, evaluator, benchmarks).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".dcm"})

ImageInput = str | PathLike[str] | bytes | bytearray | memoryview | Image.Image | np.ndarray


def array_to_png(array: np.ndarray) -> bytes:
    """uint8 gray/RGB/RGBA and 16-bit gray arrays become lossless PNG; others are refused."""
    gray16 = array.dtype == np.uint16 and array.ndim == 2
    bytes8 = array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)))
    if gray16 or bytes8:
        return pil_to_png(Image.fromarray(np.ascontiguousarray(array)))
    raise TypeError(f"array of dtype {array.dtype} and shape {array.shape} is not an image: use uint8 "
                    "HxW, HxWx3, HxWx4 or uint16 HxW")


def pil_to_png(image: Image.Image) -> bytes:
    """A PIL image, any mode PNG can hold, as lossless PNG bytes (OSError for a mode it cannot)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def to_bytes(image: ImageInput) -> bytes:
    """The encoded bytes sent for one image: a path's file contents, bytes as they are, a PIL image
    or a numpy array as PNG. Raises OSError for an unreadable path, TypeError for anything else."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, (bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, PathLike)):
        return Path(image).read_bytes()
    if isinstance(image, Image.Image):
        return pil_to_png(image)
    if isinstance(image, np.ndarray):
        return array_to_png(image)
    raise TypeError(f"cannot embed a {type(image).__name__}: pass a path, bytes, a PIL image or a numpy array")
