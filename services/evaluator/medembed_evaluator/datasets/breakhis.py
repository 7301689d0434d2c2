"""BreaKHis v1: `histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>/*.png`.

The dataset path may be the release folder (BreaKHis_v1, or the folder holding it, as some mirrors
nest it: BreaKHis_v1/BreaKHis_v1/...), its `histology_slides` or `histology_slides/breast`, or a
copy that starts at `benign/` and `malignant/`: the breast folder is found below the path
(find_breast_folder). Sample keys are paths relative to it, so every one of these gives the same
keys (and the same dataset content hash).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from medembed_client.files import is_hidden_name
from medembed_evaluator.datasets.base import Dataset
from medembed_evaluator.datasets.files import file_sample, list_images, sample_key
from medembed_evaluator.errors import DatasetError

log = logging.getLogger(__name__)
BREAKHIS_CLASSES = ("benign", "malignant")
MAGNIFICATIONS = ("40X", "100X", "200X", "400X")
# How deep below the dataset path the breast folder is looked for: BreaKHis_v1/BreaKHis_v1/histology_slides/breast.
_SEARCH_DEPTH = 4


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
    """BreaKHis v1 under `root` (see the module docstring for the folders accepted): benign / malignant,
    metadata subtype, patient and magnification. An image is read from
    `<class>/SOB/<subtype>/<patient>/<magnification>/<file>` (the `SOB` level may be missing in a
    copy); files elsewhere are left out and counted in the log. Raises DatasetError when no breast
    folder is found, or no image has a wanted magnification.
    """
    breast = find_breast_folder(root)
    wanted = set(options.magnification or MAGNIFICATIONS)
    samples = []
    off_layout = 0
    for path in list_images(breast, what="breakhis"):
        parts = path.relative_to(breast).parts
        # class / [SOB /] subtype / patient folder / magnification / file
        if not (len(parts) == 6 and parts[1] == "SOB" or len(parts) == 5) or parts[0] not in BREAKHIS_CLASSES \
                or parts[-2] not in MAGNIFICATIONS:
            off_layout += 1
            continue
        if parts[-2] not in wanted:
            continue
        class_name, subtype, patient_folder, magnification = parts[0], parts[-4], parts[-3], parts[-2]
        metadata = {
            "subtype": subtype,
            "patient": patient_folder.rsplit("_", 1)[-1],
            "magnification": magnification,
        }
        samples.append(
            file_sample(path, key=sample_key(path, breast), label=BREAKHIS_CLASSES.index(class_name), metadata=metadata)
        )
    if off_layout:
        log.info("breakhis %s: left out %d image(s) outside <class>/SOB/<subtype>/<patient>/<magnification>/",
                 breast, off_layout)
    if not samples:
        raise DatasetError(f"breakhis: no images at magnification {', '.join(sorted(wanted))} under {breast} "
                           "(expected <class>/SOB/<subtype>/<patient>/<magnification>/<image>)")
    return Dataset("breakhis", list(BREAKHIS_CLASSES), samples)


def find_breast_folder(root: Path) -> Path:
    """The folder at or below `root` (hidden folders never entered, at most 4 levels down) that
    holds both `benign/` and `malignant/`: the shallowest one whose class folders hold the release's
    `SOB/` level, else the shallowest one (a copy without it), so another dataset's benign/ and
    malignant/ folders (BUSI's) beside the BreaKHis tree are not taken for it. Raises DatasetError
    naming `root` when `root` is no folder or holds none, or when two at one depth make it ambiguous.
    """
    candidates: list[tuple[int, Path]] = []
    level = [root] if root.is_dir() else []
    for depth in range(_SEARCH_DEPTH + 1):
        found = [folder for folder in level if all((folder / name).is_dir() for name in BREAKHIS_CLASSES)]
        candidates += [(depth, folder) for folder in found]
        level = sorted(child for folder in level if folder not in found for child in folder.iterdir()
                       if child.is_dir() and not is_hidden_name(child.name))
    with_sob = [(depth, folder) for depth, folder in candidates
                if any((folder / name / "SOB").is_dir() for name in BREAKHIS_CLASSES)]
    for group in (with_sob, candidates):
        if group:
            shallowest = [folder for depth, folder in group if depth == group[0][0]]
            if len(shallowest) > 1:
                raise DatasetError(f"breakhis: several BreaKHis trees under {root}: "
                                   f"{', '.join(map(str, shallowest))}; point the dataset path at one of them")
            return shallowest[0]
    what = "no benign/ and malignant/ folders under " if root.is_dir() else ""
    raise DatasetError(
        f"breakhis: folder not found: {what}{root} (expected the BreaKHis_v1 tree, its histology_slides/breast, "
        "or a copy that starts at benign/ and malignant/)"
    )
