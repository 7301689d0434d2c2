"""torchvision family: torchvision classifiers as feature extractors, and FLAIR's ResNet50.

Classifiers (`vgg16`, `resnet50`, `vit_l_16`, any torchvision model whose last layer is listed in
CLASSIFIER_HEADS): the final classification Linear is replaced by identity, so `default` is the
penultimate feature (VGG16 fc7 4096, ResNet50 pool 2048, ViT-L/16 class token 1024). Weights:
`pretrained` (a torchvision weights name such as IMAGENET1K_V1, downloaded by torchvision with
its hash checked), `local` (a checkpoint in torchvision's layout) or `random`. Preprocessing is
the weights' own `transforms()`: the pretrained tag's, else `options.weights_transforms` (a weights
name of the architecture, e.g. IMAGENET1K_V1 for a local copy of those weights), else the
architecture's DEFAULT weights'. The served vector equals torchvision's
`create_feature_extractor(model, {<input of the classifier Linear>: ...})` on the same weights.

`flair_resnet50`: see flair.py; weights `hub` (a repo holding model.safetensors) or `local`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from types import ModuleType
from typing import ClassVar

import torch
import torchvision
from torch import nn

from ..catalog import CatalogEntry
from . import flair
from .base import (
    DEFAULT_SPEC,
    PRE_PROJECTION_SPEC,
    LoadedEncoder,
    ModelLoadError,
    Preprocessing,
    WeightsUnavailable,
    building_on,
    make_encoder,
)
from .flair import CHECKPOINT_PREFIX, FlairImageEncoder, FlairOptions, FlairPreprocess
from .hub import checkpoint_file, model_cache_dir
from .options import CatalogOptions
from .weights import load_exact, read_state_dict, with_prefix

FLAIR = "flair_resnet50"
CLASSIFIER_HEADS = {"vgg16": "classifier.6", "resnet50": "fc", "vit_l_16": "heads.head"}
FLAIR_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
CODE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TorchvisionOptions(CatalogOptions):
    schema_name: ClassVar[str] = "torchvision"
    weights_transforms: str | None = None  # weights name whose transforms() preprocess non-pretrained weights


OPTIONS = TorchvisionOptions


def module_for(entry: CatalogEntry) -> ModuleType:
    """FLAIR's own module declares its options and code version; classifiers are this module's."""
    return flair if entry.architecture == FLAIR else sys.modules[__name__]


def _weights_enum(entry: CatalogEntry) -> torchvision.models.WeightsEnum:
    weights_class = torchvision.models.get_model_weights(entry.architecture)
    name = entry.weights.ref if entry.weights.kind == "pretrained" else TorchvisionOptions.from_entry(
        entry).weights_transforms
    if name is None:
        return weights_class.DEFAULT
    try:
        return weights_class[name]
    except KeyError:
        raise ModelLoadError(f"model {entry.id!r}: torchvision has no weights {name!r} for "
                             f"{entry.architecture}; known: {[w.name for w in weights_class]}") from None


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    if entry.architecture == FLAIR:
        size = FlairOptions.from_entry(entry).image_size
        return Preprocessing(FlairPreprocess(size), size)
    transform = _weights_enum(entry).transforms()
    return Preprocessing(transform, int(transform.crop_size[0]))


def _load_flair(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    path = None if entry.weights.is_random else checkpoint_file(entry.weights, entry.id, FLAIR_WEIGHT_FILES)
    with building_on(entry, device):
        model = FlairImageEncoder(FlairOptions.from_entry(entry).projection_dim)
    if path is not None:
        load_exact(model, with_prefix(read_state_dict(path), CHECKPOINT_PREFIX), str(path))
    specs = {DEFAULT_SPEC: model.forward, PRE_PROJECTION_SPEC: model.features}
    return make_encoder(entry, model, preprocessing(entry), specs)


def _classifier_state(entry: CatalogEntry) -> dict[str, torch.Tensor]:
    if entry.weights.kind == "pretrained":
        cache = model_cache_dir()
        try:
            return _weights_enum(entry).get_state_dict(progress=False, check_hash=True, weights_only=True,
                                                       model_dir=os.path.join(cache, "torchvision") if cache else None)
        except OSError as exc:  # not cached and no network
            reason = getattr(exc, "reason", None) or exc.strerror or exc  # URLError keeps the cause in .reason
            folder = os.path.join(cache, "torchvision") if cache else "TORCH_HOME/hub/checkpoints"
            raise WeightsUnavailable(f"model {entry.id!r}: torchvision weights {entry.weights.ref} are not in {folder} "
                                     f"and could not be downloaded ({reason})") from None
    if entry.weights.kind == "local":
        return read_state_dict(checkpoint_file(entry.weights, entry.id, ()))
    raise ModelLoadError(f"model {entry.id!r}: torchvision cannot load weights of kind {entry.weights.kind!r}")


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    if entry.architecture == FLAIR:
        return _load_flair(entry, device)
    head = CLASSIFIER_HEADS.get(entry.architecture)
    if head is None:
        raise ModelLoadError(f"model {entry.id!r}: torchvision architecture {entry.architecture!r} is not "
                             f"supported; known: {sorted([*CLASSIFIER_HEADS, FLAIR])}")
    state = None if entry.weights.is_random else _classifier_state(entry)
    with building_on(entry, device):
        model = torchvision.models.get_model(entry.architecture, weights=None)
    if state is not None:
        load_exact(model, state, f"{entry.architecture} {entry.weights.ref}")
    model.set_submodule(head, nn.Identity())  # the penultimate feature is the embedding

    def embed_features(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)

    return make_encoder(entry, model, preprocessing(entry), {DEFAULT_SPEC: embed_features})
