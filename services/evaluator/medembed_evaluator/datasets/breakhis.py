"""BreaKHis v1: `histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>/*.png`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medembed_evaluator.datasets.base import Dataset
from medembed_evaluator.datasets.files import file_sample, list_images, require_dir
from medembed_evaluator.errors import DatasetError

BREAKHIS_CLASSES = ("benign", "malignant")
MAGNIFICATIONS = ("40X", "100X", "200X", "400X")


@dataclass(frozen=True)
class BreakHisOptions:
    """Options of the `breakhis` kind; magnifications are normalised to the release's "40X" spelling."""

    magnification: tuple[str, ...] = ()
    """Keep only these magnifications (40X, 100X, 200X, 400X); default: all."""

    def __post_init__(self) -> None:
        normalized = tuple(f"{m.upper().removesuffix('X')}X" for m in self.magnification)
        unknown = [m for m in normalized if m not in MAGNIFICATIONS]
        if unknown:
            raise DatasetError(
                f"magnification: unknown magnification(s) {', '.join(unknown)} (known: {', '.join(MAGNIFICATIONS)})"
            )
        object.__setattr__(self, "magnification", normalized)


def load_breakhis(options: BreakHisOptions, root: Path) -> Dataset:
    """BreaKHis v1 under `root` (the release folder or its histology_slides/breast): benign / malignant,
    metadata subtype, patient and magnification. Raises DatasetError for a missing class folder.
    """
    breast = _find_breast_folder(root)
    for class_name in BREAKHIS_CLASSES:
        require_dir(breast / class_name / "SOB", "breakhis")
    wanted = set(options.magnification or MAGNIFICATIONS)
    samples = []
    for path in list_images(breast):
        parts = path.relative_to(breast).parts
        # class / SOB / subtype / patient folder / magnification / file
        if len(parts) != 6 or parts[0] not in BREAKHIS_CLASSES or parts[4] not in wanted:
            continue
        class_name, _, subtype, patient_folder, magnification, _ = parts
        metadata = {
            "subtype": subtype,
            "patient": patient_folder.rsplit("_", 1)[-1],
            "magnification": magnification,
        }
        samples.append(
            file_sample(
                path,
                key=path.relative_to(breast).as_posix(),
                label=BREAKHIS_CLASSES.index(class_name),
                metadata=metadata,
            )
        )
    if not samples:
        raise DatasetError(f"breakhis: no images at magnification {', '.join(sorted(wanted))} under {breast}")
    return Dataset("breakhis", list(BREAKHIS_CLASSES), samples)


def _find_breast_folder(root: Path) -> Path:
    """Accept the dataset path pointing at BreaKHis_v1 or at the folder that holds it."""
    for candidate in (root / "histology_slides" / "breast", root / "BreaKHis_v1" / "histology_slides" / "breast"):
        if candidate.is_dir():
            return candidate
    raise DatasetError(
        f"breakhis: folder not found: {root / 'histology_slides' / 'breast'} (expected the BreaKHis_v1 tree)"
    )
