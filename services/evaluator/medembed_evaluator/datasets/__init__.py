"""Datasets as one model (`Dataset` of `Sample`s), with a loader per layout.

`load_dataset(entry, data_root)` turns a plan's dataset entry (plan.schema.DatasetEntry) into a
Dataset; `DATASET_KINDS` names the loaders: generic layouts (imagefolder, medmnist, csv), the
study's eight datasets in the layout their public release ships, synthetic `phantoms`, and
`volumes` (a folder per class of NIfTI files or DICOM series, with the plan's slice rule and window).
"""

from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.datasets.registry import DATASET_KINDS, DatasetKind, dataset_kind, load_dataset

__all__ = ["DATASET_KINDS", "Dataset", "DatasetKind", "Sample", "dataset_kind", "load_dataset"]
