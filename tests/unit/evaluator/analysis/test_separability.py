"""Each separability metric on hand-checkable cases: two separated blobs against one blob."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier

from medembed_evaluator.analysis.separability import (
    MapPoints,
    knn_fold_accuracies,
    map_trustworthiness,
    measure_separability,
    unit_rows,
)
from medembed_evaluator.probe import Protocol

PROTOCOL = Protocol()


def two_blobs(n_per_class: int = 40, dim: int = 8, noise: float = 0.05, seed: int = 0):
    """Class 0 around the direction e1, class 1 around e2: 90 degrees apart."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:2]
    vectors = np.concatenate([centres[c] + noise * rng.standard_normal((n_per_class, dim)) for c in (0, 1)])
    return vectors, np.repeat([0, 1], n_per_class)


def one_blob(n_per_class: int = 40, dim: int = 8, seed: int = 0):
    """Both classes drawn from the same distribution: labels carry no geometry."""
    rng = np.random.default_rng(seed)
    vectors = np.ones(dim) + 0.3 * rng.standard_normal((2 * n_per_class, dim))
    return vectors, np.repeat([0, 1], n_per_class)


def measure(vectors, labels, default_map=None):
    return measure_separability(vectors, labels, PROTOCOL, seed=0, silhouette_rows=np.arange(len(labels)),
                                default_map=default_map)


def test_identical_points_per_class_give_the_ideal_values_exactly() -> None:
    # Within a class every cosine distance is 0, across classes it is 1: silhouette (b - a) / b = 1,
    # Davies–Bouldin (0 + 0) / 1 = 0, and k-means finds the classes.
    # 30 per class, so that each fold's 20 nearest neighbours are mostly of the point's own class
    vectors = np.repeat(np.eye(3)[:2], 30, axis=0) * np.linspace(1, 3, 60)[:, None]  # scale must not matter
    result = measure(vectors, np.repeat([0, 1], 30))
    assert result.silhouette == pytest.approx(1.0)
    assert result.davies_bouldin == pytest.approx(0.0, abs=1e-9)
    assert (result.kmeans_nmi, result.kmeans_ari) == pytest.approx((1.0, 1.0))
    assert result.knn_mean == pytest.approx(1.0)


def test_two_separated_blobs_score_near_ideal_and_one_blob_near_chance() -> None:
    separated = measure(*two_blobs())
    mixed = measure(*one_blob())
    assert separated.silhouette > 0.8 and abs(mixed.silhouette) < 0.05
    assert separated.davies_bouldin < 0.3 < 3.0 < mixed.davies_bouldin
    assert separated.knn_mean == pytest.approx(1.0) and 0.25 < mixed.knn_mean < 0.75
    assert separated.kmeans_nmi > 0.95 and mixed.kmeans_nmi < 0.1
    assert separated.kmeans_ari > 0.95 and mixed.kmeans_ari < 0.1
    assert separated.trustworthiness is None  # no map given


def test_knn_runs_on_exactly_the_probe_folds() -> None:
    vectors, labels = one_blob(n_per_class=30, seed=3)
    unit = unit_rows(vectors)
    protocol = Protocol(repeats=2)
    by_hand = []
    for seed in (0, 1):  # the probe's split, written out: stratified 20 % holdout, then 5 folds on the rest
        train, _ = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=seed)
        for fit, evaluate in StratifiedKFold(5, shuffle=True, random_state=seed).split(train, labels[train]):
            knn = KNeighborsClassifier(20, metric="cosine", algorithm="brute").fit(unit[train[fit]], labels[train[fit]])
            by_hand.append(knn.score(unit[train[evaluate]], labels[train[evaluate]]))
    assert knn_fold_accuracies(unit, labels, protocol) == pytest.approx(by_hand)
    assert len(by_hand) == 10


def test_trustworthiness_is_one_for_a_map_that_keeps_neighbour_order_and_lower_for_a_shuffled_one() -> None:
    # points on a quarter circle, irregularly spaced (no distance ties): cosine distance follows the angle
    angles = np.sort(np.random.default_rng(1).uniform(0.0, np.pi / 2, 60))
    vectors = np.stack([np.cos(angles), np.sin(angles), np.zeros(60)], axis=1)
    rows = np.arange(60)
    faithful = MapPoints(rows, np.stack([angles, np.zeros(60)], axis=1))
    shuffled = MapPoints(rows, faithful.xy[np.random.default_rng(0).permutation(60)])
    assert map_trustworthiness(vectors, faithful) == pytest.approx(1.0)
    assert map_trustworthiness(vectors, shuffled) < 0.7
    assert measure(vectors, np.repeat([0, 1], 30), default_map=faithful).trustworthiness == pytest.approx(1.0)


def test_silhouette_uses_only_the_given_rows() -> None:
    vectors, labels = two_blobs()
    vectors[[0, 40]] = vectors[[40, 0]]  # one point of each class now sits in the other blob
    rows = np.array([0, 2, 40, 42])  # per class: one point in each blob, so each is nearer the other class
    everything = measure(vectors, labels).silhouette
    subset = measure_separability(vectors, labels, PROTOCOL, seed=0, silhouette_rows=rows, default_map=None)
    assert subset.silhouette == pytest.approx(-0.5, abs=0.1) and everything > 0.8
    assert subset.silhouette_points == 4
