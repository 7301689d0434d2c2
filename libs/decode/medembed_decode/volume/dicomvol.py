"""DICOM frames stacked as one volume: the frames of a series' files, or of one multi-frame file.

Frames are ordered by their position along the slice normal (Image Orientation (Patient) row x
column cosines, dot Image Position (Patient)), as dcm2niix and nibabel.nicom order a series, never
by file name or stored order. Pixels are decoded only for the planes asked: a middle slice along
the stored stack decodes one frame; another axis decodes every frame once (then cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ..dicom import dicom_frame
from ..limits import DecodeError, DecodeErrorKind, DecodeLimits, check_shape
from .geometry import FrameGeometry, ras_affine
from .limits import check_volume
from .planes import Plane

_SAME_ORIENTATION = 1e-4  # direction cosines equal within this (rounding in the DS text)
_SAME_POSITION_MM = 1e-3


@dataclass(frozen=True)
class FrameRef:
    """One frame of a volume: its data set, its frame index there, its geometry, and a name for
    messages (the archive member, or "frame N")."""

    dataset: Dataset
    frame: int
    geometry: FrameGeometry
    name: str


class DicomVolume:
    """A stack of DICOM frames of one size (see `planes.Volume`): array axes (row, column, slice)."""

    stack_axis = 2

    def __init__(self, kind: str, frames: list[FrameRef], rows: int, columns: int, limits: DecodeLimits,
                 notes: list[str], shared_positions_ok: bool = False) -> None:
        """Order `frames` along the slice normal (when every frame has a position and they share
        one orientation) and check the volume against `limits`, before any pixel is decoded.
        Two frames at one position (several stacks or time points) are DECODE_ERROR, or, with
        `shared_positions_ok`, leave the frames in the given order without orientation (noted)."""
        self.kind = kind
        check_volume(kind, (rows, columns, len(frames)), len(frames), limits)
        check_shape(columns, rows, 1, limits)
        self.shape = (rows, columns, len(frames))
        self.frames, self.affine = _ordered(kind, frames, notes, shared_positions_ok)
        self._stack: tuple[np.ndarray, np.ndarray | None, Any, bool] | None = None
        self._voi_notes: tuple[str, ...] = ()

    def plane(self, axis: int, index: int, notes: list[str]) -> Plane:
        """Frame `index` in position order (axis 2, with its own VOI), or a reformatted plane of the
        whole stack (axis 0 or 1), shown with the VOI of the middle frame."""
        if axis == self.stack_axis:
            ref = self.frames[index]
            frame = dicom_frame(ref.dataset, ref.frame, notes)
            return Plane(frame.values, frame.padding, frame.voi, None, frame.monochrome1)
        values, padding, voi, monochrome1 = self._volume(notes)
        take = (lambda array: array[index]) if axis == 0 else (lambda array: array[:, index])
        voi_notes, self._voi_notes = self._voi_notes, ()  # said once per item, with the first plane shown
        return Plane(np.ascontiguousarray(take(values)), None if padding is None else take(padding),
                     voi, None, monochrome1, voi_notes)

    def _volume(self, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, Any, bool]:
        """values float64 [rows, columns, slices], padding bool (or None), and the middle frame's
        VOI and MONOCHROME1 flag: every frame decoded once."""
        if self._stack is None:
            values = np.empty(self.shape, dtype=np.float64)
            padding = None
            vois = set()
            middle = (len(self.frames) - 1) // 2
            for position, ref in enumerate(self.frames):
                frame = dicom_frame(ref.dataset, ref.frame, notes)
                if frame.values.ndim != 2:
                    raise DecodeError(DecodeErrorKind.UNSUPPORTED_FORMAT,
                                      f"{ref.name} is a colour image: a {self.kind} of colour frames is read "
                                      "along its stored frames only (leave the axis empty)")
                values[:, :, position] = frame.values
                if frame.padding is not None:
                    if padding is None:
                        padding = np.zeros(self.shape, dtype=bool)
                    padding[:, :, position] = frame.padding
                vois.add(repr(frame.voi))
                if position == middle:
                    voi, monochrome1 = frame.voi, frame.monochrome1
            if len(vois) > 1:  # moot where the request asks a window (see Plane.own_window_notes)
                self._voi_notes = (f"the {self.kind}'s frames carry {len(vois)} different windows: a reformatted "
                                   "slice is shown with the middle frame's",)
            self._stack = (values, padding, voi, monochrome1)
        return self._stack


def _ordered(kind: str, frames: list[FrameRef], notes: list[str],
             shared_positions_ok: bool) -> tuple[list[FrameRef], np.ndarray | None]:
    geometries = [ref.geometry for ref in frames]
    normal = geometries[0].normal
    located = normal is not None and all(
        g.position is not None and g.orientation is not None for g in geometries)
    if located and any(np.abs(g.orientation - geometries[0].orientation).max() > _SAME_ORIENTATION
                       for g in geometries):
        raise DecodeError(DecodeErrorKind.DECODE_ERROR,
                          f"the {kind}'s frames have different Image Orientation (Patient): not one volume "
                          "(send each stack as its own item)")
    if not located:
        notes.append(f"the {kind} lacks Image Position / Orientation (Patient) on one or more frames: frames taken in "
                     f"{'stored' if kind != 'DICOM series' else 'Instance Number'} order, without orientation")
        return frames, None
    distances = [float(np.dot(normal, g.position)) for g in geometries]
    order = sorted(range(len(frames)), key=lambda i: distances[i])
    for before, after in zip(order, order[1:], strict=False):
        if distances[after] - distances[before] < _SAME_POSITION_MM:
            shared = (f"{frames[before].name} and {frames[after].name} of the {kind} lie at the same position "
                      f"({distances[before]:.3f} mm along the slice normal): several stacks, echoes or time points")
            if shared_positions_ok:
                notes.append(f"{shared}: frames taken in stored order, without orientation")
                return frames, None
            raise DecodeError(DecodeErrorKind.DECODE_ERROR, f"{shared} in one item; send each as its own item")
    ordered = [frames[i] for i in order]
    steps = np.diff([distances[i] for i in order])
    if len(steps) > 1 and steps.max() - steps.min() > max(0.01 * float(np.median(steps)), _SAME_POSITION_MM):
        notes.append(f"uneven slice spacing in the {kind} ({steps.min():.3f} to {steps.max():.3f} mm): "
                     "missing slices? Slices are stacked as found")
    affine = ras_affine(ordered[0].geometry, ordered[-1].geometry.position, len(ordered), None)
    return ordered, affine
