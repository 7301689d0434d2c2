"""What an item of a volume yields, chosen per request: the slice rule, the axis and the window.

The options are part of the vector identity (`SliceOptions.identity()`), so two rules never share
a cached vector. Parsing is strict: an unknown value is a ValueError naming the field and the
accepted values, never a silent default.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .presets import PRESETS

RULES = ("middle", "index:N", "every:K", "all", "mean")
AXES = ("axial", "coronal", "sagittal")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CENTER_WIDTH = re.compile(rf"({_NUMBER})/({_NUMBER})")


@dataclass(frozen=True)
class Window:
    """One window in modality units (HU for CT): `center` and `width` as DICOM's Window Center /
    Window Width, applied with the LINEAR function (PS3.3 C.11.2.1.2.1). `name` is the preset's
    name or the canonical "C/W" text."""

    name: str
    center: float
    width: float


@dataclass(frozen=True)
class SliceOptions:
    """The slice rule, axis and window of one request, in canonical form (build it with `parse`).

    rule:   "" (default: the middle slice; a multi-frame DICOM with the default axis: its first
            frame, as the 2-D decode reads it) | "middle" | "index:N" (N >= 0) | "every:K" (K >= 1:
            slices 0, K, 2K ...) | "all" | "mean" (all slices, whose vectors the encoder averages).
    axis:   "" (default: axial; the stored frame order for a multi-frame DICOM without geometry)
            | "axial" | "coronal" | "sagittal", anatomical, from the orientation (never array order).
    window: "" (the file's own: DICOM VOI LUT or window, NIfTI cal_min/cal_max, else min-max) | a
            preset name (`PRESETS`) | "C/W" in modality units, e.g. "-600/1500" | three of those,
            comma-separated, shown as the R, G and B channels ("brain,subdural,bone").
    """

    rule: str = ""
    axis: str = ""
    window: str = ""

    @classmethod
    def parse(cls, rule: str = "", axis: str = "", window: str = "") -> SliceOptions:
        """Canonical options from user text (case and spaces ignored); ValueError naming the field
        and its accepted values for anything else."""
        return cls(_parse_rule(rule), _parse_axis(axis), ",".join(w.name for w in parse_window(window)))

    def is_default(self) -> bool:
        """True when nothing is asked: the item decodes exactly as the 2-D decode rules read it."""
        return not (self.rule or self.axis or self.window)

    def identity(self) -> str:
        """The options as one canonical line for the vector identity, e.g.
        "slices=every:2 axis=axial window=lung"; "" when `is_default()` (existing keys unchanged)."""
        if self.is_default():
            return ""
        return f"slices={self.rule or 'default'} axis={self.axis or 'default'} window={self.window or 'own'}"

    @property
    def pooled(self) -> bool:
        """rule "mean": the encoder averages the slices' vectors into one volume vector."""
        return self.rule == "mean"

    def windows(self) -> tuple[Window, ...]:
        """() for the file's own window, one Window, or three (the R, G, B channels)."""
        return parse_window(self.window)

    def selection(self) -> tuple[str, int]:
        """The rule as (kind, number): ("default", 0), ("middle", 0), ("index", N), ("every", K),
        ("all", 0) or ("mean", 0)."""
        if not self.rule:
            return "default", 0
        kind, _, number = self.rule.partition(":")
        return kind, int(number) if number else 0


def _parse_rule(text: str) -> str:
    rule = "".join(text.split()).lower()
    if rule in ("", "middle", "all", "mean"):
        return rule
    kind, colon, number = rule.partition(":")
    if colon and kind in ("index", "every") and number.isdigit():
        value = int(number)
        if kind == "every" and value < 1:
            raise ValueError(f"slice rule {text!r}: every:K needs K >= 1")
        return f"{kind}:{value}"
    raise ValueError(f"slice rule {text!r} is not one of: {', '.join(RULES)} (N >= 0, K >= 1), or empty for the "
                     "default (the middle slice)")


def _parse_axis(text: str) -> str:
    axis = text.strip().lower()
    if axis in ("", *AXES):
        return axis
    raise ValueError(f"axis {text!r} is not one of: {', '.join(AXES)}, or empty for the default (axial)")


def parse_window(text: str) -> tuple[Window, ...]:
    """() for "", else one Window or three (R, G, B). ValueError naming the window and the accepted
    forms: a preset name, "C/W" with a finite centre and a width >= 1, or three of those."""
    spec = "".join(text.split()).lower()
    if not spec:
        return ()
    parts = spec.split(",")
    if len(parts) not in (1, 3):
        raise ValueError(f"window {text!r}: give one window or three (the R, G, B channels), not {len(parts)}")
    return tuple(_one_window(part, text) for part in parts)


def _one_window(part: str, text: str) -> Window:
    preset = PRESETS.get(part)
    if preset is not None:
        return Window(preset.name, float(preset.center), float(preset.width))
    match = _CENTER_WIDTH.fullmatch(part)
    if match is None:
        raise ValueError(f"window {part!r} (in {text!r}) is not a preset ({', '.join(PRESETS)}) nor "
                         "\"center/width\" in modality units (HU for CT), e.g. \"-600/1500\"")
    center, width = float(match.group(1)), float(match.group(2))
    if not (math.isfinite(center) and math.isfinite(width)) or width < 1:
        raise ValueError(f"window {part!r}: the centre must be finite and the width >= 1 (the DICOM LINEAR "
                         "window's rule, PS3.3 C.11.2.1.2.1)")
    return Window(f"{_number(center)}/{_number(width)}", center, width)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
