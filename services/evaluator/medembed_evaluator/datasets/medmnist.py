"""MedMNIST `.npz` archives (`{split}_images`, `{split}_labels`), including PneumoniaMNIST.

Images in every shape the releases use: (N, H, W) and (N, H, W, 1) gray, (N, H, W, 3) colour, any
size (28 to 224 in MedMNIST+); uint8, or float in [0, 1] (scaled by 255 and rounded). Anything
else is a DatasetError naming the file, key, shape and dtype, before any embedding.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.datasets.files import require_file
from medembed_evaluator.errors import DatasetError


@dataclass(frozen=True)
class MedMnistOptions:
    """Options of the `medmnist` kind (any MedMNIST / MedMNIST+ archive)."""

    file: str = ""
    """The .npz, relative to the dataset path; empty when the dataset path is the .npz itself."""
    splits: tuple[str, ...] = ("train",)
    classes: tuple[str, ...] = ()
    """Class names in label order; default: "0", "1", ... up to the largest label."""


@dataclass(frozen=True)
class PneumoniaMnistOptions:
    """Options of the `pneumoniamnist` kind: classes normal (0), pneumonia (1)."""

    file: str = "pneumoniamnist.npz"
    splits: tuple[str, ...] = ("train",)
    """The study used the train split (n=4708)."""


def load_medmnist(options: MedMnistOptions, root: Path) -> Dataset:
    """The archive's `splits` as one dataset, images PNG-encoded on load. Raises DatasetError for a
    missing file or array, or images of a shape or dtype MedMNIST does not use.
    """
    return _load_npz(root, options.file, options.splits, list(options.classes), kind="medmnist")


def load_pneumoniamnist(options: PneumoniaMnistOptions, root: Path) -> Dataset:
    """PneumoniaMNIST (the study's split: train, n=4708) as load_medmnist reads it, classes normal / pneumonia."""
    return _load_npz(root, options.file, options.splits, ["normal", "pneumonia"], kind="pneumoniamnist")


def _load_npz(root: Path, file: str, splits: tuple[str, ...], classes: list[str], *, kind: str) -> Dataset:
    npz_path = require_file(root if root.is_file() or not file else root / file, kind)
    samples: list[Sample] = []
    with np.load(npz_path, allow_pickle=False) as archive:
        for split in splits:
            images = _images(_array(archive, f"{split}_images", npz_path, kind), f"{split}_images", npz_path, kind)
            labels = _labels(_array(archive, f"{split}_labels", npz_path, kind), npz_path, kind)
            if len(images) != len(labels):
                raise DatasetError(f"{kind}: {npz_path}: {split}_images and {split}_labels differ in length")
            samples.extend(
                Sample(
                    key=f"{split}/{i}",
                    label=int(label),
                    metadata={"split": split},
                    load_bytes=partial(_encode_png, images, i),
                )
                for i, label in enumerate(labels)
            )
    if not samples:
        raise DatasetError(f"{kind}: no images in {npz_path} for splits {', '.join(splits)}")
    n_classes = max(s.label for s in samples) + 1
    classes = classes or [str(i) for i in range(n_classes)]
    if n_classes > len(classes):
        raise DatasetError(f"{kind}: {npz_path} has label {n_classes - 1} but only {len(classes)} class names")
    return Dataset(kind, classes, samples)


def _array(archive: np.lib.npyio.NpzFile, key: str, path: Path, kind: str) -> np.ndarray:
    if key not in archive.files:
        raise DatasetError(f"{kind}: {path} has no array '{key}' (has: {', '.join(sorted(archive.files))})")
    return archive[key]


def _images(images: np.ndarray, key: str, path: Path, kind: str) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, 3)."""
    def refuse(why: str) -> DatasetError:
        return DatasetError(f"{kind}: {path}: '{key}' of shape {images.shape} and dtype {images.dtype} {why}; "
                            "expected (N, H, W), (N, H, W, 1) or (N, H, W, 3), uint8 or float in [0, 1]")

    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise refuse("is not a stack of gray or RGB images")
    if min(images.shape[1:3], default=0) < 1:
        raise refuse("has empty images")
    if images.dtype == np.uint8:
        return images
    if images.dtype.kind != "f":
        raise refuse("is not uint8 or float")
    finite = np.isfinite(images)
    if images.size and not (finite.all() and images.min() >= 0.0 and images.max() <= 1.0):
        shown = images[finite]
        span = f"min {shown.min():g}, max {shown.max():g}" if shown.size else "no finite value"
        raise refuse(f"has values outside [0, 1] ({span}; {int((~finite).sum())} NaN/inf)")
    return np.round(images * 255.0).astype(np.uint8)


def _labels(labels: np.ndarray, path: Path, kind: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DatasetError(f"{kind}: {path}: labels of shape {labels.shape} are multi-label, not supported")
    return labels.astype(np.int64)


def _encode_png(images: np.ndarray, index: int) -> bytes:
    buffer = io.BytesIO()
    # compress_level=0 keeps the bytes (and so the content hash) independent of the zlib build.
    Image.fromarray(np.ascontiguousarray(images[index])).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()
