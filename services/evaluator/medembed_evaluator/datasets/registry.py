"""Dataset kinds by name, and loading a dataset from its plan entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medembed_evaluator.datasets.base import Dataset
from medembed_evaluator.datasets.breakhis import BreakHisOptions, load_breakhis
from medembed_evaluator.datasets.deepdrid import DeepDridOptions, load_deepdrid
from medembed_evaluator.datasets.hicervix import HiCervixOptions, load_hicervix
from medembed_evaluator.datasets.imagefolder import ImageFolderOptions, load_imagefolder
from medembed_evaluator.datasets.isic2019 import load_isic2019
from medembed_evaluator.datasets.manifest import ManifestOptions, load_manifest
from medembed_evaluator.datasets.medmnist import (
    MedMnistOptions,
    PneumoniaMnistOptions,
    load_medmnist,
    load_pneumoniamnist,
)
from medembed_evaluator.datasets.options import NoOptions, parse_options
from medembed_evaluator.datasets.phantoms import PhantomOptions, load_phantoms
from medembed_evaluator.datasets.study_folders import (
    BrainMrOptions,
    load_brainmr,
    load_busi,
    load_sarscov2ct,
)
from medembed_evaluator.errors import DatasetError


@dataclass(frozen=True)
class DatasetKind:
    """A loader and the dataclass of its options; `needs_path` is False for generated data."""

    name: str
    load: Callable[[Any, Path], Dataset]
    options_type: type
    needs_path: bool = True

    def parse_options(self, options: Mapping[str, Any] | None) -> Any:
        return parse_options(self.options_type, options, where=f"dataset kind '{self.name}'")

    def __call__(self, options: Mapping[str, Any] | None, root: Path) -> Dataset:
        return self.load(self.parse_options(options), root)


_KINDS = (
    DatasetKind("imagefolder", load_imagefolder, ImageFolderOptions),
    DatasetKind("medmnist", load_medmnist, MedMnistOptions),
    DatasetKind("csv", load_manifest, ManifestOptions),
    DatasetKind("brainmr", load_brainmr, BrainMrOptions),
    DatasetKind("sarscov2ct", load_sarscov2ct, NoOptions),
    DatasetKind("pneumoniamnist", load_pneumoniamnist, PneumoniaMnistOptions),
    DatasetKind("busi", load_busi, NoOptions),
    DatasetKind("breakhis", load_breakhis, BreakHisOptions),
    DatasetKind("hicervix", load_hicervix, HiCervixOptions),
    DatasetKind("deepdrid", load_deepdrid, DeepDridOptions),
    DatasetKind("isic2019", load_isic2019, NoOptions),
    DatasetKind("phantoms", load_phantoms, PhantomOptions, needs_path=False),
)
DATASET_KINDS: dict[str, DatasetKind] = {kind.name: kind for kind in _KINDS}


@dataclass(frozen=True)
class DatasetSpec:
    """One `datasets:` entry of a plan."""

    name: str
    kind: str
    path: str | None = None
    """Relative to the data root (or absolute); default: the dataset's name, for kinds that read files."""
    options: Mapping[str, Any] = field(default_factory=dict)

    def root(self, data_root: Path) -> Path:
        return data_root / (self.path or self.name)


def dataset_kind(kind: str) -> DatasetKind:
    try:
        return DATASET_KINDS[kind]
    except KeyError:
        raise DatasetError(f"unknown dataset kind '{kind}' (known: {', '.join(sorted(DATASET_KINDS))})") from None


def load_dataset(spec: DatasetSpec, data_root: Path) -> Dataset:
    loader = dataset_kind(spec.kind)
    root = spec.root(Path(data_root))
    dataset = loader(spec.options, root)
    dataset.name = spec.name
    return dataset
