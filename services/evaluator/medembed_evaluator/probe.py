"""The probe protocol: the study's splits and the probes fit on them.

Splits: a stratified 20 % holdout; stratified k-fold CV on the remaining 80 %. Probes (the plan's
`protocol.probes`, default the study's alone): `svm`, the study's StandardScaler ->
LinearSVC(C = 100 / n_train), every fit with its own C from the number of samples it is fit on;
`logreg` and `knn` (probe_kinds.py). Every probe sees exactly the same splits.
Scores are fractions in [0, 1]; means and stds are over folds (population std, np.std); the
holdout score of each metric carries a 95 % bootstrap interval (probe_metrics.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from medembed_evaluator.errors import ProtocolError
from medembed_evaluator.probe_fits import Fit, FitTask, Predicted, predict_fits
from medembed_evaluator.probe_metrics import METRICS, Evaluated, bootstrap_intervals, metric_values
from medembed_evaluator.probe_protocol import Protocol


@dataclass(frozen=True)
class Score:
    """One metric: every fold of every repeat, and the holdout score of each repeat."""

    folds: list[float]
    holdouts: list[float]
    interval: tuple[float, float] | None = None
    """95 % percentile-bootstrap interval of `holdout` (probe_metrics.bootstrap_intervals); None when
    the protocol draws no resamples or the metric is undefined on one of them."""

    @property
    def mean(self) -> float:
        """Mean over every fold of every repeat, in [0, 1]."""
        return float(np.mean(self.folds))

    @property
    def std(self) -> float:
        """Population std (np.std) over every fold of every repeat."""
        return float(np.std(self.folds))

    @property
    def holdout(self) -> float:
        """Mean of the repeats' holdout scores, in [0, 1]."""
        return float(np.mean(self.holdouts))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready {mean, std, folds, holdout, holdouts, holdout_interval ([low, high] or None)}."""
        return {
            "mean": self.mean,
            "std": self.std,
            "folds": self.folds,
            "holdout": self.holdout,
            "holdouts": self.holdouts,
            "holdout_interval": list(self.interval) if self.interval else None,
        }


@dataclass(frozen=True)
class ProbeResult:
    """One probe's result on one pair: accuracy, macro F1 (and binary F1 for 2 classes), balanced
    accuracy and macro one-vs-rest AUROC over folds and holdouts."""

    protocol: Protocol
    class_names: list[str]
    n_train: int
    """Samples left for cross-validation after the holdout split (the holdout model's training set)."""
    n_test: int
    accuracy: Score
    macro_f1: Score
    binary_f1: Score | None
    """Only for 2 classes; the positive class is label 1."""
    convergence_warnings: int = 0
    fold_n_train: list[int] = field(default_factory=list)
    probe: str = "svm"
    """Which probe of probe_kinds.PROBES gave these numbers."""
    balanced_accuracy: Score | None = None
    auroc: Score | None = None
    """Macro one-vs-rest AUROC from the probe's decision_function or predict_proba."""
    chosen_c: list[float] = field(default_factory=list)
    """logreg: the C its inner cross-validation chose, per fit (folds in order, then the holdout fit)."""

    def score(self, metric: str) -> Score | None:
        """The Score of a metric of probe_metrics.METRICS (None where the pair has none)."""
        return getattr(self, metric)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (results.json "probe" and "probes"), the probe and the protocol included."""
        return {
            "probe": self.probe,
            "description": self.protocol.describe(self.probe),
            "protocol": asdict(self.protocol),
            "class_names": self.class_names,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "fold_n_train": self.fold_n_train,
            "accuracy": self.accuracy.to_dict(),
            "macro_f1": self.macro_f1.to_dict(),
            "binary_f1": self.binary_f1.to_dict() if self.binary_f1 else None,
            "balanced_accuracy": self.balanced_accuracy.to_dict() if self.balanced_accuracy else None,
            "auroc": self.auroc.to_dict() if self.auroc else None,
            "bootstrap": {"resamples": self.protocol.bootstrap, "seeds": self.protocol.seeds,
                          "confidence": 0.95, "method": "percentile"},
            "convergence_warnings": self.convergence_warnings,
            "chosen_c": self.chosen_c,
        }


def validate_for_protocol(y: np.ndarray, class_names: list[str], protocol: Protocol) -> None:
    """Raise ProtocolError when the labels cannot go through the protocol's splits.

    Every class needs a sample in the holdout and at least `folds` samples in what remains, so
    that each validation fold sees every class. Checked with the protocol's own splits.
    """
    y = np.asarray(y)
    counts = np.bincount(y, minlength=len(class_names))
    if len(counts) > len(class_names):
        raise ProtocolError(f"label {len(counts) - 1} has no class name (classes: {', '.join(class_names)})")
    present = [name for name, count in zip(class_names, counts, strict=False) if count]
    if not present:
        raise ProtocolError("no images to probe")
    if len(present) < 2:
        raise ProtocolError(f"a probe needs images of at least 2 classes, and all {len(y)} are of class "
                            f"'{present[0]}'; add images of another class (ImageFolder: one sub-folder per class)")
    for name, count in zip(class_names, counts, strict=True):
        if count < 2:
            raise ProtocolError(f"class '{name}' has {count} sample(s); the stratified holdout split needs at least 2")
    for seed in protocol.seeds:
        try:
            train, _ = _holdout_split(y, protocol, seed)
        except ValueError as error:
            raise ProtocolError(f"the {protocol.test_size:.0%} holdout split fails: {error}") from None
        left = np.bincount(y[train], minlength=len(class_names))
        for name, count, remaining in zip(class_names, counts, left, strict=True):
            if remaining < protocol.folds:
                raise ProtocolError(
                    f"class '{name}' has {count} samples, {remaining} after the {protocol.test_size:.0%} holdout: "
                    f"fewer than the {protocol.folds} folds need"
                )


@dataclass(frozen=True)
class ProbeInput:
    """One (model, dataset) pair to probe: features [n, dim], integer labels [n], class names."""

    X: np.ndarray
    y: np.ndarray
    class_names: list[str]


def run_probe(X: np.ndarray, y: np.ndarray, protocol: Protocol, class_names: list[str], jobs: int = 1) -> ProbeResult:
    """The study's SVM probe of the protocol on one pair, whatever `protocol.probes` lists (the bias
    test's probe). jobs: 1 = fits one after the other here, 0 = one worker process per core,
    N = N processes; the result is bit-identical whatever `jobs` is."""
    return run_probes([ProbeInput(X, y, class_names)], protocol, jobs)[0]


def run_probes(pairs: Sequence[ProbeInput], protocol: Protocol, jobs: int = 0) -> list[ProbeResult]:
    """run_probe on several pairs at once, their fits in one pool (see run_probe_set)."""
    return [results[0] for results in run_probe_set(pairs, protocol.with_probes("svm"), jobs)]


def run_probe_set(pairs: Sequence[ProbeInput], protocol: Protocol, jobs: int = 0) -> list[list[ProbeResult]]:
    """Every probe of `protocol.probes` on several pairs: result[p][i] is pair p's result of
    protocol.probes[i]. All fits of all pairs and probes share one pool of `jobs` worker processes
    (0 = one per core), so small pairs fill the cores while a large one fits.
    Raises ProtocolError (before any fit) when a pair's labels cannot go through the splits."""
    tasks = []
    for pair in pairs:
        X, y = np.asarray(pair.X), np.asarray(pair.y)
        validate_for_protocol(y, pair.class_names, protocol)
        tasks.append(FitTask(X, y, protocol_fits(y, protocol)))
    predicted = predict_fits(tasks, protocol, jobs)
    return [[_result(pair, task, done, protocol, probe) for probe in protocol.probes]
            for pair, task, done in zip(pairs, tasks, predicted, strict=True)]


def protocol_fits(y: np.ndarray, protocol: Protocol) -> list[Fit]:
    """Every fit of the protocol in the serial order: per probe, per seed its CV folds, then its holdout fit."""
    fits = []
    for probe in protocol.probes:
        for seed in protocol.seeds:
            train, test = _holdout_split(y, protocol, seed)
            fits.extend(replace(fit, probe=probe) for fit in _cv_folds(y, train, protocol, seed))
            fits.append(Fit(seed, train, test, holdout=True, probe=probe))
    return fits


def _result(pair: ProbeInput, task: FitTask, predicted: list[Predicted], protocol: Protocol,
            probe: str) -> ProbeResult:
    n_classes = len(pair.class_names)
    folds: dict[str, list[float]] = {metric: [] for metric in METRICS}
    holdouts: dict[str, list[float]] = {metric: [] for metric in METRICS}
    held_out: list[Evaluated] = []
    mine = [(fit, done) for fit, done in zip(task.fits, predicted, strict=True) if fit.probe == probe]
    for fit, done in mine:
        evaluated = Evaluated(task.y[fit.evaluate], done.predictions, done.scores, n_classes)
        for metric, value in metric_values(evaluated).items():
            if value is not None:
                (holdouts if fit.holdout else folds)[metric].append(value)
        if fit.holdout:
            held_out.append(evaluated)
        for message, category, filename, lineno in done.other_warnings:
            warnings.warn_explicit(message, category, filename, lineno)
    intervals = bootstrap_intervals(held_out, protocol.seeds, protocol.bootstrap)

    def score(metric: str) -> Score | None:
        expected = len(mine) - len(held_out)
        if len(folds[metric]) != expected or len(holdouts[metric]) != len(held_out):
            return None  # binary_f1 of a multi-class pair; AUROC undefined somewhere
        return Score(folds[metric], holdouts[metric], intervals.get(metric))

    last_holdout = mine[-1][0]
    return ProbeResult(
        protocol=protocol,
        class_names=list(pair.class_names),
        n_train=len(last_holdout.fit),
        n_test=len(last_holdout.evaluate),
        accuracy=Score(folds["accuracy"], holdouts["accuracy"], intervals.get("accuracy")),
        macro_f1=Score(folds["macro_f1"], holdouts["macro_f1"], intervals.get("macro_f1")),
        binary_f1=score("binary_f1") if n_classes == 2 else None,
        convergence_warnings=sum(done.convergence_warnings for _, done in mine),
        fold_n_train=[len(fit.fit) for fit, _ in mine if not fit.holdout],
        probe=probe,
        balanced_accuracy=score("balanced_accuracy"),
        auroc=score("auroc"),
        chosen_c=[done.chosen_c for _, done in mine if done.chosen_c is not None],
    )


def cv_folds(y: np.ndarray, protocol: Protocol) -> Iterator[Fit]:
    """The probe's cross-validation folds (every repeat, holdout left out), for other estimators
    that must be scored on exactly the same splits."""
    y = np.asarray(y)
    for seed in protocol.seeds:
        train, _ = _holdout_split(y, protocol, seed)
        yield from _cv_folds(y, train, protocol, seed)


def _cv_folds(y: np.ndarray, train: np.ndarray, protocol: Protocol, seed: int) -> Iterator[Fit]:
    splitter = StratifiedKFold(n_splits=protocol.folds, shuffle=True, random_state=seed)
    for fit_idx, val_idx in splitter.split(train, y[train]):
        yield Fit(seed, train[fit_idx], train[val_idx], holdout=False)


def _holdout_split(y: np.ndarray, protocol: Protocol, seed: int) -> tuple[np.ndarray, np.ndarray]:
    indices = np.arange(len(y))
    train, test = train_test_split(indices, test_size=protocol.test_size, stratify=y, random_state=seed)
    return train, test
