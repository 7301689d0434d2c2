"""Per dataset: its size, its classes, and what always answering the majority class scores.

A probe's accuracy means little without it: on BUSI (437 benign of 780) answering "benign" for
every image is right 56 % of the time. The baseline answers the dataset's most frequent class and
is scored on the probe's own cross-validation folds, so it compares cell by cell with the table.
(The majority of each fold's training part would do worse than that on balanced data: the class a
fold's training part has most of is the one its validation part has least of.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, f1_score

from medembed_evaluator.datasets import Dataset
from medembed_evaluator.probe import Score, cv_folds
from medembed_evaluator.probe_protocol import Protocol


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset of the run: its size, class counts, and the majority-class baseline."""

    name: str
    kind: str
    n: int
    class_counts: dict[str, int]
    majority_class: str
    majority_accuracy: Score
    """Always answering the dataset's most frequent class, scored on the probe's folds."""
    majority_macro_f1: Score

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (results.json "datasets"); scores as fractions in [0, 1]."""
        return {"name": self.name, "kind": self.kind, "n": self.n, "class_counts": self.class_counts,
                "majority_class": self.majority_class,
                "majority_accuracy": _fold_dict(self.majority_accuracy),
                "majority_macro_f1": _fold_dict(self.majority_macro_f1)}


def _fold_dict(score: Score) -> dict[str, Any]:
    return {"mean": score.mean, "std": score.std, "folds": score.folds}


def summarize_dataset(dataset: Dataset, kind: str, protocol: Protocol) -> DatasetSummary:
    """The dataset's summary: the majority class (scikit-learn's DummyClassifier, most_frequent, over
    the whole dataset) scored for accuracy and macro F1 (zero_division=0) on `protocol`'s
    cross-validation folds, the same folds the probe uses.
    """
    labels = dataset.labels()
    counts = dataset.class_counts()
    majority = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(labels), 1)), labels)
    accuracy, macro_f1 = [], []
    for fold in cv_folds(labels, protocol):
        predicted = majority.predict(np.zeros((len(fold.evaluate), 1)))
        truth = labels[fold.evaluate]
        accuracy.append(float(accuracy_score(truth, predicted)))
        macro_f1.append(float(f1_score(truth, predicted, average="macro", labels=np.arange(len(counts)),
                                       zero_division=0)))
    return DatasetSummary(name=dataset.name, kind=kind, n=len(labels), class_counts=counts,
                          majority_class=max(counts, key=counts.__getitem__),
                          majority_accuracy=Score(accuracy, []), majority_macro_f1=Score(macro_f1, []))
