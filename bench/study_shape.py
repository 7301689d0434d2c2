"""The full study's shape for the cost benchmarks: its eight datasets (images, classes) and its
models (family, embedding dimension), read from deploy/plans/study.yaml and the model catalog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medembed_encoder.catalog import load_catalog
from medembed_evaluator.plan.load import load_plan
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID

ROOT = Path(__file__).resolve().parent.parent
STUDY_PLAN = ROOT / "deploy" / "plans" / "study.yaml"
RAW_PIXELS_DIM = 1024  # 32 x 32 gray


@dataclass(frozen=True)
class StudyDataset:
    name: str
    class_counts: tuple[int, ...]
    source: str

    @property
    def n(self) -> int:
        return sum(self.class_counts)

    def scaled(self, scale: float, min_per_class: int = 10) -> StudyDataset:
        """The same classes with `scale` times the images (each class keeps enough for the folds)."""
        counts = tuple(max(min_per_class, round(c * scale)) for c in self.class_counts)
        return StudyDataset(self.name, counts, self.source)


def _long_tail(total: int, classes: int, exponent: float) -> tuple[int, ...]:
    weights = 1.0 / np.arange(1, classes + 1) ** exponent
    counts = np.maximum(30, np.round(total * weights / weights.sum())).astype(int)
    counts[0] += total - counts.sum()
    return tuple(int(c) for c in counts)


# The images each study dataset's adapter loads by default (the plan's splits), per class.
STUDY_DATASETS = (
    StudyDataset("BrainMR", (826, 822, 395, 827), "Kaggle Training folder, n = 2,870 (study README)"),
    StudyDataset("SARS-COV-2-CT", (1230, 1252), "Soares et al. 2020: 1,252 COVID, 1,230 non-COVID"),
    StudyDataset("PneumoniaMNIST", (1214, 3494), "MedMNIST train split, n = 4,708 (study README)"),
    StudyDataset("BreastUS", (437, 210, 133), "BUSI: 437 benign, 210 malignant, 133 normal"),
    StudyDataset("BreakHis", (2480, 5429), "BreaKHis v1, all magnifications: 2,480 benign, 5,429 malignant"),
    StudyDataset("HiCervix", _long_tail(22000, 26, 0.9),
                 "train.csv, about 22,000 of the 40,229 cells, its 26 class_name values (long tail assumed)"),
    StudyDataset("DeepDRiD", (540, 144, 240, 192, 84), "regular fundus training split, 1,200 images (grades assumed)"),
    StudyDataset("ISIC2019", (4522, 12875, 3323, 867, 2624, 239, 253, 628),
                 "ISIC 2019 training set, 25,331 images, 8 classes (UNK empty)"),
)


@dataclass(frozen=True)
class StudyModel:
    id: str
    family: str
    dim: int


def study_models(plan_path: Path = STUDY_PLAN) -> list[StudyModel]:
    """Every model of the study plan with its encoder family and default-spec dimension."""
    catalog = load_catalog()
    models = []
    for model in load_plan(plan_path).models:
        if model.id == RAW_PIXELS_MODEL_ID:
            models.append(StudyModel(model.id, "raw-pixels", RAW_PIXELS_DIM))
        else:
            entry = catalog[model.id]
            if entry.dim is None:
                raise SystemExit(f"catalog entry {model.id!r} states no dim; add it to the catalog")
            models.append(StudyModel(model.id, entry.family, int(entry.dim)))
    return models


def synthetic_features(dataset: StudyDataset, dim: int, seed: int = 0, separation: float = 0.5,
                       rank: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Embedding-like features [n, dim] float32 and labels [n]: class means in a `rank`-dim latent
    space, mixed into `dim` correlated features with noise, per-feature scales and offsets (what
    StandardScaler then undoes). `separation` sets how far apart the classes are (0.5: a probe
    scores in the study's range, neither chance nor perfect)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(dataset.class_counts)), dataset.class_counts)
    rng.shuffle(y)
    means = rng.standard_normal((len(dataset.class_counts), rank)) * separation
    mixing = rng.standard_normal((rank, dim)).astype(np.float32) / np.sqrt(rank)
    latent = (means[y] + rng.standard_normal((len(y), rank))).astype(np.float32)
    X = latent @ mixing + 0.5 * rng.standard_normal((len(y), dim), dtype=np.float32)
    X = X * rng.lognormal(0.0, 0.5, dim).astype(np.float32) + rng.normal(0.0, 1.0, dim).astype(np.float32)
    return X.astype(np.float32), y


@dataclass(frozen=True)
class StandIn:
    """A timm architecture with the FLOPs of a study model's image tower, to time its forward with
    random weights on a machine without that model's own library or weights."""

    architecture: str
    input_size: int
    note: str = ""


# Each study model's vision tower as a timm architecture of the same shape and input size.
STAND_INS = {
    "biomedclip": StandIn("vit_base_patch16_clip_224", 224),
    "clip-vit-b-16": StandIn("vit_base_patch16_clip_224", 224),
    "conch": StandIn("vit_base_patch16_224", 448, "CONCH's tower takes 448 px"),
    "clip-vit-l-14": StandIn("vit_large_patch14_clip_224", 224),
    "clip-vit-h-14": StandIn("vit_huge_patch14_clip_224", 224),
    "clip-vit-g-14": StandIn("vit_giant_patch14_clip_224", 224),
    "clip-vit-bigg-14": StandIn("vit_gigantic_patch14_clip_224", 224),
    "eva02-l-14-336": StandIn("eva02_large_patch14_clip_336", 336),
    "llava-med-v1.5-mistral-7b": StandIn("vit_large_patch14_clip_336", 336, "projector MLP not counted"),
    "llava-med-pp": StandIn("vit_large_patch14_clip_336", 336, "projector MLP not counted"),
    "llava-v1.6-mistral-7b": StandIn("vit_large_patch14_clip_336", 336, "one 336 px view, projector not counted"),
    "llava-v1.6-vicuna-13b": StandIn("vit_large_patch14_clip_336", 336, "one 336 px view, projector not counted"),
    "llm2clip-openai-l-14-336": StandIn("vit_large_patch14_clip_336", 336),
    "uni": StandIn("vit_large_patch16_224", 224),
    "vit-l-16": StandIn("vit_large_patch16_224", 224),
    "cxr-clip-swint": StandIn("swin_tiny_patch4_window7_224", 224),
    "flair": StandIn("resnet50", 512, "FLAIR takes 512 px"),
    "resnet50": StandIn("resnet50", 224),
    "vgg16": StandIn("vgg16", 224),
}
