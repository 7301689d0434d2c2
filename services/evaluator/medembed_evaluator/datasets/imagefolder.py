"""Generic ImageFolder layout: one sub-folder per class, classes sorted by folder name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medembed_evaluator.datasets.base import Dataset
from medembed_evaluator.datasets.files import class_folder_samples, require_dir
from medembed_evaluator.errors import DatasetError


@dataclass(frozen=True)
class ImageFolderOptions:
    classes: tuple[str, ...] = ()
    """Class folders to use, in label order; default: every sub-folder, sorted."""


def load_imagefolder(options: ImageFolderOptions, root: Path) -> Dataset:
    require_dir(root, "imagefolder")
    classes = list(options.classes) or sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not classes:
        raise DatasetError(f"imagefolder: no class sub-folders in {root}")
    return Dataset("imagefolder", classes, class_folder_samples(root, classes, what="imagefolder"))
