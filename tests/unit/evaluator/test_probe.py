from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from medembed_evaluator.errors import ProtocolError
from medembed_evaluator.probe import Protocol, run_probe, validate_for_protocol


def _features(n_classes: int, n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=n, n_features=20, n_informative=6, n_classes=n_classes, class_sep=0.8, random_state=seed
    )
    return X.astype(np.float32), y


def _study_protocol_by_hand(X, y, seed: int, binary: bool, kernel: str = "linear"):
    """The study's protocol written out with plain scikit-learn, independent of probe.py."""

    def fit_and_score(X_fit, y_fit, X_eval, y_eval):
        C = 100 / len(y_fit)
        svm = (
            LinearSVC(C=C, max_iter=10000, random_state=seed)
            if kernel == "linear"
            else SVC(C=C, kernel=kernel, max_iter=10000, random_state=seed)
        )
        model = Pipeline([("scale", StandardScaler()), ("svm", svm)]).fit(X_fit, y_fit)
        predicted = model.predict(X_eval)
        scores = [accuracy_score(y_eval, predicted), f1_score(y_eval, predicted, average="macro")]
        return scores + ([f1_score(y_eval, predicted)] if binary else [])

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    folds = [
        fit_and_score(X_train[fit], y_train[fit], X_train[val], y_train[val])
        for fit, val in StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(X_train, y_train)
    ]
    return folds, fit_and_score(X_train, y_train, X_test, y_test), len(y_train), len(y_test)


def test_multiclass_matches_independent_sklearn_exactly() -> None:
    X, y = _features(3)
    result = run_probe(X, y, Protocol(seed=7), ["a", "b", "c"])
    folds, holdout, n_train, n_test = _study_protocol_by_hand(X, y, seed=7, binary=False)
    assert result.accuracy.folds == [f[0] for f in folds]
    assert result.macro_f1.folds == [f[1] for f in folds]
    assert result.accuracy.mean == np.mean([f[0] for f in folds])
    assert result.accuracy.std == np.std([f[0] for f in folds])
    assert result.macro_f1.std == np.std([f[1] for f in folds])
    assert result.accuracy.holdout == holdout[0]
    assert result.macro_f1.holdout == holdout[1]
    assert (result.n_train, result.n_test) == (n_train, n_test) == (120, 30)
    assert result.fold_n_train == [96] * 5
    assert result.binary_f1 is None
    assert 0.5 < result.accuracy.mean < 1.0  # a real, imperfect problem: the comparison means something


def test_binary_reports_binary_f1_of_label_one() -> None:
    X, y = _features(2, seed=3)
    result = run_probe(X, y, Protocol(), ["neg", "pos"])
    folds, holdout, _, _ = _study_protocol_by_hand(X, y, seed=0, binary=True)
    assert result.binary_f1 is not None
    assert result.binary_f1.folds == [f[2] for f in folds]
    assert result.binary_f1.holdout == holdout[2]
    assert result.binary_f1.folds != result.macro_f1.folds


def test_repeats_aggregate_all_folds_of_all_seeds() -> None:
    X, y = _features(3, seed=5)
    result = run_probe(X, y, Protocol(seed=10, repeats=2), ["a", "b", "c"])
    first, holdout_first, _, _ = _study_protocol_by_hand(X, y, seed=10, binary=False)
    second, holdout_second, _, _ = _study_protocol_by_hand(X, y, seed=11, binary=False)
    expected = [f[0] for f in first + second]
    assert result.accuracy.folds == expected
    assert result.accuracy.mean == np.mean(expected)
    assert result.accuracy.std == np.std(expected)
    assert result.accuracy.holdouts == [holdout_first[0], holdout_second[0]]


def test_rbf_kernel_uses_svc() -> None:
    X, y = _features(3, n=100, seed=2)
    result = run_probe(X, y, Protocol(kernel="rbf"), ["a", "b", "c"])
    folds, _, _, _ = _study_protocol_by_hand(X, y, seed=0, binary=False, kernel="rbf")
    assert result.accuracy.folds == [f[0] for f in folds]


def test_constant_c_rule() -> None:
    protocol = Protocol(c_rule="0.5")
    assert protocol.c_for(10) == protocol.c_for(1000) == 0.5
    assert Protocol().c_for(200) == 0.5
    assert Protocol(c_rule="10/n_train").c_for(20) == 0.5


def test_to_dict_carries_every_number() -> None:
    X, y = _features(2, n=60)
    as_dict = run_probe(X, y, Protocol(), ["a", "b"]).to_dict()
    assert set(as_dict["accuracy"]) == {"mean", "std", "folds", "holdout", "holdouts", "holdout_interval"}
    assert as_dict["probe"] == "svm" and as_dict["bootstrap"]["resamples"] == 100
    assert len(as_dict["accuracy"]["folds"]) == 5
    assert as_dict["protocol"]["c_rule"] == "100/n_train"
    assert as_dict["binary_f1"] is not None
    assert (as_dict["n_train"], as_dict["n_test"]) == (48, 12)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([10, 0, 10], "class 'b' has 0 sample"),
        ([20, 0, 0], "at least 2 classes"),
        ([20, 1, 20], "class 'b' has 1 sample"),
        ([20, 5, 20], "class 'b' has 5 samples, 4 after the 20% holdout: fewer than the 5 folds need"),
    ],
)
def test_validate_for_protocol_names_the_class(counts, message) -> None:
    y = np.repeat(np.arange(3), counts)
    with pytest.raises(ProtocolError, match=message):
        validate_for_protocol(y, ["a", "b", "c"], Protocol())


def test_validate_for_protocol_accepts_a_small_but_sufficient_class() -> None:
    y = np.repeat(np.arange(3), [20, 7, 20])
    validate_for_protocol(y, ["a", "b", "c"], Protocol())  # 7 -> 6 left after the holdout >= 5 folds


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"c_rule": "lots"}, "c_rule"),
        ({"c_rule": "-1"}, "positive"),
        ({"kernel": "cubic"}, "kernel"),
        ({"folds": 1}, "folds"),
        ({"repeats": 0}, "repeats"),
        ({"test_size": 1.0}, "test_size"),
        ({"probes": ()}, "probes must list"),
        ({"probes": ("svm", "ridge")}, "unknown probe"),
        ({"probes": ("knn", "knn")}, "twice"),
        ({"bootstrap": -1}, "bootstrap"),
    ],
)
def test_invalid_protocol_raises(kwargs, message) -> None:
    with pytest.raises(ProtocolError, match=message):
        Protocol(**kwargs)
