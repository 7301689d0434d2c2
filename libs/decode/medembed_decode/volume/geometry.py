"""Where each DICOM frame lies in the patient, read from the header before any pixel is decoded.

Per frame, as PS3.3 C.7.6.16 (Multi-frame Functional Groups) orders them: the Per-frame Functional
Groups item, then the Shared Functional Groups item, then the top-level attributes (classic
single-frame images): Plane Position (Image Position (Patient)), Plane Orientation (Image
Orientation (Patient)) and Pixel Measures (Pixel Spacing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class FrameGeometry:
    """position: Image Position (Patient) [3] in mm (LPS), orientation: the 6 direction cosines of
    Image Orientation (Patient) (row direction, then column direction), spacing: Pixel Spacing
    (between rows, between columns) in mm, > 0; each None when absent or unreadable."""

    position: np.ndarray | None
    orientation: np.ndarray | None
    spacing: np.ndarray | None

    @property
    def normal(self) -> np.ndarray | None:
        """The slice normal: row direction x column direction (unit vector), None without orientation."""
        if self.orientation is None:
            return None
        normal = np.cross(self.orientation[:3], self.orientation[3:])
        length = float(np.linalg.norm(normal))
        return normal / length if length > 1e-6 else None


def frame_geometry(dataset: Dataset, index: int) -> FrameGeometry:
    """The geometry of frame `index` (0-based) of `dataset`, functional groups first."""
    groups = [_item(dataset, "PerFrameFunctionalGroupsSequence", index),
              _item(dataset, "SharedFunctionalGroupsSequence", 0)]
    return FrameGeometry(
        position=_find(groups, dataset, "PlanePositionSequence", "ImagePositionPatient", 3),
        orientation=_find(groups, dataset, "PlaneOrientationSequence", "ImageOrientationPatient", 6),
        spacing=_positive(_find(groups, dataset, "PixelMeasuresSequence", "PixelSpacing", 2)))


def _positive(spacing: np.ndarray | None) -> np.ndarray | None:
    """Pixel Spacing is the physical distance between pixel centres (PS3.3 10.7.1.3), so > 0; a zero
    or negative value is unreadable, as an absent one (1 mm): it would give an axis no direction, or
    reverse it. Slices are never resampled, so the spacing changes no pixel, only the affine's scale."""
    return spacing if spacing is not None and (spacing > 0).all() else None


def _item(dataset: Dataset, keyword: str, index: int) -> Dataset | None:
    try:
        sequence = dataset.get(keyword)
        return sequence[index] if sequence is not None and len(sequence) > index else None
    except Exception:  # an unreadable sequence gives no geometry, as an absent one
        return None


def _find(groups: list[Dataset | None], dataset: Dataset, macro: str, keyword: str, count: int) -> np.ndarray | None:
    for group in groups:
        inner = _item(group, macro, 0) if group is not None else None
        if inner is not None and keyword in inner:
            return _numbers(inner, keyword, count)
    return _numbers(dataset, keyword, count) if keyword in dataset else None


def _numbers(dataset: Dataset, keyword: str, count: int) -> np.ndarray | None:
    try:
        values = np.asarray([float(value) for value in dataset[keyword].value], dtype=np.float64)
    except Exception:  # absent, empty or not numbers: no geometry from this element
        return None
    return values if values.shape == (count,) and np.isfinite(values).all() else None


def ras_affine(first: FrameGeometry, last_position: np.ndarray | None, count: int,
               slice_step: float | None) -> np.ndarray | None:
    """float64 [4, 4]: array index (row, column, slice) -> RAS+ mm for a stack of `count` frames of
    one orientation, ordered along the normal, whose first frame is `first` (dcm2niix's and
    nibabel.nicom's construction: DICOM LPS with x and y negated). The slice column is the step
    from the first to the last position (gantry tilt kept), or `slice_step` mm along the normal
    for a single frame; None without position or orientation."""
    if first.position is None or first.orientation is None or first.normal is None:
        return None
    row_spacing, column_spacing = first.spacing if first.spacing is not None else (1.0, 1.0)
    lps = np.eye(4)
    lps[:3, 0] = first.orientation[3:] * row_spacing  # down the rows: the column direction cosines
    lps[:3, 1] = first.orientation[:3] * column_spacing  # along a row: the row direction cosines
    if count > 1 and last_position is not None:
        lps[:3, 2] = (last_position - first.position) / (count - 1)
    else:
        lps[:3, 2] = first.normal * (slice_step or 1.0)
    lps[:3, 3] = first.position
    return _LPS_TO_RAS @ lps
