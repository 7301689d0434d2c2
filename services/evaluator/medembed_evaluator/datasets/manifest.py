"""Generic CSV manifest: one row per image, paths relative to the CSV's folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medembed_evaluator.datasets.base import Dataset
from medembed_evaluator.datasets.files import file_sample, read_csv_rows, require_file
from medembed_evaluator.errors import DatasetError


@dataclass(frozen=True)
class ManifestOptions:
    """Options of the `csv` kind: the manifest file, its columns, and the class order."""

    file: str = "manifest.csv"
    """The CSV, relative to the dataset path (or the dataset path itself when it is a file)."""
    path_column: str = "path"
    label_column: str = "label"
    metadata_columns: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    """Label values in label order; default: the distinct values, sorted."""


def load_manifest(options: ManifestOptions, root: Path) -> Dataset:
    """One sample per manifest row: the image at its path (relative to the CSV's folder), label = its
    label value's position in `classes`, the metadata columns as metadata. Raises DatasetError for a
    missing file or column, an empty manifest, or a label outside `classes`.
    """
    csv_path = root if root.is_file() else root / options.file
    columns = [options.path_column, options.label_column, *options.metadata_columns]
    rows = read_csv_rows(csv_path, columns, what="csv")
    if not rows:
        raise DatasetError(f"csv: no rows in {csv_path}")
    classes = list(options.classes) or sorted({row[options.label_column] for row in rows})
    label_of = {name: i for i, name in enumerate(classes)}
    base = csv_path.parent
    samples = []
    for line, row in enumerate(rows, start=2):
        class_name = row[options.label_column]
        if class_name not in label_of:
            raise DatasetError(f"csv: {csv_path} line {line}: label '{class_name}' is not one of {classes}")
        relative = row[options.path_column].replace("\\", "/")
        image = require_file(base / relative, f"csv {csv_path} line {line}")
        metadata = {c: row[c] for c in options.metadata_columns}
        samples.append(file_sample(image, key=relative, label=label_of[class_name], metadata=metadata))
    return Dataset("csv", classes, samples)
