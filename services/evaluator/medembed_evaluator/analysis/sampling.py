"""Seeded, stratified subsets: every class keeps its share, so small classes stay on the map."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def stratified_subset(labels: np.ndarray, max_count: int, seed: int) -> np.ndarray:
    """Sorted row indices of at most `max_count` rows with the class proportions of `labels`."""
    labels = np.asarray(labels)
    indices = np.arange(len(labels))
    if len(labels) <= max_count:
        return indices
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None  # sklearn cannot stratify singletons
    kept, _ = train_test_split(indices, train_size=max_count, stratify=stratify, random_state=seed)
    return np.sort(kept)
