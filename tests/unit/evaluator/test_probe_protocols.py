"""The logreg and kNN probes and the holdout's bootstrap intervals equal scikit-learn and numpy
called directly on the same features and the same folds (the splits written out here with
scikit-learn alone, not taken from probe.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, normalize

from medembed_evaluator.probe import ProbeInput, Protocol, run_probe, run_probe_set
from medembed_evaluator.probe_kinds import PATHO_BENCH_C_GRID, KnnSettings, LogRegSettings
from medembed_evaluator.probe_metrics import Evaluated, bootstrap_intervals


def _features(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=n, n_features=dim, n_informative=min(dim, 8), n_redundant=0,
                               n_classes=classes, n_clusters_per_class=1, class_sep=0.8, flip_y=0.05,
                               random_state=seed)
    return X.astype(np.float32), y


def _splits(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The study's splits by hand: 5 stratified folds of the 80 % left by a stratified 20 % holdout,
    then (train, holdout) last."""
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(train, y[train])
    return [*((train[f], train[v]) for f, v in folds), (train, test)]


PATHO_BENCH_COST = [0.001, 0.01, 0.1, 0.5, 1.0, 10.0]  # Patho-Bench linprobe.yaml COST, stated here on its own


def _logreg(seed: int, grid: list[float], inner_folds: int) -> object:
    inner = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed)
    return make_pipeline(StandardScaler(), LogisticRegressionCV(
        Cs=grid, cv=inner, scoring="accuracy", max_iter=10000, l1_ratios=(0.0,), use_legacy_attributes=False))


