"""Generic CSV manifest: one row per image, paths relative to the CSV's folder.

Every path a manifest names stays inside its dataset folder: its rows, and the CSV the `file`
option names. The check is on the path as written (`..` and absolute paths), not on where
symlinks lead: a link a user placed in the folder is the user's choice and is followed.
"""

from __future__ import annotations

import os
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


def confined(folder: Path, path: Path, what: str) -> Path:
    """`path` with `.` and `..` folded away (os.path.normpath; symlinks not followed), after checking
    that it stays inside `folder`; DatasetError naming `what` otherwise."""
    resolved_folder = Path(os.path.normpath(os.path.abspath(folder)))
    resolved = Path(os.path.normpath(os.path.abspath(path)))
    if resolved != resolved_folder and resolved_folder not in resolved.parents:
        raise DatasetError(f"{what}: {path} is outside the dataset folder {folder}; a manifest may only name files "
                           "inside its dataset folder (relative paths, no '..' leading out)")
    return resolved


def load_manifest(options: ManifestOptions, root: Path) -> Dataset:
    """One sample per manifest row: the image at its path (relative to the CSV's folder), label = its
    label value's position in `classes`, the metadata columns as metadata. Raises DatasetError for a
    missing file or column, an empty manifest, a label outside `classes`, or a path (a row's, or the
    `file` option's) outside the dataset folder (`root`, or the CSV's folder when `root` is the CSV).
    """
    folder = root.parent if root.is_file() else root
    csv_path = root if root.is_file() else confined(folder, root / options.file, f"csv: option file '{options.file}'")
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
        where = f"csv {csv_path} line {line}"
        image = require_file(confined(folder, base / relative, f"{where}: path '{relative}'"), where)
        metadata = {c: row[c] for c in options.metadata_columns}
        samples.append(file_sample(image, key=relative, label=label_of[class_name], metadata=metadata))
    return Dataset("csv", classes, samples)
