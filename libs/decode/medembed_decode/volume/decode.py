"""decode_slices: any item (2-D image or volume) to the images a request's SliceOptions ask for."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..decoder import decode
from ..dicom import dicom_frame, frame_count, read_dataset
from ..limits import DecodeError, DecodeErrorKind, DecodeLimits, check_bytes, check_shape
from ..pixels import Decoded, checked
from .kinds import container, dicom_frames
from .limits import check_volume_bytes
from .multiframe import read_multiframe
from .nifti import read_nifti
from .options import SliceOptions
from .planes import Plane, Volume
from .render import render
from .series import read_series
from .slicing import array_index, displayed, select, slice_axis


@dataclass(frozen=True)
class DecodedSlices:
    """What one item yields under its SliceOptions.

    images: what to embed, in slice order (each a `Decoded`: uint8 [H, W] or [H, W, 3] for
        multi-window channels, plus that slice's notes).
    slice_indices: index along the axis of each image (RAS+ order, see `slicing`; stored frame
        order for a multi-frame DICOM read by default or without orientation); (0,) for a 2-D image.
    slice_count: slices along the axis in the whole volume; 1 for a 2-D image.
    notes: the fallbacks taken for the item as a whole (ordering, skipped archive members ...).
    """

    images: tuple[Decoded, ...]
    slice_indices: tuple[int, ...]
    slice_count: int
    notes: tuple[str, ...] = ()


def decode_slices(data: bytes, options: SliceOptions, limits: DecodeLimits) -> DecodedSlices:
    """Decode one item into the slices `options` ask for (see the package docstring for the rules).

    A 2-D item gives one image; with default options it is exactly `decode(data, limits)`.
    Raises DecodeError: TOO_LARGE for a volume over the limits (checked from headers, before any
    pixel), DECODE_ERROR for damaged data or a slice index out of range (naming the slice count),
    UNSUPPORTED_FORMAT for a window asked of an item without modality values (PNG, JPEG ...).
    """
    if not data:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR, "empty item: no bytes")
    kind = container(data)
    if kind is None or (kind == "DICOM" and not options.windows() and (
            options.is_default() or dicom_frames(data) == 1)):
        if options.windows() and kind is None:
            raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                              f"window {options.window!r} applies to values in modality units (DICOM, NIfTI); "
                              "this item is a 2-D image of display values: leave the window empty for it")
        decoded = decode(data, limits)
        select(options, 1)  # index:N > 0 is out of range for one image
        # a multi-frame DICOM read by default: its first stored frame, of all its frames
        return DecodedSlices((decoded,), (0,), dicom_frames(data) if kind == "DICOM" else 1, ())
    notes: list[str] = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if kind == "DICOM":
            return _dicom(data, options, limits, notes)
        check_volume_bytes(f"the {'NIfTI volume' if kind == 'NIfTI' else 'DICOM series archive'}", len(data), limits)
        volume = read_nifti(data, limits, notes) if kind == "NIfTI" else read_series(data, limits, notes)
        return _slices(volume, options, limits, notes)


def _dicom(data: bytes, options: SliceOptions, limits: DecodeLimits, notes: list[str]) -> DecodedSlices:
    """A DICOM file with options: one frame (the first of a multi-frame file when neither rule nor
    axis is asked), or a multi-frame file as a volume."""
    check_volume_bytes("the DICOM file", len(data), limits)
    dataset = read_dataset(data, limits)
    count = frame_count(dataset)
    if count > 1 and (options.rule or options.axis):
        return _slices(read_multiframe(data, limits, notes, dataset), options, limits, notes)
    check_bytes(len(data), limits)  # one frame: the 2-D byte limit
    if count == 1:
        select(options, 1)  # index:N > 0 is out of range
    frame_notes: list[str] = []
    frame = dicom_frame(dataset, 0, frame_notes)
    plane = Plane(frame.values, frame.padding, frame.voi, None, frame.monochrome1)
    _gray_for(plane, options, "DICOM image")
    return DecodedSlices((Decoded(checked(render(plane, options.windows(), frame_notes)), tuple(frame_notes)),),
                         (0,), count, tuple(notes))


def _gray_for(plane: Plane, options: SliceOptions, what: str) -> None:
    if options.windows() and plane.values.ndim == 3:
        raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                          f"window {options.window!r} applies to gray values in modality units; this {what} is "
                          "colour: leave the window empty for it")


def _slices(volume: Volume, options: SliceOptions, limits: DecodeLimits, notes: list[str]) -> DecodedSlices:
    axis, orientation = slice_axis(volume, options.axis)
    count = volume.shape[axis]
    picks = select(options, count)
    height, width = (side for i, side in enumerate(volume.shape) if i != axis)
    try:
        check_shape(width, height, 1, limits)
    except DecodeError as exc:
        named = options.axis or ("axial" if orientation is not None else "stored")
        raise DecodeError(exc.kind, f"{named} slices of the {volume.kind}: {exc}") from None
    windows = options.windows()
    images = []
    for pick in picks:
        slice_notes: list[str] = []
        plane = displayed(volume.plane(axis, array_index(pick, axis, count, orientation), slice_notes), axis,
                          orientation)
        _gray_for(plane, options, volume.kind)
        images.append(Decoded(checked(render(plane, windows, slice_notes)), tuple(slice_notes)))
    return DecodedSlices(tuple(images), picks, count, tuple(notes))


