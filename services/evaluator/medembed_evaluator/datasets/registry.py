"""Dataset kinds by name, and loading a dataset from its plan entry (plan.schema.DatasetEntry, or
anything shaped like it: `DatasetSource`). The plan imports this module to check options by kind;
this module never imports the plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from medembed_evaluator.datasets.base import Dataset, NoOptions
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
from medembed_evaluator.datasets.phantoms import PhantomOptions, load_phantoms
from medembed_evaluator.datasets.study_folders import (
    BrainMrOptions,
    load_brainmr,
    load_busi,
    load_sarscov2ct,
)
from medembed_evaluator.datasets.volumes import VolumeOptions, load_volumes
from medembed_evaluator.errors import DatasetError, EvaluatorError
from medembed_evaluator.typed_settings import read_settings


@dataclass(frozen=True)
class DatasetKind:
    """A loader and the dataclass of its options; `needs_path` is False for generated data."""

    name: str
    load: Callable[[Any, Path], Dataset]
    """(options, root) -> Dataset; raises DatasetError for missing or malformed files."""
    options_type: type
    needs_path: bool = True

    def read_options(self, options: Mapping[str, Any] | None, *, where: str,
                     error: type[EvaluatorError] = DatasetError) -> Any:
        """`options` (as the plan writes them) read into `options_type` by typed_settings (pydantic);
        raises `error` naming `where` and the key."""
        return read_settings(self.options_type, options, where=where, error=error)


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
    DatasetKind("volumes", load_volumes, VolumeOptions),
)
DATASET_KINDS: dict[str, DatasetKind] = {kind.name: kind for kind in _KINDS}


def dataset_kind(kind: str) -> DatasetKind:
    """The kind named `kind`; raises DatasetError listing the known kinds."""
    try:
        return DATASET_KINDS[kind]
    except KeyError:
        raise DatasetError(f"unknown dataset kind '{kind}' (known: {', '.join(sorted(DATASET_KINDS))})") from None


class DatasetSource(Protocol):
    """What loading needs of a plan's dataset entry (plan.schema.DatasetEntry is one)."""

    @property
    def name(self) -> str:
        """The dataset's name in the plan (its column in the table)."""
        ...

    @property
    def kind(self) -> str:
        """A key of DATASET_KINDS."""
        ...

    @property
    def options(self) -> dict[str, Any]:
        """The kind's options as the plan writes them."""
        ...

    def root(self, data_root: Path) -> Path:
        """The dataset's folder or file under `data_root`."""
        ...


def load_dataset(entry: DatasetSource, data_root: Path) -> Dataset:
    """The dataset a plan entry describes, read from `entry.root(data_root)` (generated kinds read nothing).

    Raises DatasetError: unknown kind, options that do not fit the kind, missing or malformed files.
    """
    kind = dataset_kind(entry.kind)
    options = kind.read_options(entry.options, where=f"dataset '{entry.name}' options")
    dataset = kind.load(options, entry.root(Path(data_root)))
    dataset.name = entry.name
    return dataset
