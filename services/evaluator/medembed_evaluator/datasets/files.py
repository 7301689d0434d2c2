"""File-system helpers shared by the loaders: image listing, file samples, CSV reading.

Which files of a folder are samples is the client's rule (medembed_client.files), the one
`medembed embed DIR` follows: files known by their content (DICOM without a suffix included), a
DICOMDIR skipped and named in the log, hidden and system files (`._*`, `.DS_Store`,
`.ipynb_checkpoints/`, `__MACOSX/`, `Thumbs.db`, `desktop.ini`) never samples.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

from medembed_client.files import folder_files
from medembed_evaluator.datasets.base import Sample
from medembed_evaluator.errors import DatasetError

log = logging.getLogger(__name__)
KNOWN_FORMATS = "PNG, JPEG, TIFF, BMP, WEBP, DICOM (with or without a suffix) or NIfTI"
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


def list_images(folder: Path, *, exclude: Callable[[Path], bool] | None = None, what: str = "") -> list[Path]:
    """The samples under `folder` by the client's rule (medembed_client.files.folder_files), sorted by
    relative path so keys and order are stable; `exclude` drops more. What was left out (a DICOMDIR,
    hidden, system and other files) is logged, prefixed with `what` (the dataset kind)."""
    found = folder_files(folder)
    prefix = f"{what} " if what else ""
    for skip in found.skipped:
        log.info("%s%s: skipped %s: %s", prefix, folder, skip.path.relative_to(folder).as_posix(), skip.reason)
    if summary := found.summary(folder):
        log.info("%s%s: %s", prefix, folder, summary)
    return [p for p in found.samples if not (exclude and exclude(p))]


def sample_key(path: Path, base: Path) -> str:
    """`path` relative to `base`, `/`-separated: a sample's key. Bytes of a name that are not valid
    UTF-8 (Latin-1 names from archives and network shares) are written as `\\xNN` escapes, so the key
    is always text that encodes and stores (a valid UTF-8 name is unchanged)."""
    return os.fsencode(path.relative_to(base).as_posix()).decode("utf-8", "backslashreplace")


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
        images = list_images(folder, exclude=exclude, what=what)
        if not images:
            raise DatasetError(f"{what}: no images in folder {folder} (files are known by their content: "
                               f"{KNOWN_FORMATS}; hidden and system files never count)")
        samples.extend(file_sample(p, key=sample_key(p, key_base), label=label, metadata=metadata) for p in images)
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
