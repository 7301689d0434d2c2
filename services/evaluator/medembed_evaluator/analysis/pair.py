"""Analysis of one (model, dataset) pair's stored features: maps and separability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medembed_evaluator.analysis.figures import FigureFile, draw_default_map, draw_map_grid, figure_path
from medembed_evaluator.analysis.sampling import stratified_subset
from medembed_evaluator.analysis.separability import MapPoints, Separability, measure_separability
from medembed_evaluator.analysis.umap_maps import MapSetting, grid_settings, umap_xy
from medembed_evaluator.plan.schema import AnalysisSettings
from medembed_evaluator.probe_protocol import Protocol
from medembed_evaluator.progress import stage_bar, step

MAX_FIELD_VALUES = 20


@dataclass(frozen=True)
class PairAnalysis:
    """The analysis of one (model, dataset) pair: its separability, its figures (paths relative to
    the run folder) and notes.
    """

    separability: Separability | None
    figures: list[FigureFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What was subsampled, skipped or clamped, in words."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (results.json "analysis")."""
        return {
            "separability": self.separability.to_dict() if self.separability else None,
            "figures": [{"path": f.path, "caption": f.caption} for f in self.figures],
            "notes": self.notes,
        }


@dataclass(frozen=True)
class PairData:
    """One pair's usable features (failed items removed) and what the maps are coloured by."""

    model_label: str
    dataset: str
    vectors: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    metadata: Sequence[Mapping[str, str]]


def analyse_pair(pair: PairData, analysis: AnalysisSettings, protocol: Protocol, run_dir: Path) -> PairAnalysis:
    """The maps and separability that `analysis` asks for, on `pair`'s usable features.

    Maps and the silhouette use a stratified subset of at most analysis.max_points points; k-NN
    and k-means use every point, the k-NN on `protocol`'s folds. Figures are written under
    `run_dir`; what was subsampled, clamped or skipped is said in the result's notes.
    """
    notes: list[str] = []
    rows = stratified_subset(pair.labels, analysis.max_points, analysis.seed)
    if len(rows) < len(pair.labels):
        notes.append(f"maps, silhouette and trustworthiness use a stratified subset of {len(rows)} of "
                     f"{len(pair.labels)} points")
    figures: list[FigureFile] = []
    default_map = None
    steps = (analysis.maps != "off") + (analysis.maps == "grid") + bool(analysis.separability)
    with stage_bar(f"{pair.model_label} x {pair.dataset}: analysis", steps) as bar:
        if analysis.maps != "off":
            step(bar, "UMAP map")
            default_map, figure = _default_map(pair, rows, analysis, run_dir, notes)
            figures.append(figure)
            bar.update()
        grid = None
        if analysis.maps == "grid":
            step(bar, "UMAP settings grid")
            grid = _grid(pair, rows, analysis, run_dir, notes)
            bar.update()
        if grid is not None:
            figures.append(grid)
        separability = None
        if analysis.separability:
            step(bar, "separability")
            separability = measure_separability(pair.vectors, pair.labels, protocol, seed=analysis.seed,
                                                silhouette_rows=rows, default_map=default_map)
            bar.update()
    return PairAnalysis(separability, figures, notes)


def _default_map(pair: PairData, rows: np.ndarray, analysis: AnalysisSettings, run_dir: Path,
                 notes: list[str]) -> tuple[MapPoints, FigureFile]:
    n_neighbors = min(analysis.default_n_neighbors, len(rows) - 1)
    if n_neighbors < analysis.default_n_neighbors:
        notes.append(f"default map: n_neighbors clamped from {analysis.default_n_neighbors} to {n_neighbors} "
                     f"({len(rows)} points)")
    setting = MapSetting(n_neighbors, analysis.default_min_dist)
    xy = umap_xy(pair.vectors[rows], setting, analysis.seed)
    field_name = _color_field(pair.metadata, analysis.color_by, notes)
    colored_by = None
    if field_name is not None:
        colored_by = (field_name, [pair.metadata[row].get(field_name, "(none)") for row in rows])
    relative = figure_path(pair.model_label, pair.dataset, "map")
    title = f"{pair.model_label} on {pair.dataset}"
    draw_default_map(run_dir / relative, xy, pair.labels[rows], pair.class_names, title, colored_by)
    panels = f"left coloured by class, right by {field_name}" if field_name else "coloured by class"
    caption = (f"UMAP of {pair.model_label} features on {pair.dataset} (cosine, n_neighbors {n_neighbors}, "
               f"min_dist {analysis.default_min_dist:g}, seed {analysis.seed}, {len(rows)} points): {panels}. "
               "Islands of one colour mean the features group images by that property without being told to.")
    return MapPoints(rows, xy), FigureFile(relative, caption)


def _grid(pair: PairData, rows: np.ndarray, analysis: AnalysisSettings, run_dir: Path,
          notes: list[str]) -> FigureFile | None:
    settings, skipped = grid_settings(len(rows), analysis.n_neighbors, analysis.min_dist)
    if skipped:
        notes.append(f"map grid: n_neighbors {', '.join(map(str, skipped))} skipped (the map has {len(rows)} "
                     "points)")
    if not settings:
        notes.append("map grid: no n_neighbors value is below the number of points; no grid drawn")
        return None
    maps = {}
    with stage_bar(f"{pair.model_label} x {pair.dataset}: UMAP grid", len(settings), "map") as bar:
        for setting in settings:
            step(bar, f"n_neighbors {setting.n_neighbors}, min_dist {setting.min_dist:g}")
            maps[setting] = umap_xy(pair.vectors[rows], setting, analysis.seed)
            bar.update()
    relative = figure_path(pair.model_label, pair.dataset, "grid")
    draw_map_grid(run_dir / relative, maps, pair.labels[rows], pair.class_names,
                  f"{pair.model_label} on {pair.dataset}: UMAP settings grid")
    used = sorted({s.n_neighbors for s in settings})
    caption = (f"UMAP grid of {pair.model_label} features on {pair.dataset}, coloured by class: rows n_neighbors "
               f"{', '.join(map(str, used))}, columns min_dist {', '.join(f'{d:g}' for d in analysis.min_dist)} "
               f"(cosine, seed {analysis.seed}). Groups that persist across the grid are in the features, not an "
               "artefact of one setting.")
    return FigureFile(relative, caption)


def _color_field(metadata: Sequence[Mapping[str, str]], requested: str, notes: list[str]) -> str | None:
    values: dict[str, set[str]] = {}
    for item in metadata:
        for key, value in item.items():
            values.setdefault(key, set()).add(value)
    if requested:
        if requested in values:
            return requested
        known = ", ".join(sorted(values)) or "none"
        notes.append(f"metadata field '{requested}' not in this dataset (fields: {known})")
        return None
    usable = [key for key in sorted(values) if 2 <= len(values[key]) <= MAX_FIELD_VALUES]
    return usable[0] if usable else None

