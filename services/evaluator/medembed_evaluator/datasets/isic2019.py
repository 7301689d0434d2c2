"""ISIC 2019 training set: one-hot ground-truth CSV + `ISIC_2019_Training_Input/*.jpg`.

Classes with no images (UNK in the training set) are dropped. When the release's metadata CSV is
present, its per-image fields (lesion_id, site, sex, age) become sample metadata.
"""

from __future__ import annotations

from pathlib import Path

from medembed_evaluator.datasets.base import Dataset, NoOptions, without_empty_classes
from medembed_evaluator.datasets.files import (
    file_sample,
    read_csv_rows,
    require_dir,
    require_file,
)
from medembed_evaluator.errors import DatasetError

ISIC2019_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
GROUND_TRUTH = "ISIC_2019_Training_GroundTruth.csv"
METADATA = "ISIC_2019_Training_Metadata.csv"
IMAGES = "ISIC_2019_Training_Input"


def load_isic2019(options: NoOptions, root: Path) -> Dataset:
    """The ISIC 2019 training set under `root`: label = the ground truth's one-hot class, classes
    without images dropped. Raises DatasetError for a missing file or column, or a row not one-hot.
    """
    csv_path = root / GROUND_TRUTH
    rows = read_csv_rows(csv_path, ("image", *ISIC2019_CLASSES), what="isic2019")
    images = require_dir(root / IMAGES, "isic2019")
    metadata_by_image = _metadata(root / METADATA)
    samples = []
    for line, row in enumerate(rows, start=2):
        hot = [i for i, name in enumerate(ISIC2019_CLASSES) if float(row[name] or 0) == 1.0]
        if len(hot) != 1:
            raise DatasetError(
                f"isic2019: {csv_path} line {line}: expected exactly one class marked 1.0, got {len(hot)}"
            )
        image = require_file(images / f"{row['image']}.jpg", f"isic2019 {csv_path} line {line}")
        samples.append(
            file_sample(image, key=image.name, label=hot[0], metadata=metadata_by_image.get(row["image"], {}))
        )
    if not samples:
        raise DatasetError(f"isic2019: no rows in {csv_path}")
    return without_empty_classes("isic2019", ISIC2019_CLASSES, samples)


def _metadata(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    rows = read_csv_rows(path, ("image",), what="isic2019")
    return {row["image"]: {k: v for k, v in row.items() if k != "image" and v} for row in rows}
