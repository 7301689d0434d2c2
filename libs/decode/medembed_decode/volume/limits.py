"""The volume limits, checked from headers before any pixel of a volume is decoded."""

from __future__ import annotations

from ..limits import DecodeError, DecodeErrorKind, DecodeLimits


def check_volume(what: str, shape: tuple[int, int, int], slices: int, limits: DecodeLimits) -> None:
    """Raise TOO_LARGE naming the number and the limit when the volume `what` (e.g. "NIfTI volume")
    of `shape` voxels, stored as `slices` 2-D images, is over `max_volume_slices` or
    `max_volume_voxels`."""
    if slices > limits.max_volume_slices:
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{what} of {slices} slices is over max_volume_slices = {limits.max_volume_slices}")
    voxels = shape[0] * shape[1] * shape[2]
    if voxels > limits.max_volume_voxels:
        dims = "x".join(str(side) for side in shape)
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{what} of {dims} = {voxels} voxels is over max_volume_voxels = {limits.max_volume_voxels}")


def check_volume_bytes(what: str, size: int, limits: DecodeLimits) -> None:
    """Raise TOO_LARGE when `size` bytes (an item, or what it inflates to) is over `max_volume_bytes`."""
    if size > limits.max_volume_bytes:
        raise DecodeError(DecodeErrorKind.TOO_LARGE,
                          f"{what} of {size} bytes is over max_volume_bytes = {limits.max_volume_bytes}")
