"""Datasets as one model (`Dataset` of `Sample`s), with a loader per layout.

`load_dataset(spec, data_root)` turns a plan entry into a Dataset; `DATASET_KINDS` names the
loaders: generic layouts (imagefolder, medmnist, csv), the study's eight datasets in the layout
their public release ships, and synthetic `phantoms`.
"""

from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.datasets.registry import (
    DATASET_KINDS,
    DatasetKind,
    DatasetSpec,
    dataset_kind,
    load_dataset,
)

__all__ = ["DATASET_KINDS", "Dataset", "DatasetKind", "DatasetSpec", "Sample", "dataset_kind", "load_dataset"]
