"""Family plugins: each builds the models of one library (open_clip, timm, ...) from a catalog entry.

A family module exposes `load(entry, device) -> LoadedEncoder` and `preprocessing(entry) ->
Preprocessing` (the model's own transform, known without its weights), plus the constants of
families/options.py (`OPTIONS`, `CODE_VERSION`). A family that dispatches on the
architecture (hf, torchvision) exposes `module_for(entry)`, the module holding those constants for
that entry. Families are imported on first use, so an image installs only the libraries of the
families it serves.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from types import ModuleType

import torch

from ..catalog import CatalogEntry, WeightsSource
from ..identity import CodeIdentity
from ..logs import event
from .base import LoadedEncoder, ModelLoadError, WeightsUnavailable
from .hub import require_hub_token
from .options import CatalogOptions, OptionsError

log = logging.getLogger(__name__)

FAMILY_MODULES = {
    "open_clip": "medembed_encoder.families.open_clip_family",
    "timm": "medembed_encoder.families.timm_family",
    "hf": "medembed_encoder.families.hf_family",
    "torchvision": "medembed_encoder.families.torchvision_family",
}


def family_module(entry: CatalogEntry) -> ModuleType:
    module_name = FAMILY_MODULES.get(entry.family)
    if module_name is None:
        raise ModelLoadError(f"model {entry.id!r}: unknown family {entry.family!r}; known: {sorted(FAMILY_MODULES)}")
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"model {entry.id!r}: family {entry.family!r} needs an extra that is not installed "
            f"(pip install 'medembed-encoder[{entry.family}]'): {exc}") from None


def family_parts(entry: CatalogEntry) -> ModuleType:
    """The module that declares OPTIONS and CODE_VERSION for this entry."""
    family = family_module(entry)
    module_for = getattr(family, "module_for", None)
    return module_for(entry) if module_for is not None else family


def validate_options(entry: CatalogEntry) -> CatalogOptions:
    """The entry's options checked against its family's schema (OptionsError names the bad key)."""
    schema: type[CatalogOptions] = family_parts(entry).OPTIONS
    return schema.from_entry(entry)


def code_identity(entry: CatalogEntry) -> CodeIdentity:
    parts = family_parts(entry)
    return CodeIdentity(module=parts.__name__, code_version=int(parts.CODE_VERSION),
                        options=validate_options(entry).canonical())


def _load(family: ModuleType, entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    require_hub_token(entry)
    try:
        return family.load(entry, device)
    except ModelLoadError:
        raise
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"model {entry.id!r}: family {entry.family!r} could not build or load "
                             f"{entry.architecture}: {type(exc).__name__}: {exc}") from exc


def load_encoder(entry: CatalogEntry, device: torch.device, allow_random_weights: bool) -> LoadedEncoder:
    """The model ready to embed. With `allow_random_weights`, random-init entries are served, and so
    are entries whose weights cannot be had here (offline, not downloaded, gated): seeded random init,
    logged as a warning and reported as random_weights, never silently."""
    if entry.weights.is_random and not allow_random_weights:
        raise ModelLoadError(
            f"model {entry.id!r} has no pretrained weights (random init); start with "
            "--allow-random-weights (MEDEMBED_ALLOW_RANDOM_WEIGHTS=1) to serve it anyway")
    family = family_module(entry)
    code = code_identity(entry)  # an unknown option fails here, before any weights load
    try:
        encoder = _load(family, entry, device)
    except WeightsUnavailable as exc:
        if not allow_random_weights:
            raise
        event(log, "model_weights_unavailable", logging.WARNING, model=entry.id, error=str(exc),
              serving="random init (--allow-random-weights)")
        random_entry = dataclasses.replace(entry, weights=WeightsSource("random", seed=entry.weights.seed))
        encoder = _load(family, random_entry, device)
    default_dim = encoder.spec_dims.get(encoder.default_spec)
    if default_dim is None:
        raise ModelLoadError(f"model {entry.id!r}: default spec {encoder.default_spec!r} not offered")
    if entry.dim is not None and entry.dim != default_dim:
        raise ModelLoadError(f"model {entry.id!r}: catalog says dim {entry.dim}, model gives {default_dim}")
    return dataclasses.replace(encoder, code=code)


__all__ = ["FAMILY_MODULES", "CatalogOptions", "LoadedEncoder", "ModelLoadError", "OptionsError", "WeightsUnavailable",
           "code_identity", "family_module", "family_parts", "load_encoder", "validate_options"]
