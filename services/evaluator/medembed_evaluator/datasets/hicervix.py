"""HiCervix: a CSV (`image_name`, `class_name`, `class_id`, `level_1..3`) next to its image folder; 26 classes.

The public CSVs (train/val/test.csv, 28,160 + 4,018 + 8,051 = 40,229 cells; github.com/Scu-sen/HiCervix,
dataset/hierarchy_classification/version2023) label each cell with its finest annotated class in
`class_name`: 26 values (`class_id` 0-25), the same 26 in every split. They are the 21 level-2
classes, the 4 level-3 ones (AGC-ECC-NOS, AGC-EMC-NOS, ADC-ECC, ADC-EMC) and AGC, for cells
annotated at level 1 only. The HiCervix paper (Cai et al., IEEE TMI 2024) speaks of "29 annotated
classes", and the study repeats it: 29 counts every node of the three-level tree, 4 level-1 classes
(negative, ASC, AGC, microbe) + 21 level-2 + 4 level-3, i.e. the values the level_1..3 columns take,
not the classes a cell is labelled with. A probe on `class_name` (the default) has 26 classes;
`label_column: level_1` probes the 4 coarse ones. The level columns are kept as metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medembed_evaluator.datasets.base import Dataset
from medembed_evaluator.datasets.files import (
    file_sample,
    read_csv_rows,
    require_dir,
    require_file,
)
from medembed_evaluator.errors import DatasetError

LEVEL_COLUMNS = ("level_1", "level_2", "level_3")


@dataclass(frozen=True)
class HiCervixOptions:
    """Options of the `hicervix` kind: which CSV, which image folder and columns, and the class order."""

    csv: str = "train.csv"
    images: str = ""
    """Image folder relative to the dataset path; default: the CSV's name without .csv (train/)."""
    image_column: str = "image_name"
    label_column: str = "class_name"
    classes: tuple[str, ...] = ()
    """Class names in label order; default: the distinct class_name values, sorted."""


def load_hicervix(options: HiCervixOptions, root: Path) -> Dataset:
    """HiCervix under `root`: one sample per CSV row, label = the class's position in `classes`.
    Raises DatasetError for a missing CSV, column, folder or image, or a class outside `classes`.
    """
    csv_path = root / options.csv
    rows = read_csv_rows(csv_path, (options.image_column, options.label_column), what="hicervix")
    if not rows:
        raise DatasetError(f"hicervix: no rows in {csv_path}")
    images = require_dir(root / (options.images or csv_path.stem), "hicervix")
    classes = list(options.classes) or sorted({row[options.label_column] for row in rows})
    label_of = {name: i for i, name in enumerate(classes)}
    samples = []
    for line, row in enumerate(rows, start=2):
        class_name = row[options.label_column]
        if class_name not in label_of:
            raise DatasetError(
                f"hicervix: {csv_path} line {line}: class '{class_name}' is not one of the given classes"
            )
        image = require_file(images / row[options.image_column], f"hicervix {csv_path} line {line}")
        metadata = {c: row[c] for c in LEVEL_COLUMNS if row.get(c)}
        key = image.relative_to(root).as_posix()
        samples.append(file_sample(image, key=key, label=label_of[class_name], metadata=metadata))
    return Dataset("hicervix", classes, samples)
