"""The volume model every reader fills: 2-D planes of modality values, and a volume's geometry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Plane:
    """One 2-D slice before display.

    values: float64 [H, W] in modality units (HU for CT, NIfTI values after scl_slope/scl_inter).
    padding: bool [H, W], True where DICOM Pixel Padding marks no image data; None when none is known.
    voi: the DICOM file's own VOI for this slice (decode2d's VoiTransform), None if it has none.
    own_range: (low, high), the file's own display range when it is not a DICOM VOI (NIfTI
        cal_min / cal_max: low and below black, high and above white, linear between), else None.
    monochrome1: DICOM MONOCHROME1 (shown inverted).
    own_window_notes: fallbacks taken only where the plane is shown with the file's own window
        (`voi`), noted then; a window asked by the request makes them moot.
    """

    values: np.ndarray
    padding: np.ndarray | None = None
    voi: Any = None
    own_range: tuple[float, float] | None = None
    monochrome1: bool = False
    own_window_notes: tuple[str, ...] = ()

    def transformed(self, flip_rows: bool, flip_columns: bool, transpose: bool) -> Plane:
        """The same slice with its rows and/or columns reversed, then rows and columns swapped
        (values and padding alike; the colour axis of [H, W, 3] stays last)."""
        def move(array: np.ndarray | None) -> np.ndarray | None:
            if array is None:
                return None
            if flip_rows:
                array = array[::-1, :]
            if flip_columns:
                array = array[:, ::-1]
            return np.ascontiguousarray(np.swapaxes(array, 0, 1) if transpose else array)
        return Plane(move(self.values), move(self.padding), self.voi, self.own_range, self.monochrome1,
                     self.own_window_notes)


class Volume(Protocol):
    """A 3-D volume, read plane by plane (so a middle slice decodes one plane, not the volume).

    kind: what it is, for messages ("NIfTI volume", "DICOM series", "multi-frame DICOM").
    shape: voxels along the three array axes (i, j, k).
    affine: float64 [4, 4], voxel index (i, j, k, 1) -> RAS+ millimetres (NIfTI's world space;
        DICOM's LPS negated in x and y), or None when the item has no geometry.
    stack_axis: the array axis along which the item stores its 2-D images (DICOM frames / files).
    """

    kind: str
    shape: tuple[int, int, int]
    affine: np.ndarray | None
    stack_axis: int

    def plane(self, axis: int, index: int, notes: list[str]) -> Plane:
        """The slice at `index` along array `axis`; its rows and columns are the two other array
        axes in array order."""
        ...
