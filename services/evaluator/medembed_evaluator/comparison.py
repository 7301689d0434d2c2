"""`compare: published` — the study's published value and our difference beside each cell.

The published table (published/study_table.csv, with its source and caveats in published/README.md)
has one row per (model, backbone, dataset, metric). Our model ids map to its rows by the catalog
ids of the study's models; our datasets map to its columns by dataset kind (a `busi` dataset is
BreastUS) or by name. A plan can add its own mappings:

    compare: {table: published, models: {my-clip: "CLIP B/16"}, datasets: {my-busi: BreastUS}}
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

TABLES = ("published",)
PUBLISHED_CSV = "study_table.csv"
# Our catalog ids -> the published table's (model, backbone), as "model backbone".
MODEL_ROWS = {
    "biomedclip": "BiomedCLIP B-16",
    "llava-med-v1.5-mistral-7b": "LLaVA-Med L/14-336",
    "llava-med-pp": "LLaVA-Med++ L/14-336",
    "uni": "UNI B/16",
    "conch": "CONCH ViT (CoCa)",
    "flair": "FLAIR ResNet50",
    "cxr-clip-swint": "CXR-CLIP SwinT",
    "clip-vit-b-16": "CLIP B/16",
    "clip-vit-l-14": "CLIP L/14",
    "clip-vit-g-14": "CLIP G/14",
    "eva02-l-14-336": "EVA02 L/14-336",
    "llava-v1.6-mistral-7b": "LLaVA Mistral-7b",
    "llava-v1.6-vicuna-13b": "LLaVA Vicuna-13B",
    "llm2clip-openai-l-14-336": "LLM2CLIP L/14-336",
    "vgg16": "VGG16 VGG16",
    "resnet50": "ResNet50 ResNet50",
    "vit-l-16": "ViT-L/16 ViT-L/16",
}
# Dataset kinds -> the published table's dataset column.
DATASET_COLUMNS = {
    "brainmr": "BrainMR", "sarscov2ct": "SARS-COV-2-CT", "pneumoniamnist": "PneumoniaMNIST", "busi": "BreastUS",
    "breakhis": "BreakHis", "hicervix": "HiCervix", "deepdrid": "DeepDRiD", "isic2019": "ISIC2019",
}
# The study's n per dataset column, where the source states it (published/README.md).
STUDY_N = {"BrainMR": 2870, "PneumoniaMNIST": 4708}
DATASET_ALIASES = {**{column.lower(): column for column in DATASET_COLUMNS.values()}, "busi": "BreastUS"}
METRICS = {"accuracy": "accuracy", "macro_f1": "f1"}
MARKS = {"dagger": "†", "u": "u"}
COPIED_COLUMN, COPY_EXCEPT = "BreastUS", {"FLAIR ResNet50"}
CAVEATS = (
    "Published values are the study's own table (its README), in percent, mean±std over folds; Δ is our mean "
    "minus the published mean, in percentage points.",
    "‡ BreastUS: the published BreastUS columns repeat Brain MR for every model but FLAIR (a copy error in the "
    "source), so there is no published BUSI value to compare for them.",
    "Brain MR is labelled 2 classes in the source, but its Kaggle set has 4; n = 2,870 is the Training folder.",
    "PneumoniaMNIST: n = 4,708 is its train split (the `pneumoniamnist` kind's default split).",
    "n: where our pair's n differs from the study's (stated for Brain MR and PneumoniaMNIST only), the cell says "
    "so as \"n ours vs theirs\": such a Δ compares different image sets.",
    "UNI is listed as B/16 in the source; the released UNI is ViT-L/16.",
    "† and u are the source's own footnotes, unexplained there.",
)


@dataclass(frozen=True)
class CompareSettings:
    """The plan's `compare:` section (`compare: published` for the defaults): the study's published
    value and our difference beside each cell. plan.schema.Plan holds it; it lives here, beside what it
    configures, so that the plan imports the comparison and not the other way round."""

    table: str = "published"
    models: dict[str, str] = field(default_factory=dict)
    """Plan model id or label -> a published row, "model backbone" (e.g. "CLIP B/16")."""
    datasets: dict[str, str] = field(default_factory=dict)
    """Plan dataset name -> a published dataset column (e.g. "BreastUS")."""


@dataclass(frozen=True)
class PublishedCell:
    """One cell of the published table: mean and std over folds in percent, and the source's footnote mark."""

    mean: float
    std: float
    mark: str
    comparable: bool = True
    """False where the source is known to be wrong (BreastUS copying Brain MR)."""
    n: int | None = None
    """The study's number of images in the dataset, where the source states it (STUDY_N)."""


@dataclass(frozen=True)
class Comparison:
    """Published cells by (our model id, our dataset name, our metric attribute)."""

    cells: dict[tuple[str, str, str], PublishedCell]
    rows: dict[str, str]
    """Our model id -> the published row it is compared with."""
    columns: dict[str, str]
    """Our dataset name -> the published column."""

    def cell(self, model_id: str, dataset: str, metric: str) -> PublishedCell | None:
        """The published cell beside our (model id, dataset name, metric "accuracy" | "macro_f1"), or None."""
        return self.cells.get((model_id, dataset, metric))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (results.json "comparison"), with the caveats."""
        return {"rows": self.rows, "columns": self.columns, "caveats": list(CAVEATS),
                "cells": [{"model": m, "dataset": d, "metric": k, "published_mean_pct": c.mean,
                           "published_std_pct": c.std, "mark": c.mark, "comparable": c.comparable,
                           "published_n": c.n}
                          for (m, d, k), c in self.cells.items()]}


def published_table() -> dict[tuple[str, str, str], PublishedCell]:
    """(row "model backbone", dataset column, metric "accuracy" | "f1") -> the published cell."""
    text = (resources.files("medembed_evaluator") / "published" / PUBLISHED_CSV).read_text(encoding="utf-8")
    table = {}
    for record in csv.DictReader(text.splitlines()):
        row = f"{record['model']} {record['backbone']}"
        comparable = record["dataset"] != COPIED_COLUMN or row in COPY_EXCEPT
        table[(row, record["dataset"], record["metric"])] = PublishedCell(
            float(record["mean_pct"]), float(record["std_pct"]), MARKS.get(record["mark"], record["mark"]), comparable,
            STUDY_N.get(record["dataset"]))
    return table


def build_comparison(settings: CompareSettings, models: Mapping[str, str], datasets: Mapping[str, str]) -> Comparison:
    """The published cells for our models and datasets: each model id maps to a published row by
    `settings.models` (id or label), then MODEL_ROWS; each dataset to a column by `settings.datasets`,
    then its kind (DATASET_COLUMNS), then its name. `models`: our model id -> label; `datasets`:
    our dataset name -> kind. Models and datasets the table lacks are left out."""
    table = published_table()
    rows = {}
    for model_id, label in models.items():
        row = settings.models.get(model_id) or settings.models.get(label) or MODEL_ROWS.get(model_id)
        if row is not None:
            rows[model_id] = row
    columns = {}
    for name, kind in datasets.items():
        column = settings.datasets.get(name) or DATASET_COLUMNS.get(kind) or DATASET_ALIASES.get(name.lower())
        if column is not None:
            columns[name] = column
    cells = {(model_id, name, ours): table[(row, column, theirs)]
             for model_id, row in rows.items() for name, column in columns.items()
             for ours, theirs in METRICS.items() if (row, column, theirs) in table}
    return Comparison(cells, rows, columns)
