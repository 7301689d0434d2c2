"""The probe's metrics on one evaluated set, and percentile-bootstrap intervals on the holdout.

Every metric is scikit-learn's own function: accuracy_score, f1_score (macro; binary with label 1
positive for 2 classes), balanced_accuracy_score, and roc_auc_score for the macro one-vs-rest
AUROC from the probe's scores (decision_function or predict_proba). Values are fractions in [0, 1].

The bootstrap follows Patho-Bench (mahmoodlab/Patho-Bench, patho_bench/experiments/BaseExperiment.py:
`bootstrap` draws n of the n evaluated rows with replacement per resample, `get_95_ci` takes
np.percentile 2.5 and 97.5 of the metric over the resamples; a metric undefined on any resample
has no interval, "N/A" there). The draws: numpy.random.RandomState(seed), one `randint(0, n, n)`
per resample, the same rows for every metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.preprocessing import label_binarize

METRICS = ("accuracy", "macro_f1", "binary_f1", "balanced_accuracy", "auroc")
"""Every metric a probe reports, in results order; binary_f1 only for 2 classes, auroc only with scores."""
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Evaluated:
    """One fit's evaluated rows: true labels [n], predicted labels [n], and scores ([n] for 2 classes:
    the positive class's; [n, classes] otherwise; None for a probe without scores)."""

    y_true: np.ndarray
    predicted: np.ndarray
    scores: np.ndarray | None
    n_classes: int

    def take(self, rows: np.ndarray) -> Evaluated:
        """The same evaluation on `rows` (indices, repeats allowed)."""
        return Evaluated(self.y_true[rows], self.predicted[rows], None if self.scores is None else self.scores[rows],
                         self.n_classes)


def positive_scores(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """decision_function or predict_proba output in Evaluated's layout: for 2 classes the positive
    class's score [n] (a [n, 2] predict_proba gives its column 1), else [n, classes] unchanged."""
    scores = np.asarray(scores, dtype=np.float64)
    if n_classes == 2 and scores.ndim == 2:
        return scores[:, 1]
    return scores


def macro_auroc(y_true: np.ndarray, scores: np.ndarray, n_classes: int) -> float | None:
    """Macro one-vs-rest AUROC: roc_auc_score of each class against the rest, averaged (for 2 classes
    the one binary AUROC). Computed as roc_auc_score(label_binarize(y), scores, average="macro"),
    which is what roc_auc_score(multi_class="ovr") does, without its check that the scores sum to
    1, so a decision_function's scores work too. None when a class is absent from `y_true`.
    """
    present = np.unique(y_true)
    if len(present) < n_classes:
        return None
    if n_classes == 2:
        return float(roc_auc_score(y_true, scores))
    return float(roc_auc_score(label_binarize(y_true, classes=np.arange(n_classes)), scores, average="macro"))


def metric_values(evaluated: Evaluated) -> dict[str, float | None]:
    """Every metric of METRICS on one evaluated set; binary_f1 only for 2 classes, auroc None without scores."""
    y, predicted = evaluated.y_true, evaluated.predicted
    values: dict[str, float | None] = {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, average="macro")),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "auroc": None if evaluated.scores is None else macro_auroc(y, evaluated.scores, evaluated.n_classes),
    }
    if evaluated.n_classes == 2:
        values["binary_f1"] = float(f1_score(y, predicted, pos_label=1, average="binary"))
    return values


def resample_rows(n: int, resamples: int, seed: int) -> list[np.ndarray]:
    """`resamples` bootstrap draws of n row indices in [0, n) with replacement:
    numpy.random.RandomState(seed), one randint(0, n, n) per resample."""
    rng = np.random.RandomState(seed)
    return [rng.randint(0, n, n) for _ in range(resamples)]


def bootstrap_intervals(holdouts: Sequence[Evaluated], seeds: Sequence[int], resamples: int,
                        metrics: Callable[[Evaluated], dict[str, float | None]] = metric_values,
                        ) -> dict[str, tuple[float, float] | None]:
    """95 % percentile-bootstrap interval of each metric's holdout score.

    One holdout per repeat, resampled with its repeat's seed; with several repeats, resample b's
    value is the mean of the repeats' b-th resamples (the interval of the mean holdout score the
    table shows). A metric undefined on any resample (AUROC with a class drawn out) gets None.
    Returns {metric: (low, high)} for the metrics `metrics` gives; {} when resamples is 0.
    """
    if resamples <= 0:
        return {}
    per_repeat = []
    for holdout, seed in zip(holdouts, seeds, strict=True):
        with warnings.catch_warnings():
            # A resample may miss a class: F1's undefined precision counts 0 (sklearn's zero_division
            # default) and balanced accuracy averages the classes present; both are the metric's definition.
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
            warnings.filterwarnings("ignore", message="A single label was found in 'y_true' and 'y_pred'")
            per_repeat.append([metrics(holdout.take(rows)) for rows in resample_rows(len(holdout.y_true), resamples,
                                                                                     seed)])
    intervals: dict[str, tuple[float, float] | None] = {}
    tail = 100.0 * (1.0 - CONFIDENCE) / 2.0
    for name in per_repeat[0][0]:
        values = [[draw[name] for draw in draws] for draws in per_repeat]
        if any(value is None for draws in values for value in draws):
            intervals[name] = None
            continue
        means = np.mean(np.asarray(values, dtype=np.float64), axis=0)
        low, high = np.percentile(means, [tail, 100.0 - tail])
        intervals[name] = (float(low), float(high))
    return intervals
