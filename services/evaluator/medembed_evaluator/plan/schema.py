"""The plan's schema: what a plan YAML may say, as typed, frozen classes with their value rules.

    name: NAME                      Plan.name
    encoders: {KEY: HOST:PORT}      Plan.encoders
    models: [...]                   ModelEntry each
    datasets: [...]                 DatasetEntry each (its `options:` typed by its kind's loader)
    protocol: {...}                 probe.Protocol (the study's splits; probes svm, logreg, knn; bootstrap)
    output: {...}                   OutputSettings
    security: {...}                 SecuritySettings
    analysis: {..., bias: {...}}    AnalysisSettings, BiasSettings
    compare: published | {...}      comparison.CompareSettings (beside what it configures, as probe.Protocol)

`plan.load` reads a YAML document into these through the one typed reader (`typed_settings`) and
checks what spans sections (targets, names the bias test refers to, dataset options by kind).
Each class's `__post_init__` holds its own value rules; messages start with the field's name,
the parser adds the section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from medembed_evaluator.comparison import CompareSettings
from medembed_evaluator.errors import PlanError
from medembed_evaluator.probe_protocol import Protocol
from medembed_proto.security import ENV as SECURITY_ENV

GROUPS = ("medical", "modality-specific", "non-medical", "non-VLM")
"""Row groups of the study's table, in table order."""
DEFAULT_TARGET = "default"
"""The `encoders:` key a model without `target:` is served from."""
STUDY_N_NEIGHBORS = (3, 5, 10, 15, 25, 50, 100, 200, 500, 1000)
"""The study's UMAP grid: n_neighbors values (rows)."""
STUDY_MIN_DIST = (0.1, 0.25, 0.5, 0.75, 1.0)
"""The study's UMAP grid: min_dist values (columns)."""
MAP_MODES = ("default", "grid", "off")
DEFAULT_NEUTRAL_WORDS = ("GAIN", "SCAN", "DEPTH")


@dataclass(frozen=True)
class ModelEntry:
    """One `models:` entry: a model of the catalog, its table row, and the encoder serving it."""

    entry_key: ClassVar[str] = "id"
    id: str
    group: str
    """One of GROUPS: the block of the table the row goes in."""
    label: str = ""
    """The row's name in the table; empty = the id."""
    spec: str = ""
    """Embedding spec; empty = the model's default."""
    target: str | None = None
    """In a plan file: a key of `encoders:` or HOST:PORT (None = DEFAULT_TARGET). In a loaded Plan:
    the resolved HOST:PORT, None for models the evaluator computes itself (raw-pixels)."""

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise PlanError(f"group: '{self.group}' is not one of {', '.join(GROUPS)}")
        if not self.label:
            object.__setattr__(self, "label", self.id)


@dataclass(frozen=True)
class DatasetEntry:
    """One `datasets:` entry: a dataset kind (see datasets.DATASET_KINDS), where its files are, and
    its options as written (each kind checks them against its own options dataclass)."""

    entry_key: ClassVar[str] = "name"
    name: str
    kind: str
    path: str | None = None
    """Relative to the data root (or absolute); default: the dataset's name, for kinds that read files."""
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        relative = str(self.path if self.path is not None else self.name)
        if not relative.startswith("/") and ".." in relative.replace("\\", "/").split("/"):
            key = "path" if self.path is not None else "name (the default path)"
            raise PlanError(f"{key}: '{relative}' climbs out of the data root with '..'; give a path inside "
                            "--data-root, or an absolute one")

    def root(self, data_root: Path) -> Path:
        """The dataset's folder or file: `data_root / path` (an absolute path stays as it is)."""
        return data_root / (self.path or self.name)


@dataclass(frozen=True)
class OutputSettings:
    """The plan's `output:` section: where finished pairs go besides the run folder."""

    stream: bool = False
    """Publish each finished pair on the Redis stream."""
    redis_url: str | None = None


