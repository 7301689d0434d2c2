"""2-D UMAP maps of embeddings with the study's settings: cosine metric, a fixed seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import umap


@dataclass(frozen=True)
class MapSetting:
    """One UMAP setting: umap-learn's n_neighbors and min_dist."""

    n_neighbors: int
    min_dist: float


def umap_xy(vectors: np.ndarray, setting: MapSetting, seed: int) -> np.ndarray:
    """[n, 2] float32 coordinates; the same input, setting and seed give the same map."""
    reducer = umap.UMAP(n_components=2, metric="cosine", n_neighbors=setting.n_neighbors,
                        min_dist=setting.min_dist, random_state=seed, n_jobs=1)  # a seed forces one job anyway
    return np.asarray(reducer.fit_transform(np.asarray(vectors, dtype=np.float32)), dtype=np.float32)


def grid_settings(n_points: int, n_neighbors: tuple[int, ...], min_dist: tuple[float, ...]
                  ) -> tuple[list[MapSetting], list[int]]:
    """The grid's settings that a map of `n_points` supports, and the n_neighbors values skipped
    because a point cannot have n_points or more neighbours."""
    usable = [n for n in n_neighbors if n < n_points]
    skipped = [n for n in n_neighbors if n >= n_points]
    return [MapSetting(n, d) for n in usable for d in min_dist], skipped