def _ovr_auroc(y_true: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro"))


@pytest.mark.parametrize(("classes", "seed", "grid", "inner_folds"),
                         [(2, 5, PATHO_BENCH_COST, 5), (3, 4, [0.01, 1.0], 3)])
def test_logreg_equals_scikit_learn_logistic_regression_cv_on_the_same_folds(classes: int, seed: int,
                                                                              grid: list[float],
                                                                              inner_folds: int) -> None:
    X, y = _features(150, 10, classes, seed)
    settings = LogRegSettings(c_grid=tuple(grid), inner_folds=inner_folds)
    (result,) = run_probe_set([ProbeInput(X, y, [str(c) for c in range(classes)])],
                              Protocol(seed=seed, probes=("logreg",), logreg=settings), jobs=1)[0]
    assert result.probe == "logreg"
    accuracies, f1s, balanced, aurocs, chosen = [], [], [], [], []
    for fit, evaluate in _splits(y, seed):
        model = _logreg(seed, grid, inner_folds).fit(X[fit], y[fit])
        chosen.append(float(np.ravel(model[-1].C_)[0]))
        predicted, proba = model.predict(X[evaluate]), model.predict_proba(X[evaluate])
        accuracies.append(accuracy_score(y[evaluate], predicted))
        f1s.append(f1_score(y[evaluate], predicted, average="macro"))
        balanced.append(balanced_accuracy_score(y[evaluate], predicted))
        aurocs.append(_ovr_auroc(y[evaluate], proba))
    assert len(set(accuracies)) > 1  # the folds differ, so matching them all means the same folds
    assert result.accuracy.folds + result.accuracy.holdouts == pytest.approx(accuracies, abs=1e-12)
    assert result.macro_f1.folds + result.macro_f1.holdouts == pytest.approx(f1s, abs=1e-12)
    assert result.balanced_accuracy.folds + result.balanced_accuracy.holdouts == pytest.approx(balanced, abs=1e-12)
    assert result.auroc.folds + result.auroc.holdouts == pytest.approx(aurocs, abs=1e-12)
    assert result.chosen_c == chosen and set(chosen) <= set(grid)


def test_knn_equals_scikit_learn_20_nearest_cosine_neighbours_on_l2_normalised_rows() -> None:
    X, y = _features(240, 16, 4, 6)
    (result,) = run_probe_set([ProbeInput(X, y, list("abcd"))], Protocol(seed=6, probes=("knn",)), jobs=1)[0]
    accuracies, aurocs = [], []
    for fit, evaluate in _splits(y, 6):
        unit = normalize(X.astype(np.float64))
        knn = KNeighborsClassifier(n_neighbors=20, metric="cosine").fit(unit[fit], y[fit])
        accuracies.append(accuracy_score(y[evaluate], knn.predict(unit[evaluate])))
        aurocs.append(_ovr_auroc(y[evaluate], knn.predict_proba(unit[evaluate])))
    assert result.accuracy.folds + result.accuracy.holdouts == pytest.approx(accuracies, abs=1e-12)
    assert result.auroc.folds + result.auroc.holdouts == pytest.approx(aurocs, abs=1e-12)


def test_knn_settings_reproduce_medmnist_plus_euclidean_11_neighbours_on_raw_rows() -> None:
    X, y = _features(150, 10, 3, 7)
    protocol = Protocol(seed=7, probes=("knn",), knn=KnnSettings(k=11, metric="euclidean", normalize=False))
    (result,) = run_probe_set([ProbeInput(X, y, list("abc"))], protocol, jobs=1)[0]
    expected = []
    for fit, evaluate in _splits(y, 7):
        knn = KNeighborsClassifier(n_neighbors=11).fit(X[fit], y[fit])  # MedMNIST+'s Euclidean NearestNeighbors
        expected.append(accuracy_score(y[evaluate], knn.predict(X[evaluate])))
    assert result.accuracy.folds + result.accuracy.holdouts == pytest.approx(expected, abs=1e-12)


def test_holdout_intervals_equal_a_direct_numpy_bootstrap_of_the_holdout() -> None:
    X, y = _features(300, 12, 3, 8)
    seed = 8
    result = run_probe(X, y, Protocol(seed=seed), ["a", "b", "c"])
    fit, evaluate = _splits(y, seed)[-1]
    svm = Protocol().classifier(len(fit), seed).fit(X[fit], y[fit])  # the study's SVM; its numbers are tested
    predicted, margins = svm.predict(X[evaluate]), svm.decision_function(X[evaluate])  # in test_probe*.py
    truth = y[evaluate]
    rng = np.random.RandomState(seed)  # Patho-Bench's draw: n of n with replacement, 100 times
    draws = [rng.choice(len(truth), len(truth), replace=True) for _ in range(100)]
    metrics = {
        "accuracy": lambda rows: accuracy_score(truth[rows], predicted[rows]),
        "macro_f1": lambda rows: f1_score(truth[rows], predicted[rows], average="macro"),
        "balanced_accuracy": lambda rows: balanced_accuracy_score(truth[rows], predicted[rows]),
        "auroc": lambda rows: _macro_ovr(truth[rows], margins[rows]),
    }
    for name, metric in metrics.items():
        low, high = np.percentile([metric(rows) for rows in draws], [2.5, 97.5])
        interval = getattr(result, name).interval
        assert interval == pytest.approx((low, high), abs=1e-12), name
        assert interval[0] < getattr(result, name).holdout < interval[1]
    assert result.accuracy.holdout == accuracy_score(truth, predicted)


def _macro_ovr(truth: np.ndarray, margins: np.ndarray) -> float:
    """Macro one-vs-rest AUROC of decision_function margins: roc_auc_score of each class against the rest."""
    return float(np.mean([roc_auc_score(truth == c, margins[:, c]) for c in range(margins.shape[1])]))


def test_without_resamples_there_is_no_interval_and_the_scores_stay() -> None:
    X, y = _features(120, 8, 2, 9)
    with_intervals = run_probe(X, y, Protocol(seed=9), ["a", "b"])
    without = run_probe(X, y, Protocol(seed=9, bootstrap=0), ["a", "b"])
    assert with_intervals.binary_f1.interval is not None and without.binary_f1.interval is None
    assert with_intervals.accuracy.folds == without.accuracy.folds


def test_logreg_defaults_to_patho_bench_grid_and_max_iter() -> None:
    assert list(PATHO_BENCH_C_GRID) == PATHO_BENCH_COST
    assert Protocol().logreg.c_grid == PATHO_BENCH_C_GRID and Protocol().logreg.max_iter == 10000
    assert (Protocol().knn.k, Protocol().knn.metric, Protocol().knn.normalize) == (20, "cosine", True)


def test_the_study_svm_gives_the_same_numbers_beside_the_other_probes() -> None:
    X, y = _features(120, 8, 3, 10)
    alone = run_probe(X, y, Protocol(seed=10), ["a", "b", "c"])
    several = Protocol(seed=10, probes=("svm", "logreg", "knn"), logreg=LogRegSettings(c_grid=(0.1, 1.0)))
    svm, logreg, knn = run_probe_set([ProbeInput(X, y, ["a", "b", "c"])], several, jobs=2)[0]
    assert [r.probe for r in (svm, logreg, knn)] == ["svm", "logreg", "knn"]
    assert svm.accuracy == alone.accuracy and svm.macro_f1 == alone.macro_f1 and svm.auroc == alone.auroc
    assert knn.n_test == logreg.n_test == svm.n_test


def test_with_repeats_the_interval_is_that_of_the_mean_holdout_score() -> None:
    rng = np.random.default_rng(0)
    holdouts = []
    for _ in range(2):
        truth = rng.integers(0, 3, 40)
        guess = np.where(rng.random(40) < 0.7, truth, rng.integers(0, 3, 40))
        holdouts.append(Evaluated(truth, guess, None, 3))
    intervals = bootstrap_intervals(holdouts, [11, 12], 100)
    per_repeat = []
    for holdout, seed in zip(holdouts, (11, 12), strict=True):
        state = np.random.RandomState(seed)
        per_repeat.append([accuracy_score(holdout.y_true[rows], holdout.predicted[rows])
                           for rows in (state.choice(40, 40, replace=True) for _ in range(100))])
    expected = np.percentile(np.mean(per_repeat, axis=0), [2.5, 97.5])
    assert intervals["accuracy"] == pytest.approx(tuple(expected), abs=1e-12)
    assert intervals["auroc"] is None  # no scores, no AUROC
    assert bootstrap_intervals(holdouts, [11, 12], 0) == {}
