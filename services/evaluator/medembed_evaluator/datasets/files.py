"""File-system helpers shared by the loaders: image listing, file samples, CSV reading."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

from medembed_client.inputs import IMAGE_SUFFIXES
from medembed_evaluator.datasets.base import Sample
from medembed_evaluator.errors import DatasetError

ACCEPTED_SUFFIXES = ", ".join(sorted(IMAGE_SUFFIXES))
_MASK_STEM = re.compile(r"_mask(_\d+)?$", re.IGNORECASE)


def is_segmentation_mask(path: Path) -> bool:
    """`benign (4)_mask.png`, `benign (4)_mask_1.png`: the masks BUSI's public download ships beside images."""
    return bool(_MASK_STEM.search(path.stem))


def require_dir(folder: Path, what: str) -> Path:
    """`folder` when it is a directory; raises DatasetError ("WHAT: folder not found: FOLDER") otherwise."""
    if not folder.is_dir():
        raise DatasetError(f"{what}: folder not found: {folder}")
    return folder


def require_file(path: Path, what: str) -> Path:
    """`path` when it is a file; raises DatasetError ("WHAT: file not found: PATH") otherwise."""
    if not path.is_file():
        raise DatasetError(f"{what}: file not found: {path}")
    return path


def is_image(path: Path) -> bool:
    """Whether `path` is a visible file with an image suffix the client sends (medembed_client.inputs)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path, *, exclude: Callable[[Path], bool] | None = None) -> list[Path]:
    """Image files anywhere under `folder`, sorted by relative path so keys and order are stable."""
    return sorted(
        (p for p in folder.rglob("*") if is_image(p) and not (exclude and exclude(p))),
        key=lambda p: p.relative_to(folder).as_posix(),
    )


def file_sample(path: Path, *, key: str, label: int, metadata: Mapping[str, str] | None = None) -> Sample:
    """A Sample whose bytes are the file at `path`, read when asked for."""
    return Sample(
        key=key,
        label=label,
        metadata=dict(metadata or {}),
        load_bytes=partial(Path.read_bytes, path),
    )


def class_folder_samples(
    root: Path,
    class_dirs: Sequence[str],
    *,
    what: str,
    exclude: Callable[[Path], bool] | None = None,
    metadata: Mapping[str, str] | None = None,
    key_root: Path | None = None,
) -> list[Sample]:
    """One class per sub-folder of `root` (label = position in `class_dirs`); errors name the folder."""
    key_base = key_root or root
    samples: list[Sample] = []
    for label, class_dir in enumerate(class_dirs):
        folder = require_dir(root / class_dir, what)
        images = list_images(folder, exclude=exclude)
        if not images:
            raise DatasetError(f"{what}: no images in folder {folder} (image files end in {ACCEPTED_SUFFIXES})")
        samples.extend(
            file_sample(p, key=p.relative_to(key_base).as_posix(), label=label, metadata=metadata) for p in images
        )
    return samples


def read_csv_rows(path: Path, required_columns: Iterable[str], *, what: str) -> list[dict[str, str]]:
    """All rows of a CSV as dicts; a missing column is an error naming the file and the columns."""
    require_file(path, what)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        missing = [c for c in required_columns if c not in columns]
        if missing:
            raise DatasetError(
                f"{what}: {path} lacks column(s) {', '.join(missing)} (has: {', '.join(columns) or 'no header'})"
            )
        return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
