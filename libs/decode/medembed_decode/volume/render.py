"""A plane of modality values to uint8 display pixels: one window (gray), or three (R, G, B).

Multi-window channels: three windows of the same slice stacked as the R, G and B channels, the
input the leading solutions of the RSNA Intracranial Hemorrhage Detection challenge (Kaggle /
RSNA-ASNR, 2019; Flanders et al., "Construction of a Machine Learning Dataset through
Collaboration: The RSNA 2019 Brain CT Hemorrhage Challenge", Radiology: AI 2020) gave their 2-D
CNNs: brain, subdural and bone windows as channels ("brain,subdural,bone" here).
"""

from __future__ import annotations

import numpy as np

from ..dicom import DicomFrame, render_frame
from .options import Window
from .planes import Plane


def render(plane: Plane, windows: tuple[Window, ...], notes: list[str]) -> np.ndarray:
    """uint8 [H, W] for the file's own window (`windows` empty) or one window; uint8 [H, W, 3]
    for three windows (R, G, B), each channel rendered as that window alone would show it."""
    if len(windows) == 3:
        return np.stack([_gray(plane, (w.center, w.width), notes) for w in windows], axis=-1)
    return _gray(plane, (windows[0].center, windows[0].width) if windows else None, notes)


def _gray(plane: Plane, window: tuple[float, float] | None, notes: list[str]) -> np.ndarray:
    """One window, or the plane's own display: NIfTI cal_min / cal_max here, everything else (DICOM
    VOI, min-max with padding excluded, a LINEAR window) by the 2-D decode's render_frame, so the
    same values render the same from NIfTI and from DICOM."""
    if window is None:
        notes.extend(plane.own_window_notes)
    if window is None and plane.own_range is not None:
        low, high = plane.own_range
        shown = np.nan_to_num((plane.values - low) / (high - low) * 255.0, nan=0.0)
        return np.clip(np.round(shown), 0, 255).astype(np.uint8)
    frame = DicomFrame(values=plane.values, voi=plane.voi, padding=plane.padding, monochrome1=plane.monochrome1,
                       position=None, orientation=None, spacing=None)
    return render_frame(frame, window, notes)