@dataclass(frozen=True)
class SecuritySettings:
    """How the evaluator reaches its encoders: files only, never a secret's value in the plan.
    The MEDEMBED_TLS_* / MEDEMBED_TOKEN* env vars and the command line's flags win over these."""

    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_server_name: str = ""
    token_file: str = ""

    def as_env(self) -> dict[str, str]:
        """The non-empty settings as the env vars medembed_proto.security reads ({VAR: value})."""
        return {SECURITY_ENV[name]: value for name, value in vars(self).items() if value}


@dataclass(frozen=True)
class BiasSettings:
    """The controlled text-overlay test (`analysis.bias`): words burned into a subset of each dataset's images."""

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
    """Text height as a fraction of the image height."""
    position: tuple[float, ...] = (0.05, 0.85)
    """Top-left corner of the text, as fractions of (width, height)."""
    contrast: float = 0.9

    def __post_init__(self) -> None:
        if self.max_images < 10:
            raise PlanError(f"max_images must be at least 10, got {self.max_images}")
        if len(self.neutral_words) < 2 or any(not word.strip() for word in self.neutral_words):
            raise PlanError("neutral_words needs at least 2 non-empty words")
        if len(set(self.neutral_words)) != len(self.neutral_words):
            raise PlanError(f"neutral_words has duplicates: {list(self.neutral_words)}")
        if not 0.0 <= self.neutral_correlation <= 1.0:
            raise PlanError(f"neutral_correlation must be in [0, 1], got {self.neutral_correlation}")
        if not 0.0 < self.size_frac <= 1.0:
            raise PlanError(f"size_frac must be in (0, 1], got {self.size_frac}")
        if len(self.position) != 2 or not all(0.0 <= p < 1.0 for p in self.position):
            raise PlanError(f"position must be [x, y] fractions in [0, 1), got {list(self.position)}")
        if not 0.0 < self.contrast <= 1.0:
            raise PlanError(f"contrast must be in (0, 1], got {self.contrast}")

    def applies_to(self, dataset: str, model_id: str, model_label: str) -> bool:
        """Whether the test runs on this pair: the dataset and the model (by id or label) are selected."""
        return (not self.datasets or dataset in self.datasets) and (
            not self.models or model_id in self.models or model_label in self.models)


@dataclass(frozen=True)
class AnalysisSettings:
    """The plan's `analysis:` section: which maps, whether separability, and the bias test.

    A plan without the section runs only the probe; `analysis: {}` gives these defaults.
    """

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
    bias: BiasSettings | None = None
    """None: no bias test; `bias: {}` in the plan runs it with the defaults."""

    def __post_init__(self) -> None:
        if self.maps not in MAP_MODES:
            raise PlanError(f"maps must be one of {', '.join(MAP_MODES)}, got '{self.maps}'")
        if not self.n_neighbors or any(n < 2 for n in self.n_neighbors):
            raise PlanError(f"n_neighbors must be integers >= 2, got {list(self.n_neighbors)}")
        if not self.min_dist or any(not 0.0 <= d <= 1.0 for d in self.min_dist):
            raise PlanError(f"min_dist must be numbers in [0, 1], got {list(self.min_dist)}")
        if self.default_n_neighbors < 2:
            raise PlanError(f"default_n_neighbors must be at least 2, got {self.default_n_neighbors}")
        if not 0.0 <= self.default_min_dist <= 1.0:
            raise PlanError(f"default_min_dist must be in [0, 1], got {self.default_min_dist}")
        if self.max_points < 20:
            raise PlanError(f"max_points must be at least 20, got {self.max_points}")


@dataclass(frozen=True)
class Plan:
    """A loaded, validated plan: models x datasets, the probe protocol, and what else to run and publish."""

    name: str
    encoders: dict[str, str]
    """`encoders:` key -> HOST:PORT."""
    models: list[ModelEntry]
    """Targets resolved to HOST:PORT."""
    datasets: list[DatasetEntry]
    protocol: Protocol
    output: OutputSettings
    analysis: AnalysisSettings | None = None
    """None: the plan has no `analysis:` section, so only the probe runs."""
    compare: CompareSettings | None = None
    """`compare: published`: the study's published value and our difference beside each cell."""
    security: SecuritySettings = SecuritySettings()
