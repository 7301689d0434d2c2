"""UMAP maps: seeded, the grid's impossible settings skipped with a note, PNGs that decode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medembed_evaluator.analysis.pair import PairData, analyse_pair
from medembed_evaluator.analysis.umap_maps import MapSetting, grid_settings, umap_xy
from medembed_evaluator.plan.schema import STUDY_MIN_DIST, STUDY_N_NEIGHBORS, AnalysisSettings
from medembed_evaluator.probe import Protocol


def blobs(n_per_class: int = 15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = 3.0 * np.eye(6)[:3]
    vectors = np.concatenate([centres[c] + 0.2 * rng.standard_normal((n_per_class, 6)) for c in range(3)])
    return vectors.astype(np.float32), np.repeat([0, 1, 2], n_per_class)


@pytest.fixture(scope="module")
def pair() -> PairData:
    vectors, labels = blobs()
    metadata = [{"overlay_text": "LT" if i % 2 else "BREAST", "patient": f"p{i}"} for i in range(len(labels))]
    return PairData("Tiny/model", "blobs", vectors, labels, ["a", "b", "c"], metadata)


def test_same_seed_gives_the_same_map_and_the_map_keeps_the_blobs_apart() -> None:
    vectors, labels = blobs()
    first = umap_xy(vectors, MapSetting(10, 0.1), seed=0)
    assert first.shape == (45, 2)
    assert np.array_equal(first, umap_xy(vectors, MapSetting(10, 0.1), seed=0))
    centres = np.stack([first[labels == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(first[labels == c] - centres[c], axis=1).max() for c in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > spread  # every blob is its own island


def test_grid_skips_n_neighbors_a_map_cannot_have() -> None:
    settings, skipped = grid_settings(180, STUDY_N_NEIGHBORS, STUDY_MIN_DIST)
    assert skipped == [200, 500, 1000]
    assert len(settings) == 7 * 5
    assert MapSetting(100, 0.25) in settings and all(s.n_neighbors < 180 for s in settings)


def test_default_map_has_a_class_panel_and_a_metadata_panel(pair, tmp_path) -> None:
    analysis = analyse_pair(pair, AnalysisSettings(maps="default"), Protocol(folds=3), tmp_path)
    (figure,) = analysis.figures
    assert figure.path == "figures/Tiny-model__blobs__map.png"
    assert "right by overlay_text" in figure.caption  # 2 values; patient has 45, too many to colour
    with Image.open(tmp_path / figure.path) as image:
        assert image.format == "PNG" and image.width > 1.6 * image.height  # two panels side by side
    assert analysis.separability is not None and analysis.separability.trustworthiness > 0.8


def test_grid_draws_the_usable_settings_and_notes_the_skipped(pair, tmp_path) -> None:
    analysis_settings = AnalysisSettings(maps="grid", n_neighbors=(5, 10, 50), min_dist=(0.1, 0.5), color_by="patient",
                        separability=False)
    analysis = analyse_pair(pair, analysis_settings, Protocol(folds=3), tmp_path)
    default, grid = analysis.figures
    assert grid.path.endswith("__grid.png") and "rows n_neighbors 5, 10, columns min_dist 0.1, 0.5" in grid.caption
    assert "right by patient" in default.caption
    assert analysis.notes == ["map grid: n_neighbors 50 skipped (the map has 45 points)"]
    assert analysis.separability is None
    with Image.open(tmp_path / grid.path) as image:
        assert image.height > image.width  # two rows of panels, two columns, legend below


def test_maps_off_draws_nothing_and_has_no_trustworthiness(pair, tmp_path) -> None:
    analysis = analyse_pair(pair, AnalysisSettings(maps="off", color_by="view"), Protocol(folds=3), tmp_path)
    assert analysis.figures == [] and not (tmp_path / "figures").exists()
    assert analysis.separability.trustworthiness is None
    assert analysis.separability.silhouette > 0.5


def test_large_pairs_are_mapped_on_a_stratified_subset(tmp_path) -> None:
    vectors, labels = blobs(n_per_class=20)
    pair = PairData("m", "d", vectors, labels, ["a", "b", "c"], [{} for _ in labels])
    analysis = analyse_pair(pair, AnalysisSettings(max_points=30), Protocol(folds=3), tmp_path)
    assert analysis.notes == ["maps, silhouette and trustworthiness use a stratified subset of 30 of 60 points"]
    assert analysis.separability.silhouette_points == 30
    assert "30 points" in analysis.figures[0].caption


def test_a_map_with_one_panel_says_so_without_left_or_right(tmp_path) -> None:
    vectors, labels = blobs()
    pair = PairData("m", "d", vectors, labels, ["a", "b", "c"], [{} for _ in labels])
    (figure,) = analyse_pair(pair, AnalysisSettings(separability=False), Protocol(folds=3), tmp_path).figures
    assert "points): coloured by class." in figure.caption
    assert "left" not in figure.caption and "right" not in figure.caption
    with Image.open(tmp_path / figure.path) as image:
        assert image.width < 1.6 * image.height  # one panel
