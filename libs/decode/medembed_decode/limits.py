"""Decode limits, checked before any pixel is decoded, and the errors a decode ends in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DecodeErrorKind(Enum):
    """Why an item could not be decoded; the encoder maps each kind to its item code (items.py)."""

    DECODE_ERROR = "decode_error"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_LARGE = "too_large"
    TOO_SMALL = "too_small"


class DecodeError(Exception):
    """An item that cannot be decoded under the limits: `kind` plus a one-line message for a person."""

    def __init__(self, kind: DecodeErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[type, tuple[DecodeErrorKind, str]]:
        # Raised in decode worker processes and re-raised in the server: pickle both fields.
        return type(self), (self.kind, str(self))


@dataclass(frozen=True)
class DecodeLimits:
    """The caps one image must fit. The encoder's settings of the same names set them."""

    max_image_bytes: int = 32 * 2**20
    max_pixels: int = 80_000_000
    """width x height (x frames for DICOM), read from the header."""
    min_side: int = 8
    max_aspect_ratio: float = 50.0
    """long side / short side: a model's resize of the short side to its input size makes the long
    side (and the cost) grow with it, so an 8 x 80000 strip would become 224 x 2,240,000."""
    max_volume_bytes: int = 2**30
    """one volume item (NIfTI, DICOM series archive, multi-frame DICOM read as a volume), and what
    it inflates to: gzip output and an archive's declared member sizes together (decompression bombs)."""
    max_volume_voxels: int = 2**27
    """voxels of the 3-D volume read (a 512 x 512 x 512 CT), from the headers."""
    max_volume_slices: int = 1000
    """2-D images a volume stacks: DICOM files or frames, the NIfTI's third dimension."""
    max_archive_members: int = 5000
    """files in a DICOM series archive, counted before any is extracted."""


DEFAULT_LIMITS = DecodeLimits()


def check_bytes(size: int, limits: DecodeLimits) -> None:
    """Raise DecodeError(TOO_LARGE) when `size` bytes is over `limits.max_image_bytes`."""
    if size > limits.max_image_bytes:
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{size} bytes is over max_image_bytes = {limits.max_image_bytes}")


def check_shape(width: int, height: int, frames: int, limits: DecodeLimits) -> None:
    """Raise TOO_LARGE / TOO_SMALL for a header's dimensions, before any pixel is decoded."""
    shape = f"{width}x{height}" + (f"x{frames}" if frames > 1 else "")
    pixels = width * height * max(frames, 1)
    if pixels > limits.max_pixels:
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{shape} image = {pixels} pixels is over max_pixels = {limits.max_pixels} "
                          "(a decompression bomb, or an image to downscale before sending)")
    if min(width, height) < max(limits.min_side, 1):
        raise DecodeError(DecodeErrorKind.TOO_SMALL,
                          f"{width}x{height} image: both sides must be >= min_side = {limits.min_side} pixels")
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect_ratio:
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{width}x{height} image has an aspect ratio of {ratio:.0f}:1, over max_aspect_ratio = "
                          f"{limits.max_aspect_ratio:g} (a model's resize would stretch its long side by as much); "
                          "crop or tile it before sending")
