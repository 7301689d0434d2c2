"""The probe's fits over the cores: every (probe, seed, fold) fit of one or many (model, dataset)
pairs in one joblib process pool.

A fit in a worker process is the same computation as in the serial run — same rows, same seed,
same classifier, same input dtype — so its predictions, and every score made from them, are
bit-identical to fitting one after the other (tests/unit/evaluator/test_probe_parallel.py).
Processes, not threads: liblinear's dual solver draws from one process-global random generator
(scikit-learn's `newrand` mt19937), so two fits in threads of one process would interleave
their draws. The features reach the workers as one memory-mapped copy per pair (joblib's
automatic memmapping), not one pickle per fit. Every fit runs with one BLAS thread
(threadpoolctl), in a worker or here: the same arithmetic whatever `jobs` is (a BLAS sum split
over threads can differ in its last bits), and no threads spinning against each other. On this
2-core machine under load, a LogisticRegression fit with numpy's default 2 OpenBLAS threads took
2.8-3.0 s against 0.1-0.2 s with one (400 x 512, 29 classes, the same 23 iterations).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from medembed_evaluator.probe_kinds import SCORES
from medembed_evaluator.probe_metrics import positive_scores
from medembed_evaluator.probe_protocol import Protocol
from medembed_evaluator.progress import stage_bar

log = logging.getLogger(__name__)

BYTES_PER_FIT_VALUE = 32
"""Peak bytes a fit holds per feature value of its training rows: the row subset (float32), the
scaled copy, the float64 copy LinearSVC makes and liblinear's 16-byte feature nodes."""
MEMORY_SHARE = 0.7
PROBE_COST = {"svm": 1.0, "logreg": 10.0, "knn": 0.2}
"""Rough cost of a fit relative to the SVM's, for handing out the costliest first: logreg fits its
C grid on every inner fold (LogisticRegressionCV), kNN only stores the rows."""
"""Share of the available memory the probe's workers may plan to use together."""


@dataclass(frozen=True)
class Fit:
    """One fit of the protocol: the probe, rows to fit on and rows to predict, as indices into the pair's arrays."""

    seed: int
    fit: np.ndarray
    evaluate: np.ndarray
    holdout: bool
    probe: str = "svm"


@dataclass(frozen=True)
class FitTask:
    """One (model, dataset) pair's features [n, dim], labels [n] and the fits the protocol asks for."""

    X: np.ndarray
    y: np.ndarray
    fits: list[Fit]

    def fit_cost(self, fit: Fit) -> float:
        """Relative cost of one fit (rows x dims x one-vs-rest problems x PROBE_COST), for scheduling only."""
        classes = len(np.unique(self.y))
        return float(len(fit.fit)) * self.X.shape[1] * (1 if classes == 2 else classes) * PROBE_COST[fit.probe]


@dataclass(frozen=True)
class Predicted:
    """What one fit gives back: predicted labels of its evaluate rows, its warnings, its wall time
    in seconds, and the evaluate rows' scores (probe_metrics.positive_scores
    of the probe's probe_kinds.SCORES method)."""

    predictions: np.ndarray
    convergence_warnings: int
    other_warnings: list[tuple[Warning, type[Warning], str, int]]
    seconds: float
    scores: np.ndarray | None = None
    chosen_c: float | None = None
    """The C logreg's inner cross-validation chose for this fit (None for other probes)."""


def fit_and_predict(X: np.ndarray, y: np.ndarray, fit: Fit, protocol: Protocol) -> Predicted:
    """Fit the fit's probe on `fit.fit` rows; predict and score `fit.evaluate` rows."""
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1):
        warnings.simplefilter("always", ConvergenceWarning)
        model = protocol.estimator(fit.probe, len(fit.fit), fit.seed).fit(np.asarray(X[fit.fit]), y[fit.fit])
        evaluate = np.asarray(X[fit.evaluate])
        predictions = model.predict(evaluate)
        raw = getattr(model, SCORES[fit.probe])(evaluate)
        scores = positive_scores(raw, len(model.classes_))
        chosen_c = float(np.ravel(model[-1].C_)[0]) if fit.probe == "logreg" else None
    convergence = sum(1 for w in caught if issubclass(w.category, ConvergenceWarning))
    others = [(w.message, w.category, w.filename, w.lineno) for w in caught
              if not issubclass(w.category, ConvergenceWarning)]
    return Predicted(np.asarray(predictions), convergence, others, time.perf_counter() - started, scores,
                     chosen_c)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity on Linux, os.cpu_count() elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo in bytes; None where it cannot be read (not Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def worker_count(jobs: int, tasks: Sequence[FitTask]) -> int:
    """Processes to fit with. `jobs` >= 1 is taken as given (capped by the number of fits); 0 means
    one per usable core, fewer when the largest fit times that many would not fit in
    MEMORY_SHARE of the available memory."""
    n_fits = sum(len(task.fits) for task in tasks)
    if jobs < 0:
        raise ValueError(f"probe jobs must be 0 (one per core) or a positive count, got {jobs}")
    if jobs > 0:
        return max(1, min(jobs, n_fits))
    count = min(usable_cores(), n_fits)
    largest = max((len(f.fit) * task.X.shape[1] * BYTES_PER_FIT_VALUE for task in tasks for f in task.fits),
                  default=0)
    available = available_memory_bytes()
    if available is not None and largest > 0:
        by_memory = max(1, int(available * MEMORY_SHARE // largest))
        if by_memory < count:
            log.info("probe: %d worker(s) instead of %d: a fit needs about %.1f GiB, %.1f GiB available",
                     by_memory, count, largest / 2**30, available / 2**30)
            count = by_memory
    return max(1, count)


def predict_fits(tasks: Sequence[FitTask], protocol: Protocol, jobs: int = 1) -> list[list[Predicted]]:
    """Every fit of every task, `result[t][f]` for `tasks[t].fits[f]`.

    jobs: 1 = one after the other in this process; 0 = one worker process per core (see
    worker_count); N = N worker processes. The costliest fits are handed out first, so that the
    last ones to finish are short.
    """
    order = sorted(((t, f) for t, task in enumerate(tasks) for f in range(len(task.fits))),
                   key=lambda tf: tasks[tf[0]].fit_cost(tasks[tf[0]].fits[tf[1]]), reverse=True)
    workers = worker_count(jobs, tasks)
    if workers == 1:
        done: Iterable[Predicted] = (fit_and_predict(tasks[t].X, tasks[t].y, tasks[t].fits[f], protocol)
                                     for t, f in order)
    else:
        done = Parallel(n_jobs=workers, backend="loky", return_as="generator")(
            delayed(fit_and_predict)(tasks[t].X, tasks[t].y, tasks[t].fits[f], protocol) for t, f in order)
    results: list[list[Predicted | None]] = [[None] * len(task.fits) for task in tasks]
    with stage_bar(f"probe fits ({', '.join(protocol.probes)}; {workers} worker(s))", len(order), "fit") as bar:
        for (t, f), predicted in zip(order, done, strict=True):
            results[t][f] = predicted
            bar.update()
    return results  # type: ignore[return-value]  # every slot is filled above
