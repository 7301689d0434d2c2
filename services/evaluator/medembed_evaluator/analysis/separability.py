"""How well the classes separate in the full-dimensional features, without training a probe.

Every metric works on L2-normalised vectors: embeddings are compared by cosine, and on the unit
sphere Euclidean distance is a monotone function of cosine distance, so Davies–Bouldin and
k-means see the same geometry as the cosine silhouette and the cosine kNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.manifold import trustworthiness
from sklearn.metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.neighbors import KNeighborsClassifier

from medembed_evaluator.probe import cv_folds
from medembed_evaluator.probe_protocol import Protocol
from medembed_evaluator.progress import stage_bar, step

KNN_NEIGHBORS = 20
TRUST_NEIGHBORS = 5


@dataclass(frozen=True)
class MapPoints:
    """The rows a 2-D map was computed from, and their coordinates on it."""

    rows: np.ndarray
    xy: np.ndarray


@dataclass(frozen=True)
class Separability:
    """Class separation of one pair's features without a probe: scikit-learn's silhouette_score
    (cosine), davies_bouldin_score, a cosine k-NN on the probe's folds, KMeans NMI/ARI, and the
    default map's trustworthiness (sklearn.manifold.trustworthiness).
    """

    silhouette: float
    """Cosine silhouette with the class labels as clusters, in [-1, 1]; higher separates better."""
    davies_bouldin: float
    """Lower separates better; 0 is the ideal."""
    knn_folds: list[float]
    """Accuracy of a k-NN (cosine) classifier on each of the probe's cross-validation folds."""
    kmeans_nmi: float
    kmeans_ari: float
    trustworthiness: float | None
    """Of the default 2-D map: how well it keeps each point's 5 nearest (cosine) neighbours, in [0, 1];
    None without a map."""
    silhouette_points: int
    knn_k: int = KNN_NEIGHBORS

    @property
    def knn_mean(self) -> float:
        """Mean k-NN accuracy over the probe's folds, in [0, 1]."""
        return float(np.mean(self.knn_folds))

    @property
    def knn_std(self) -> float:
        """Population std (np.std) of the k-NN accuracy over the folds."""
        return float(np.std(self.knn_folds))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (results.json "analysis.separability")."""
        return {
            "silhouette_cosine": self.silhouette,
            "silhouette_points": self.silhouette_points,
            "davies_bouldin": self.davies_bouldin,
            "knn_accuracy": {"k": self.knn_k, "metric": "cosine", "mean": self.knn_mean, "std": self.knn_std,
                             "folds": self.knn_folds},
            "kmeans_nmi": self.kmeans_nmi,
            "kmeans_ari": self.kmeans_ari,
            "trustworthiness": self.trustworthiness,
        }


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """`vectors` [n, dim] as float64 rows of unit L2 norm (all-zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def measure_separability(
    vectors: np.ndarray,
    labels: np.ndarray,
    protocol: Protocol,
    *,
    seed: int,
    silhouette_rows: np.ndarray,
    default_map: MapPoints | None,
) -> Separability:
    """`silhouette_rows`: the subset the (quadratic) silhouette is computed on."""
    unit, labels = unit_rows(vectors), np.asarray(labels)
    with stage_bar("separability", 5) as bar:
        step(bar, "k-means")
        clusters = KMeans(n_clusters=len(np.unique(labels)), n_init=10, random_state=seed).fit_predict(unit)
        bar.update()
        step(bar, "silhouette")
        silhouette = float(silhouette_score(unit[silhouette_rows], labels[silhouette_rows], metric="cosine"))
        bar.update()
        step(bar, "Davies-Bouldin")
        davies_bouldin = float(davies_bouldin_score(unit, labels))
        bar.update()
        step(bar, "kNN folds")
        knn_folds = knn_fold_accuracies(unit, labels, protocol)
        bar.update()
        step(bar, "trustworthiness")
        trustworthiness = None if default_map is None else map_trustworthiness(unit, default_map)
        bar.update()
    return Separability(
        silhouette=silhouette,
        davies_bouldin=davies_bouldin,
        knn_folds=knn_folds,
        kmeans_nmi=float(normalized_mutual_info_score(labels, clusters)),
        kmeans_ari=float(adjusted_rand_score(labels, clusters)),
        trustworthiness=trustworthiness,
        silhouette_points=len(silhouette_rows),
    )


def knn_fold_accuracies(vectors: np.ndarray, labels: np.ndarray, protocol: Protocol) -> list[float]:
    """Accuracy in [0, 1] of a cosine k-NN (k = KNN_NEIGHBORS, fewer for tiny folds; scikit-learn's
    KNeighborsClassifier) on each of the probe protocol's cross-validation folds, in fold order.
    """
    accuracies = []
    for fold in cv_folds(labels, protocol):
        knn = KNeighborsClassifier(n_neighbors=min(KNN_NEIGHBORS, len(fold.fit)), metric="cosine", algorithm="brute")
        knn.fit(vectors[fold.fit], labels[fold.fit])
        accuracies.append(float(knn.score(vectors[fold.evaluate], labels[fold.evaluate])))
    return accuracies


def map_trustworthiness(vectors: np.ndarray, default_map: MapPoints) -> float:
    """sklearn.manifold.trustworthiness (cosine, TRUST_NEIGHBORS neighbours or fewer for small maps) of
    the default map's 2-D points against the same rows of `vectors` [n, dim]; in [0, 1].
    """
    neighbors = min(TRUST_NEIGHBORS, (len(default_map.rows) - 1) // 2)
    return float(trustworthiness(vectors[default_map.rows], default_map.xy, n_neighbors=neighbors, metric="cosine"))
