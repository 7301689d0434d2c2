"""hf family: image encoders built from transformers models, one module per checkpoint format.

`architecture` names the format: `llava` (LLaVA-1.5/1.6 and LLaVA-Med(++) towers with projector),
`clip_vision_projection` (a CLIP tower with its visual projection, e.g. LLM2CLIP), `cxr_clip_swin`
(CXR-CLIP's Swin image encoder). Architecture configs and processor configs are recorded in the
catalog entry's options, so every model builds offline; weights come from the hub or a local path.
Each architecture module declares its own OPTIONS and CODE_VERSION (families/options.py).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch

from ..catalog import CatalogEntry
from .base import LoadedEncoder, ModelLoadError, Preprocessing

ARCHITECTURE_MODULES = {
    "llava": "medembed_encoder.families.hf_llava",
    "clip_vision_projection": "medembed_encoder.families.hf_llm2clip",
    "cxr_clip_swin": "medembed_encoder.families.hf_cxr_clip",
}


def _architecture(entry: CatalogEntry) -> ModuleType:
    module_name = ARCHITECTURE_MODULES.get(entry.architecture)
    if module_name is None:
        raise ModelLoadError(f"model {entry.id!r}: hf family has no architecture {entry.architecture!r}; "
                             f"known: {sorted(ARCHITECTURE_MODULES)}")
    return importlib.import_module(module_name)


def module_for(entry: CatalogEntry) -> ModuleType:
    """The architecture module: it declares OPTIONS and CODE_VERSION."""
    return _architecture(entry)


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    return _architecture(entry).preprocessing(entry)


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    return _architecture(entry).load(entry, device)
