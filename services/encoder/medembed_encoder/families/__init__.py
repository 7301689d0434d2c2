"""The family registry: which module builds each catalog entry, imported on first use.

One package per model library, each holding its family modules and the one-model helpers they use:
open_clip/ (family.py; conch.py, CONCH's tower), timm/ (family.py; efficientnet_keys.py),
torchvision/ (classifiers.py; flair.py, FLAIR's ResNet50), hf/ (one module per checkpoint format:
llava.py, llm2clip.py, cxr_clip.py, vision_backbone.py; checkpoint.py, processing.py and the llava_* helpers
they share).
Where the weights come from is weights/, beside this package.

`FAMILIES` (table.py) holds one row per family: the module serving each architecture (for hf,
torchvision and open_clip, different code per architecture), the libraries of its pip extra, its image.
Every module it names provides the Family interface (interface.py: `load`, `preprocessing`, `OPTIONS`,
`CODE_VERSION`, `CODE_NAME`), checked when it is first imported. A module is imported only when an entry
needs it, so a container installs only the libraries of the family it serves (`pip install
'medembed-encoder[timm]'`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import torch

from ..catalog import CatalogEntry, WeightsSource
from ..load_errors import ModelLoadError, WeightsUnavailable
from ..logs import event
from ..weights.hub import require_hub_token
from .base import CodeIdentity, LoadedEncoder
from .interface import Family, FamilyInterfaceError, check_family
from .options import CatalogOptions, OptionsError
from .table import ANY_ARCHITECTURE, FAMILIES, FamilySpec, ModuleLoader

log = logging.getLogger(__name__)


def family_loader(entry: CatalogEntry) -> ModuleLoader:
    """The loader of the module that serves `entry` (its family's row in table.py); nothing is imported yet.

    Raises ModelLoadError naming the known families (or architectures) when the entry's are not registered.
    """
    spec = FAMILIES.get(entry.family)
    if spec is None:
        raise ModelLoadError(f"model {entry.id!r}: unknown family {entry.family!r}; known: {sorted(FAMILIES)}")
    loader = spec.loader_for(entry.architecture)
    if loader is None:
        raise ModelLoadError(f"model {entry.id!r}: family {entry.family!r} has no architecture "
                             f"{entry.architecture!r}; known: {sorted(spec.modules)}")
    return loader


@functools.cache
def _import_family(loader: ModuleLoader, where: str) -> Family:
    return check_family(loader(), where)


def family_for(entry: CatalogEntry) -> Family:
    """The family module that serves `entry`, imported on first use and checked against the Family interface.

    Raises ModelLoadError for an unregistered family or architecture, or when the family's extra is not
    installed (the message gives the pip command); FamilyInterfaceError when the module lacks a part.
    """
    loader = family_loader(entry)
    where = f"family {entry.family!r}"
    if set(FAMILIES[entry.family].modules) != {ANY_ARCHITECTURE}:
        where += f", architecture {entry.architecture!r}"
    try:
        return _import_family(loader, where)
    except ImportError as exc:
        raise ModelLoadError(
            f"model {entry.id!r}: family {entry.family!r} needs an extra that is not installed "
            f"(pip install 'medembed-encoder[{entry.family}]'): {exc}") from None


def validate_options(entry: CatalogEntry) -> CatalogOptions:
    """The entry's options checked against its family's schema (OptionsError names the bad key)."""
    return family_for(entry).OPTIONS.from_entry(entry)


def code_identity(entry: CatalogEntry) -> CodeIdentity:
    """What the family code contributes to the vector identity: its CODE_NAME, CODE_VERSION and the
    entry's validated options as canonical JSON. Raises OptionsError for an option the schema lacks."""
    family = family_for(entry)
    return CodeIdentity(module=family.CODE_NAME, code_version=int(family.CODE_VERSION),
                        options=validate_options(entry).canonical())


def _load(family: Family, entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    require_hub_token(entry)
    try:
        return family.load(entry, device)
    except ModelLoadError:
        raise
    except (RuntimeError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"model {entry.id!r}: family {entry.family!r} could not build or load "
                             f"{entry.architecture}: {type(exc).__name__}: {exc}") from exc


def load_encoder(entry: CatalogEntry, device: torch.device, allow_random_weights: bool) -> LoadedEncoder:
    """The model ready to embed, on `device`, its code identity set.

    With `allow_random_weights`, random-init entries are served, and so are entries whose weights cannot
    be had here (offline, not downloaded, gated): seeded random init, logged as a warning and reported
    as random_weights, never silently. Raises ModelLoadError (the message says why and what to do):
    random weights not allowed, an unknown option, the weights unavailable, a catalog dim that differs
    from the model's.
    """
    if entry.weights.is_random and not allow_random_weights:
        raise ModelLoadError(
            f"model {entry.id!r} has no pretrained weights (random init); start with "
            "--allow-random-weights (MEDEMBED_ALLOW_RANDOM_WEIGHTS=1) to serve it anyway")
    family = family_for(entry)
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


__all__ = ["FAMILIES", "CatalogOptions", "Family", "FamilyInterfaceError", "FamilySpec", "LoadedEncoder",
           "ModelLoadError", "OptionsError", "WeightsUnavailable", "code_identity", "family_for", "family_loader",
           "load_encoder", "validate_options"]
