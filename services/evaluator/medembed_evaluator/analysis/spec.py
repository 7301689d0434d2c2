"""The plan's `analysis:` section: which maps, whether separability, and the text-overlay bias test.

A plan without the section runs only the probe; `analysis: {}` gives the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass

from medembed_evaluator.errors import PlanError

STUDY_N_NEIGHBORS = (3, 5, 10, 15, 25, 50, 100, 200, 500, 1000)
STUDY_MIN_DIST = (0.1, 0.25, 0.5, 0.75, 1.0)
MAP_MODES = ("default", "grid", "off")
DEFAULT_NEUTRAL_WORDS = ("GAIN", "SCAN", "DEPTH")


@dataclass(frozen=True)
class BiasSpec:
    """The controlled text-overlay test: words burned into a subset of each dataset's images."""

    datasets: tuple[str, ...] = ()
    """Dataset names to test; empty = every dataset of the plan."""
    models: tuple[str, ...] = ()
    """Model ids or labels to test; empty = every model of the plan."""
    max_images: int = 60
    """Per dataset: a stratified, seeded subset of at most this many images is overlaid."""
    neutral_words: tuple[str, ...] = DEFAULT_NEUTRAL_WORDS
    neutral_correlation: float = 0.0
    """Probability that an image's neutral word is its class's own (word i for class i, cycling),
    rather than one drawn uniformly: 0 = text independent of the class, 1 = a perfect shortcut."""
    size_frac: float = 0.08
    position: tuple[float, ...] = (0.05, 0.85)
    """Top-left corner of the text, as fractions of (width, height)."""
    contrast: float = 0.9

    def __post_init__(self) -> None:
        if self.max_images < 10:
            raise PlanError(f"analysis.bias.max_images must be at least 10, got {self.max_images}")
        if len(self.neutral_words) < 2 or any(not word.strip() for word in self.neutral_words):
            raise PlanError("analysis.bias.neutral_words needs at least 2 non-empty words")
        if len(set(self.neutral_words)) != len(self.neutral_words):
            raise PlanError(f"analysis.bias.neutral_words has duplicates: {list(self.neutral_words)}")
        if not 0.0 <= self.neutral_correlation <= 1.0:
            raise PlanError(f"analysis.bias.neutral_correlation must be in [0, 1], got {self.neutral_correlation}")
        if not 0.0 < self.size_frac <= 1.0:
            raise PlanError(f"analysis.bias.size_frac must be in (0, 1], got {self.size_frac}")
        if len(self.position) != 2 or not all(0.0 <= p < 1.0 for p in self.position):
            raise PlanError(f"analysis.bias.position must be [x, y] fractions in [0, 1), got {list(self.position)}")
        if not 0.0 < self.contrast <= 1.0:
            raise PlanError(f"analysis.bias.contrast must be in (0, 1], got {self.contrast}")

    def applies_to(self, dataset: str, model_id: str, model_label: str) -> bool:
        return (not self.datasets or dataset in self.datasets) and (
            not self.models or model_id in self.models or model_label in self.models)


@dataclass(frozen=True)
class AnalysisSpec:
    maps: str = "default"
    """default: one map per pair (by class, by `color_by`); grid: also the n_neighbors x min_dist grid; off."""
    color_by: str = ""
    """Metadata field for the map's second panel; empty = the first field with 2 to 20 distinct values."""
    n_neighbors: tuple[int, ...] = STUDY_N_NEIGHBORS
    min_dist: tuple[float, ...] = STUDY_MIN_DIST
    default_n_neighbors: int = 15
    default_min_dist: float = 0.1
    max_points: int = 3000
    """Maps, silhouette and trustworthiness use a stratified subset of at most this many points."""
    separability: bool = True
    seed: int = 0
    """For UMAP, k-means, the subsets, and the bias test's word draws."""
    bias: BiasSpec | None = None
    """None: no bias test; `bias: {}` in the plan runs it with the defaults."""

    def __post_init__(self) -> None:
        if self.maps not in MAP_MODES:
            raise PlanError(f"analysis.maps must be one of {', '.join(MAP_MODES)}, got '{self.maps}'")
        if not self.n_neighbors or any(n < 2 for n in self.n_neighbors):
            raise PlanError(f"analysis.n_neighbors must be integers >= 2, got {list(self.n_neighbors)}")
        if not self.min_dist or any(not 0.0 <= d <= 1.0 for d in self.min_dist):
            raise PlanError(f"analysis.min_dist must be numbers in [0, 1], got {list(self.min_dist)}")
        if self.default_n_neighbors < 2:
            raise PlanError(f"analysis.default_n_neighbors must be at least 2, got {self.default_n_neighbors}")
        if not 0.0 <= self.default_min_dist <= 1.0:
            raise PlanError(f"analysis.default_min_dist must be in [0, 1], got {self.default_min_dist}")
        if self.max_points < 20:
            raise PlanError(f"analysis.max_points must be at least 20, got {self.max_points}")
