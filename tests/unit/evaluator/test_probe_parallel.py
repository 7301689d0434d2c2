"""The probe's fits in worker processes give exactly what fitting them one after the other gives,
and both equal the study's protocol written out with plain scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from medembed_evaluator import probe_fits
from medembed_evaluator.probe import ProbeInput, Protocol, protocol_fits, run_probe, run_probes
from medembed_evaluator.probe_fits import FitTask, predict_fits, worker_count


def _features(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=n, n_features=dim, n_informative=min(dim, 12), n_redundant=0,
                               n_classes=classes, n_clusters_per_class=1, class_sep=0.6, random_state=seed)
    return X.astype(np.float32), y


# n < dim: LinearSVC(dual="auto") takes liblinear's dual solver, which draws random numbers (the
# seed matters); n > dim: the primal solver, no randomness. Both must be exact in processes.
PAIRS = {"dual, 4 classes": (90, 120, 4, 1), "primal, 3 classes": (240, 16, 3, 2), "binary": (120, 40, 2, 3)}


def _sklearn_predictions(X: np.ndarray, y: np.ndarray, seed: int, max_iter: int = 10000,
                         svm_seed: int | None = None) -> list[np.ndarray]:
    """The study's protocol by hand with scikit-learn alone: per fold, then the holdout fit.
    `svm_seed` (default: `seed`) seeds liblinear alone, the splits keep `seed`."""
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    splits = [(train[f], train[v]) for f, v in
              StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(train, y[train])]
    out = []
    for fit, evaluate in [*splits, (train, test)]:
        model = make_pipeline(StandardScaler(), LinearSVC(C=100 / len(fit), max_iter=max_iter,
                                                          random_state=seed if svm_seed is None else svm_seed))
        out.append(model.fit(X[fit], y[fit]).predict(X[evaluate]))
    return out


@pytest.mark.parametrize("name", PAIRS)
def test_fits_in_processes_predict_exactly_what_scikit_learn_predicts(name: str) -> None:
    n, dim, classes, seed = PAIRS[name]
    X, y = _features(n, dim, classes, seed)
    protocol = Protocol(seed=seed)
    task = FitTask(X, y, protocol_fits(y, protocol))
    serial, = predict_fits([task], protocol, jobs=1)
    parallel, = predict_fits([task], protocol, jobs=2)
    expected = _sklearn_predictions(X, y, seed)
    assert len(serial) == len(parallel) == len(expected) == 6
    for one, two, reference in zip(serial, parallel, expected, strict=True):
        assert one.predictions.dtype == two.predictions.dtype
        np.testing.assert_array_equal(one.predictions, reference)
        np.testing.assert_array_equal(two.predictions, reference)
    # the fits really ran in a pool of worker processes, and the problem is not trivially separable
    assert worker_count(2, [task]) == 2
    assert not all(np.array_equal(p.predictions, y[f.evaluate]) for p, f in zip(serial, task.fits, strict=True))


def test_seed_dependent_unconverged_fits_are_still_exact_in_processes() -> None:
    """Stopped after 3 dual passes, the predictions depend on liblinear's random draws: the
    workers must seed them exactly as the serial run does (and count the same warnings)."""
    X, y = _features(90, 120, 4, 1)
    protocol = Protocol(seed=1, max_iter=3)
    task = FitTask(X, y, protocol_fits(y, protocol))
    with pytest.warns(ConvergenceWarning):
        expected = _sklearn_predictions(X, y, seed=1, max_iter=3)
        other_draws = _sklearn_predictions(X, y, seed=1, max_iter=3, svm_seed=2)
    parallel, = predict_fits([task], protocol, jobs=2)
    for done, reference in zip(parallel, expected, strict=True):
        np.testing.assert_array_equal(done.predictions, reference)
    assert any(not np.array_equal(a, b) for a, b in zip(expected, other_draws, strict=True))
    assert all(done.convergence_warnings == 1 for done in parallel)


def test_parallel_probe_result_is_bit_identical_to_the_serial_one() -> None:
    X, y = _features(150, 60, 3, 4)
    protocol = Protocol(seed=3, repeats=2)
    serial = run_probe(X, y, protocol, ["a", "b", "c"], jobs=1)
    parallel = run_probe(X, y, protocol, ["a", "b", "c"], jobs=2)
    assert serial.to_dict() == parallel.to_dict()
    assert len(parallel.accuracy.folds) == 10 and len(parallel.accuracy.holdouts) == 2


def test_pairs_probed_together_equal_each_pair_probed_alone() -> None:
    inputs = []
    for n, dim, classes, seed in PAIRS.values():
        X, y = _features(n, dim, classes, seed)
        inputs.append(ProbeInput(X, y, [f"c{i}" for i in range(classes)]))
    protocol = Protocol(seed=5)
    together = run_probes(inputs, protocol, jobs=2)
    alone = [run_probe(p.X, p.y, protocol, p.class_names, jobs=1) for p in inputs]
    assert [r.to_dict() for r in together] == [r.to_dict() for r in alone]
    assert together[2].binary_f1 is not None and together[0].binary_f1 is None


def test_worker_count_follows_cores_fits_and_memory(monkeypatch) -> None:
    X, y = _features(100, 10, 2, 0)
    task = FitTask(X, y, protocol_fits(y, Protocol()))  # 6 fits
    monkeypatch.setattr(probe_fits, "usable_cores", lambda: 16)
    monkeypatch.setattr(probe_fits, "available_memory_bytes", lambda: None)
    assert worker_count(0, [task]) == 6  # never more workers than fits
    assert worker_count(3, [task]) == 3
    assert worker_count(1, [task]) == 1
    largest = max(len(f.fit) for f in task.fits) * X.shape[1] * probe_fits.BYTES_PER_FIT_VALUE
    monkeypatch.setattr(probe_fits, "available_memory_bytes", lambda: int(2.5 * largest / probe_fits.MEMORY_SHARE))
    assert worker_count(0, [task]) == 2  # two of the largest fit in the planned share of memory
    with pytest.raises(ValueError, match="probe jobs"):
        worker_count(-1, [task])
