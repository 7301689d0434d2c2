"""Which slices a rule picks, along which anatomical axis, and how a slice is turned for display.

Display convention (the same for NIfTI and DICOM, so the same voxels give the same images): the
radiological convention viewers use. With RAS+ world axes (x from the patient's left to Right, y
from Posterior to Anterior, z from Inferior to Superior):
- axial: the patient's right on the image's left, anterior at the top (a supine patient seen from
  the feet) — a standard axial DICOM slice (Image Orientation (Patient) 1\\0\\0\\0\\1\\0) as stored;
- coronal: the patient's right on the left, superior at the top (the patient seen from the front);
- sagittal: anterior on the left, superior at the top (seen from the patient's left).
Slices are numbered along the axis in RAS+ order, as nibabel's `as_closest_canonical` lays the
volume out: index 0 is the most inferior (axial), posterior (coronal) or the patient's leftmost
(sagittal) slice. The axis comes from the affine by nibabel's `io_orientation` (the array axis
closest to each anatomical axis), never from array order; an oblique volume is not resampled.
"""

from __future__ import annotations

import numpy as np
from nibabel.orientations import io_orientation

from ..limits import DecodeError, DecodeErrorKind
from .options import SliceOptions
from .planes import Plane, Volume

# anatomical axis -> its RAS+ world axis (0 = x: R, 1 = y: A, 2 = z: S)
_WORLD_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


def slice_axis(volume: Volume, axis: str) -> tuple[int, np.ndarray | None]:
    """(array axis, orientation) for the anatomical `axis` ("" = axial).

    The orientation is nibabel's io_orientation of the affine ([3, 2]: world axis and direction of
    each array axis), or None when the volume has no geometry: then its stored image stack is the
    only axis, taken in stored order, and an explicit axis is DECODE_ERROR saying why. An affine
    that gives some array axis no direction (zero, parallel or non-finite columns: as nibabel's
    `as_closest_canonical` refuses it) is DECODE_ERROR naming it.
    """
    if volume.affine is None:
        if axis:
            raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                              f"the {volume.kind} has no patient orientation (Image Orientation / Position "
                              f"(Patient)), so the {axis} axis cannot be found; leave the axis empty to take "
                              "its frames in stored order")
        return volume.stack_axis, None
    orientation = _orientation(volume.affine)
    if orientation is None:
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"the {volume.kind}'s affine (voxel index to patient mm) "
                          f"{np.round(volume.affine[:3], 3).tolist()} gives an array axis no direction (a zero, "
                          "parallel or non-finite column: damaged orientation, e.g. a NIfTI sform/qform), so the "
                          f"{axis or 'axial'} axis cannot be found; fix the file's orientation and send it again")
    world = _WORLD_AXIS[axis or "axial"]
    return int(np.flatnonzero(orientation[:, 0] == world)[0]), orientation


def _orientation(affine: np.ndarray) -> np.ndarray | None:
    """nibabel's io_orientation of `affine`, or None where it gives some array axis no world axis
    (a NaN row: a zero or parallel column) or cannot be computed (non-finite values)."""
    if not np.isfinite(affine).all():
        return None
    try:
        orientation = io_orientation(affine)
    except np.linalg.LinAlgError:
        return None
    return None if np.isnan(orientation).any() else orientation


def array_index(slice_index: int, array_axis: int, count: int, orientation: np.ndarray | None) -> int:
    """The array index of the slice numbered `slice_index` in RAS+ order along `array_axis`."""
    if orientation is not None and orientation[array_axis, 1] < 0:
        return count - 1 - slice_index
    return slice_index


def select(options: SliceOptions, count: int) -> tuple[int, ...]:
    """The slice numbers (0 .. count - 1, in order) a rule picks. The default rule is the middle
    slice, (count - 1) // 2; index:N out of range is DECODE_ERROR naming the slice count."""
    kind, number = options.selection()
    if kind in ("default", "middle"):
        return ((count - 1) // 2,)
    if kind == "index":
        if number >= count:
            raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                              f"slice index:{number} is out of range: the item has {count} slice"
                              f"{'' if count == 1 else 's'} along this axis (index:0 to index:{count - 1})")
        return (number,)
    if kind == "every":
        return tuple(range(0, count, number))
    return tuple(range(count))  # all, mean


def displayed(plane: Plane, array_axis: int, orientation: np.ndarray | None) -> Plane:
    """The plane turned to the display convention of this module (module docstring). A volume
    without geometry shows its planes as stored."""
    if orientation is None:
        return plane
    rows_axis, columns_axis = (axis for axis in range(3) if axis != array_axis)
    rows_world, columns_world = orientation[rows_axis, 0], orientation[columns_axis, 0]
    # Displayed rows run along the higher world axis and columns along the lower one, both from
    # high to low world coordinate (R -> L, A -> P, S -> I).
    return plane.transformed(flip_rows=orientation[rows_axis, 1] > 0, flip_columns=orientation[columns_axis, 1] > 0,
                             transpose=rows_world < columns_world)
