"""A plane of modality values to uint8 display pixels: one window (gray), or three (R, G, B).

Multi-window channels: three windows of the same slice stacked as the R, G and B channels, the
input the leading solutions of the RSNA Intracranial Hemorrhage Detection challenge (Kaggle /
RSNA-ASNR, 2019; Flanders et al., "Construction of a Machine Learning Dataset through
Collaboration: The RSNA 2019 Brain CT Hemorrhage Challenge", Radiology: AI 2020) gave their 2-D
CNNs: brain, subdural and bone windows as channels ("brain,subdural,bone" here).
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from ..pixels import to_uint8
from .options import Window
from .planes import Plane


def render(plane: Plane, windows: tuple[Window, ...], notes: list[str]) -> np.ndarray:
    """uint8 [H, W] for the file's own window (`windows` empty) or one window; uint8 [H, W, 3]
    for three windows (R, G, B), each channel rendered as that window alone would show it."""
    if len(windows) == 3:
        return np.stack([_gray(plane, (w.center, w.width), notes) for w in windows], axis=-1)
    return _gray(plane, (windows[0].center, windows[0].width) if windows else None, notes)


def _gray(plane: Plane, window: tuple[float, float] | None, notes: list[str]) -> np.ndarray:
    if plane.dicom:
        from ..dicom import DicomFrame, render_frame

        frame = DicomFrame(values=plane.values, voi=plane.voi, padding=plane.padding,
                           monochrome1=plane.monochrome1, position=None, orientation=None, spacing=None)
        return render_frame(frame, window, notes)
    if window is not None:
        return linear_window(plane.values, *window)
    if plane.own_range is not None:
        low, high = plane.own_range
        shown = np.nan_to_num((plane.values - low) / (high - low) * 255.0, nan=0.0)
        return np.clip(np.round(shown), 0, 255).astype(np.uint8)
    return to_uint8(plane.values, notes)


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """uint8 [H, W]: DICOM's LINEAR window (PS3.3 C.11.2.1.2.1) to 0..255, by pydicom's
    apply_windowing (as the 2-D decode applies a file's own window); NaN shows black."""
    display = Dataset()
    display.PhotometricInterpretation, display.PixelRepresentation, display.BitsStored = "MONOCHROME2", 0, 8
    display.WindowCenter, display.WindowWidth, display.VOILUTFunction = center, width, "LINEAR"
    windowed = apply_windowing(np.asarray(values, dtype=np.float64), display)
    return np.clip(np.round(np.nan_to_num(windowed, nan=0.0)), 0, 255).astype(np.uint8)
