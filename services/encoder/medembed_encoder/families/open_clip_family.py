"""open_clip family: the image tower of any open_clip architecture.

Weights: `random` (seeded init of the real config), `pretrained` (an open_clip tag such as
`laion2b_s34b_b88k`), `hub` (an hf-hub id) or `local` (a checkpoint file in open_clip's layout).
Preprocessing is open_clip's own eval transform for the architecture (size, crop, mean/std).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import open_clip
import torch

from ..catalog import CatalogEntry
from .base import LoadedEncoder, ModelLoadError, measure_spec_dims, preprocess_digest, state_dict_digest
from .weights import existing_checkpoint


def _register_inline_config(entry: CatalogEntry) -> None:
    """Catalog entries may define an architecture inline (`options.model_cfg`), e.g. tiny test models."""
    model_cfg = entry.options.get("model_cfg")
    if model_cfg is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{entry.architecture}.json"
        path.write_text(json.dumps(model_cfg))
        open_clip.add_model_config(path)


def _create(entry: CatalogEntry) -> tuple[torch.nn.Module, object]:
    weights = entry.weights
    cache_dir = os.environ.get("MEDEMBED_MODEL_CACHE") or None
    name, pretrained = entry.architecture, None
    if weights.kind == "random":
        torch.manual_seed(weights.seed)
    elif weights.kind == "pretrained":
        pretrained = weights.ref
    elif weights.kind == "hub":
        name = f"hf-hub:{weights.ref}"
    elif weights.kind == "local":
        pretrained = str(existing_checkpoint(weights.ref, entry.id))
    else:
        raise ModelLoadError(f"model {entry.id!r}: open_clip cannot load weights of kind {weights.kind!r}")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, cache_dir=cache_dir, weights_only=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"model {entry.id!r}: open_clip could not load {name} ({pretrained}): {exc}") from exc
    return model, preprocess


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    _register_inline_config(entry)
    model, preprocess = _create(entry)
    visual = model.visual.eval().to(device)
    del model  # the text tower is never needed
    input_size = int(visual.image_size[0] if isinstance(visual.image_size, tuple) else visual.image_size)

    def embed_projected(batch: torch.Tensor) -> torch.Tensor:
        return visual(batch)

    specs = {"default": embed_projected}
    return LoadedEncoder(
        entry=entry, module=visual, preprocess=preprocess, specs=specs,
        spec_dims=measure_spec_dims(visual, specs, input_size), input_size=input_size,
        weights_digest=state_dict_digest(visual), preprocess_digest=preprocess_digest(repr(preprocess)),
        random_weights=entry.weights.is_random,
    )
