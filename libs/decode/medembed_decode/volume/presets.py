"""Named CT windows in Hounsfield units, each with the source of its centre and width.

Centre (level) and width follow Radiopaedia's "Windowing (CT)" article
(https://radiopaedia.org/articles/windowing-ct, the table of typical window settings), which gives
W/L pairs per region; where it gives a range (subdural) or two settings (stroke, bone), the choice
made here is said next to the preset. A window maps centre - width/2 to black and centre + width/2
to white by the DICOM LINEAR function (PS3.3 C.11.2.1.2.1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WindowPreset:
    """One named window: `center` and `width` in HU, and where the values come from."""

    name: str
    center: float
    width: float
    source: str


_RADIOPAEDIA = "Radiopaedia, Windowing (CT), table of typical window settings"

PRESETS: dict[str, WindowPreset] = {preset.name: preset for preset in (
    WindowPreset("brain", 40, 80, f"{_RADIOPAEDIA}: head, brain W:80 L:40"),
    # Radiopaedia gives W:130-300 L:50-100; 80/200 is inside it and is the subdural window of the
    # RSNA 2019 Intracranial Hemorrhage Detection solutions (brain/subdural/bone channels).
    WindowPreset("subdural", 80, 200, f"{_RADIOPAEDIA}: head, subdural W:130-300 L:50-100 (W:200 L:80 chosen)"),
    # Radiopaedia: "stroke W:8 L:32 or W:40 L:40"; the wider of the two, as a width of 8 HU leaves
    # 8 grey levels in an 8-bit image.
    WindowPreset("stroke", 40, 40, f"{_RADIOPAEDIA}: head, stroke W:8 L:32 or W:40 L:40 (W:40 L:40 chosen)"),
    WindowPreset("lung", -600, 1500, f"{_RADIOPAEDIA}: chest, lungs W:1500 L:-600"),
    WindowPreset("mediastinum", 50, 350, f"{_RADIOPAEDIA}: chest, mediastinum W:350 L:50"),
    WindowPreset("abdomen", 50, 400, f"{_RADIOPAEDIA}: abdomen, soft tissues W:400 L:50"),
    WindowPreset("liver", 30, 150, f"{_RADIOPAEDIA}: abdomen, liver W:150 L:30"),
    # Radiopaedia lists "temporal bones W:2800 L:600" for the head and "bone W:1800 L:400" for the
    # spine; the head bone window is the one the RSNA hemorrhage solutions used as their third channel.
    WindowPreset("bone", 600, 2800, f"{_RADIOPAEDIA}: head, temporal bones W:2800 L:600 (spine bone W:1800 L:400)"),
)}
"""The presets by name: brain, subdural, stroke, lung, mediastinum, abdomen, liver, bone."""
