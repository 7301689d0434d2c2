"""The family registry: which module builds each catalog entry, imported on first use.

One package per model library, each holding its family modules and the one-model helpers they use:
open_clip/ (family.py; conch.py, CONCH's tower), timm/ (family.py; efficientnet_keys.py),
torchvision/ (classifiers.py; flair.py, FLAIR's ResNet50), hf/ (one module per checkpoint format:
llava.py, llm2clip.py, cxr_clip.py, vision_backbone.py; checkpoint.py, processing.py and the llava_* helpers
they share).
Where the weights come from is weights/, beside this package.

`FAMILIES` maps a family name to its module, or, for a family whose architectures are built by
different code (hf, torchvision, open_clip), to a table architecture -> module (`*`: every other
architecture, e.g. open_clip's own, served by open_clip/family.py; conch_v1_5 by open_clip/conch_v1_5.py).
Every module it names provides the Family interface (interface.py: `load`, `preprocessing`, `OPTIONS`,
`CODE_VERSION`, `CODE_NAME`), checked when it is first imported. A module is imported only when an entry
needs it, so a container installs only the libraries of the family it serves (`pip install
'medembed-encoder[timm]'`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
from collections.abc import Mapping

import torch

from ..catalog import CatalogEntry, WeightsSource
from ..identity import CodeIdentity
from ..load_errors import ModelLoadError, WeightsUnavailable
from ..logs import event
from ..weights.hub import require_hub_token
from .base import LoadedEncoder
from .interface import Family, FamilyInterfaceError, check_family
from .options import CatalogOptions, OptionsError

log = logging.getLogger(__name__)

_TORCHVISION_CLASSIFIERS = "medembed_encoder.families.torchvision.classifiers"
ANY_ARCHITECTURE = "*"  # in an architecture table: the module serving every architecture not listed
FAMILIES: dict[str, str | Mapping[str, str]] = {
    "open_clip": {
        "conch_v1_5": "medembed_encoder.families.open_clip.conch_v1_5",
        ANY_ARCHITECTURE: "medembed_encoder.families.open_clip.family",  # any open_clip architecture or config
    },
    "timm": "medembed_encoder.families.timm.family",
    "torchvision": {
        "vgg16": _TORCHVISION_CLASSIFIERS,
        "resnet50": _TORCHVISION_CLASSIFIERS,
        "vit_l_16": _TORCHVISION_CLASSIFIERS,
        "flair_resnet50": "medembed_encoder.families.torchvision.flair",
    },
    "hf": {
        "llava": "medembed_encoder.families.hf.llava",
        "clip_vision_projection": "medembed_encoder.families.hf.llm2clip",
        "cxr_clip_swin": "medembed_encoder.families.hf.cxr_clip",
        "vision_backbone": "medembed_encoder.families.hf.vision_backbone",
    },
}


def family_module_name(entry: CatalogEntry) -> str:
    """The module path of the code that serves `entry`, from FAMILIES; nothing is imported.

    Raises ModelLoadError naming the known families (or architectures) when the entry's are not registered.
    """
    registered = FAMILIES.get(entry.family)
    if registered is None:
        raise ModelLoadError(f"model {entry.id!r}: unknown family {entry.family!r}; known: {sorted(FAMILIES)}")
    if isinstance(registered, str):
        return registered
    module_name = registered.get(entry.architecture, registered.get(ANY_ARCHITECTURE))
    if module_name is None:
        raise ModelLoadError(f"model {entry.id!r}: family {entry.family!r} has no architecture "
                             f"{entry.architecture!r}; known: {sorted(registered)}")
    return module_name


@functools.cache
def _import_family(module_name: str, where: str) -> Family:
    return check_family(importlib.import_module(module_name), where)


def family_for(entry: CatalogEntry) -> Family:
    """The family module that serves `entry`, imported on first use and checked against the Family interface.

    Raises ModelLoadError for an unregistered family or architecture, or when the family's extra is not
    installed (the message gives the pip command); FamilyInterfaceError when the module lacks a part.
    """
    module_name = family_module_name(entry)
    where = f"family {entry.family!r}"
    if not isinstance(FAMILIES[entry.family], str):
        where += f", architecture {entry.architecture!r}"
    try:
        return _import_family(module_name, where)
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


__all__ = ["FAMILIES", "CatalogOptions", "Family", "FamilyInterfaceError", "LoadedEncoder", "ModelLoadError",
           "OptionsError", "WeightsUnavailable", "code_identity", "family_for", "family_module_name", "load_encoder",
           "validate_options"]
