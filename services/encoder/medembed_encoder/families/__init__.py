"""Family plugins: each builds the models of one library (open_clip, timm, ...) from a catalog entry.

A family module exposes `load(entry, device, allow_random_weights) -> LoadedEncoder`. Families are
imported on first use, so an image installs only the libraries of the families it serves.
"""

from __future__ import annotations

import importlib

import torch

from ..catalog import CatalogEntry
from .base import LoadedEncoder, ModelLoadError

FAMILY_MODULES = {
    "open_clip": "medembed_encoder.families.open_clip_family",
    "timm": "medembed_encoder.families.timm_family",
}


def load_encoder(entry: CatalogEntry, device: torch.device, allow_random_weights: bool) -> LoadedEncoder:
    module_name = FAMILY_MODULES.get(entry.family)
    if module_name is None:
        raise ModelLoadError(f"model {entry.id!r}: unknown family {entry.family!r}; known: {sorted(FAMILY_MODULES)}")
    if entry.weights.is_random and not allow_random_weights:
        raise ModelLoadError(
            f"model {entry.id!r} has no pretrained weights (random init); start with "
            "--allow-random-weights (MEDEMBED_ALLOW_RANDOM_WEIGHTS=1) to serve it anyway")
    try:
        family = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"model {entry.id!r}: family {entry.family!r} needs an extra that is not installed "
            f"(pip install 'medembed-encoder[{entry.family}]'): {exc}") from None
    encoder: LoadedEncoder = family.load(entry, device)
    default_dim = encoder.spec_dims.get(encoder.default_spec)
    if default_dim is None:
        raise ModelLoadError(f"model {entry.id!r}: default spec {encoder.default_spec!r} not offered")
    if entry.dim is not None and entry.dim != default_dim:
        raise ModelLoadError(f"model {entry.id!r}: catalog says dim {entry.dim}, model gives {default_dim}")
    return encoder


__all__ = ["FAMILY_MODULES", "LoadedEncoder", "ModelLoadError", "load_encoder"]
