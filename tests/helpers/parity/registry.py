"""The registry of parity cases: one per catalog id, contributed by per-family modules."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from medembed_encoder.catalog import builtin_catalog_text

# Modules that register cases when imported; a family adds its own module here.
CASE_MODULES = ("open_clip_cases", "timm_cases", "torchvision_cases", "hf_cases", "hf_llava_cases", "github_cases")
# Transformer towers are built with this many blocks unless full depth is asked for: the same code
# path (a block loop) at a size two CPU cores embed in a moment. Every row says so.
DEPTH_CAP = 2


@dataclass(frozen=True)
class Reference:
    description: str  # the upstream API, e.g. "open_clip create_model_and_transforms + model.encode_image"
    embed: Callable[[Image.Image], np.ndarray]  # decoded image (mode L or RGB) -> [dim] float vector


@dataclass
class BuiltCase:
    entry: dict[str, Any]  # the catalog entry (YAML mapping) that serves the saved weights
    references: dict[str, Reference]  # spec -> upstream reference
    note: str = ""  # what differs from the release, e.g. "vision depth 2 of 48"
    env: dict[str, str] = field(default_factory=dict)  # extra server environment


@dataclass(frozen=True)
class CaseContext:
    work: Path  # this case's own folder (checkpoints)
    hub_cache: Path  # the shared Hugging Face cache the server and the references read (offline)
    full_depth: bool = False

    def depth(self, full: int) -> tuple[int, str]:
        """(depth to build, note for the row)."""
        if self.full_depth or full <= DEPTH_CAP:
            return full, ""
        return DEPTH_CAP, f"depth {DEPTH_CAP} of {full}"


@dataclass(frozen=True)
class ParityCase:
    model_id: str
    family: str  # cases of one family share one server
    build: Callable[[CaseContext], BuiltCase]


CASES: dict[str, ParityCase] = {}


def parity_case(model_id: str, family: str) -> Callable[[Callable[[CaseContext], BuiltCase]], Callable]:
    def register(build: Callable[[CaseContext], BuiltCase]) -> Callable[[CaseContext], BuiltCase]:
        if model_id in CASES:
            raise ValueError(f"parity case {model_id!r} registered twice")
        CASES[model_id] = ParityCase(model_id, family, build)
        return build
    return register


def load_cases() -> dict[str, ParityCase]:
    """Import every case module (each registers its cases) and return the registry."""
    for name in CASE_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    return CASES


def catalog_entry(model_id: str) -> dict[str, Any]:
    """The built-in catalog's raw entry for `model_id` (a deep copy, YAML anchors resolved)."""
    for raw in yaml.safe_load(builtin_catalog_text())["models"]:
        if raw["id"] == model_id:
            return copy.deepcopy(raw)
    raise KeyError(model_id)
