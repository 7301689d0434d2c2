"""PNG figures: the default 2-D map (by class, by a metadata field), the settings grid, and a strip
of example images (the bias test's overlays).

Drawn with matplotlib's object API (no pyplot), so no global figure state and no display needed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from medembed_evaluator.analysis.umap_maps import MapSetting

FIGURES_DIR = "figures"
DPI = 80
MAX_LEGEND_ENTRIES = 20


@dataclass(frozen=True)
class FigureFile:
    """A PNG written under the run folder, and the caption the report shows under it."""

    path: str
    """Relative to the run folder."""
    caption: str


def figure_path(*parts: str) -> str:
    """figures/<part>__<part>....png, with every part reduced to file-name-safe characters."""
    return f"{FIGURES_DIR}/{'__'.join(_slug(part) for part in parts)}.png"


def draw_default_map(path: Path, xy: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str,
                     field: tuple[str, Sequence[str]] | None) -> None:
    """One panel coloured by class; a second coloured by `field` = (name, value per point) if given."""
    panels = 1 if field is None else 2
    figure = Figure(figsize=(5.2 * panels, 4.6), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    _scatter(axes[0], xy, labels, class_names, "by class", legend=True)
    if field is not None:
        name, values = field
        categories = sorted(set(values))
        code_of = {category: code for code, category in enumerate(categories)}
        codes = np.array([code_of[value] for value in values])
        _scatter(axes[1], xy, codes, categories, f"by {name}", legend=len(categories) <= MAX_LEGEND_ENTRIES)
    figure.suptitle(title, fontsize=11)
    _save(figure, path)


def draw_map_grid(path: Path, maps: dict[MapSetting, np.ndarray], labels: np.ndarray, class_names: Sequence[str],
                  title: str) -> None:
    """Rows n_neighbors, columns min_dist, every panel coloured by class, one legend for all."""
    rows = sorted({s.n_neighbors for s in maps})
    columns = sorted({s.min_dist for s in maps})
    figure = Figure(figsize=(1.9 * len(columns), 1.9 * len(rows) + 0.9), layout="constrained")
    axes = figure.subplots(len(rows), len(columns), squeeze=False)
    for i, n_neighbors in enumerate(rows):
        for j, min_dist in enumerate(columns):
            axis = axes[i][j]
            _scatter(axis, maps[MapSetting(n_neighbors, min_dist)], labels, class_names, "", legend=False,
                     panel_scale=0.35)
            if j == 0:
                axis.set_ylabel(f"n_neighbors {n_neighbors}", fontsize=8)
            if i == 0:
                axis.set_title(f"min_dist {min_dist:g}", fontsize=8)
    figure.legend(handles=_legend_handles(class_names), loc="outside lower center", ncols=min(len(class_names), 6),
                  fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=10)
    _save(figure, path)


def draw_image_strip(path: Path, panels: Sequence[tuple[str, Image.Image]], title: str) -> None:
    """Images side by side, each under its own title."""
    figure = Figure(figsize=(2.6 * len(panels), 3.0), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, (panel_title, image) in zip(axes, panels, strict=True):
        gray = {"cmap": "gray", "vmin": 0, "vmax": 255} if image.mode == "L" else {}
        axis.imshow(np.asarray(image), **gray)
        axis.set_title(panel_title, fontsize=9)
        axis.axis("off")
    figure.suptitle(title, fontsize=10)
    _save(figure, path)


def _scatter(axis: Axes, xy: np.ndarray, codes: np.ndarray, names: Sequence[str], title: str, *, legend: bool,
             panel_scale: float = 1.0) -> None:
    colors = _palette(len(names))
    # A few points get big markers, thousands small ones, so that neither looks empty nor a blot.
    marker_area = panel_scale * float(np.clip(3000.0 / len(xy), 2.0, 40.0))
    axis.scatter(xy[:, 0], xy[:, 1], c=colors[codes], s=marker_area, linewidths=0)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=10)
    if legend:
        axis.legend(handles=_legend_handles(names), fontsize=7, loc="best", frameon=False, markerscale=1.2)


def _legend_handles(names: Sequence[str]) -> list[Line2D]:
    colors = _palette(len(names))
    return [Line2D([], [], marker="o", linestyle="", color=colors[i], label=str(name)) for i, name in enumerate(names)]


def _palette(count: int) -> np.ndarray:
    """[count, 4] RGBA: qualitative colours while they last, then evenly spaced hues."""
    if count <= 10:
        return colormaps["tab10"](np.arange(count))
    if count <= 20:
        return colormaps["tab20"](np.arange(count))
    return colormaps["turbo"](np.linspace(0.0, 1.0, count))


def _save(figure: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"
