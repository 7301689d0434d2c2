"""The models this server hosts: loaded runtimes plus ids still loading."""

from __future__ import annotations

from .runtime import ModelRuntime


class ModelRegistry:
    """Models this server hosts: `model_ids` in catalog order, `runtimes` once loaded, `ready` the ids
    serving now (loaded and not stalled)."""

    def __init__(self, model_ids: list[str]) -> None:
        self.model_ids = model_ids
        self.runtimes: dict[str, ModelRuntime] = {}
        self.ready: set[str] = set()
