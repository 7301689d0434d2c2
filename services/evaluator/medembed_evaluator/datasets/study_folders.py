"""The study's datasets that ship as one folder per class: BrainMR, SARS-CoV-2 CT, BUSI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medembed_evaluator.datasets.base import Dataset, NoOptions, Sample
from medembed_evaluator.datasets.files import class_folder_samples, is_segmentation_mask, require_dir

BRAINMR_CLASSES = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")
# non-COVID first so that COVID is label 1, the positive class of the binary F1.
SARSCOV2CT_CLASSES = ("non-COVID", "COVID")
BUSI_CLASSES = ("benign", "malignant", "normal")


@dataclass(frozen=True)
class BrainMrOptions:
    """Options of the `brainmr` kind."""

    splits: tuple[str, ...] = ("Training",)
    """Top-level folders of the Kaggle release to include: Training and/or Testing."""


def load_brainmr(options: BrainMrOptions, root: Path) -> Dataset:
    """Kaggle "brain-tumor-classification-mri": `Training/<class>/*.jpg`, optional `Testing/`."""
    require_dir(root, "brainmr")
    samples: list[Sample] = []
    for split in options.splits:
        samples.extend(
            class_folder_samples(
                root / split, BRAINMR_CLASSES, what="brainmr", metadata={"split": split}, key_root=root
            )
        )
    return Dataset("brainmr", list(BRAINMR_CLASSES), samples)


def load_sarscov2ct(options: NoOptions, root: Path) -> Dataset:
    """Kaggle "sarscov2-ctscan-dataset": `COVID/*.png`, `non-COVID/*.png`."""
    require_dir(root, "sarscov2ct")
    return Dataset(
        "sarscov2ct", list(SARSCOV2CT_CLASSES), class_folder_samples(root, SARSCOV2CT_CLASSES, what="sarscov2ct")
    )


def load_busi(options: NoOptions, root: Path) -> Dataset:
    """Dataset_BUSI_with_GT: `benign/ malignant/ normal/`, segmentation masks (`*_mask*.png`) left out."""
    require_dir(root, "busi")
    samples = class_folder_samples(root, BUSI_CLASSES, what="busi", exclude=is_segmentation_mask)
    return Dataset("busi", list(BUSI_CLASSES), samples)
