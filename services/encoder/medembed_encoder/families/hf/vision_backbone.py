"""A transformers vision backbone (DINOv2, ViT, SigLIP vision tower) and the token pooling its authors probe.

Serves releases whose model card loads them with transformers (`AutoModel.from_pretrained(repo)` and
`AutoImageProcessor.from_pretrained(repo)`): Phikon (ViTModel), Phikon-v2, RAD-DINO and DINOv2
(Dinov2Model), Hibou-L (DINOv2 with 4 registers: its repo's remote code, built here by transformers'
own Dinov2WithRegistersModel), MedSigLIP and SigLIP 2 (the vision tower of SiglipModel). Options:
- `model_type`: the transformers config class, MODEL_TYPES (`dinov2`, `dinov2_with_registers`, `vit`,
  `siglip_vision_model`);
- `config`: the repo's config.json fields (for SigLIP, its `vision_config`), checked against that class;
- `image_processor`: the repo's preprocessor_config.json (`{type, config}`; its PIL backend is used);
- `embedding`: what `default` is (EMBEDDINGS):
  `cls`, `last_hidden_state[:, 0]` (the class token after the final LayerNorm; for Dinov2Model also its
  `pooler_output`); `cls_patch_mean`, the class token concatenated with the mean of the patch tokens
  (register tokens left out), the input of transformers' `Dinov2ForImageClassification` linear head
  (`torch.cat([cls_token, patch_tokens.mean(dim=1)], dim=1)`), i.e. DINOv2's linear evaluation on the
  last layer; `pooler`, `pooler_output` (SigLIP's attention-pooling head: `SiglipModel.get_image_features`).
  With `cls_patch_mean`, the spec `cls` is offered too.
Weights: the repo's checkpoint (safetensors, sharded or not, or pytorch_model.bin), after the repo's own
config.json and preprocessor_config.json are found to agree with the catalog (repo_configs.py); only the tensors of
the vision model are read (a whole SiglipModel checkpoint keeps them under `vision_model.`, the layout
SiglipVisionModel itself has), and ViT's unused `pooler.*` head (TRIDENT loads Phikon with
`add_pooling_layer=False`) is neither required nor read. They go through transformers' own loader
(checkpoint.load_hf_model), which maps the names older transformers versions wrote onto the current
modules; every other name and shape must fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Self

import torch
from pydantic import model_validator
from transformers import (
    Dinov2Config,
    Dinov2Model,
    Dinov2WithRegistersConfig,
    Dinov2WithRegistersModel,
    SiglipVisionConfig,
    SiglipVisionModel,
    ViTConfig,
    ViTModel,
)

from ...catalog import CatalogEntry
from ...load_errors import ModelLoadError
from ...weights.hub import weights_source
from ..base import DEFAULT_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from ..options import CatalogOptions, ImageProcessorOptions, check_config_keys
from .checkpoint import load_hf_model, open_hf_checkpoint
from .processing import HFImagePreprocess, pil_image_processor
from .repo_configs import check_image_processor, check_model_config

CODE_VERSION = 1
CODE_NAME = "medembed_encoder.families.hf.vision_backbone"  # see interface.Family
CLS, CLS_PATCH_MEAN, POOLER = "cls", "cls_patch_mean", "pooler"
EMBEDDINGS = (CLS, CLS_PATCH_MEAN, POOLER)


class ModelType(NamedTuple):
    """How one transformers model type is built and which checkpoint tensors are its own."""

    config: type
    model: type
    kwargs: dict[str, Any]  # constructor keyword arguments
    read: Callable[[str], bool]  # checkpoint tensor name -> read it
    embeddings: tuple[str, ...]  # the `embedding` values it supports


MODEL_TYPES = {
    "dinov2": ModelType(Dinov2Config, Dinov2Model, {}, lambda name: True,
                        (CLS, CLS_PATCH_MEAN)),
    "dinov2_with_registers": ModelType(Dinov2WithRegistersConfig, Dinov2WithRegistersModel, {}, lambda name: True,
                                       (CLS, CLS_PATCH_MEAN)),
    "vit": ModelType(ViTConfig, ViTModel, {"add_pooling_layer": False}, lambda name: not name.startswith("pooler."),
                     (CLS, CLS_PATCH_MEAN)),
    "siglip_vision_model": ModelType(SiglipVisionConfig, SiglipVisionModel, {},
                                     lambda name: name.startswith("vision_model."), (POOLER,)),
}


class VisionBackboneOptions(CatalogOptions):
    """Catalog options of a `vision_backbone` entry (see the module docstring)."""

    schema_name: ClassVar[str] = "hf/vision_backbone"
    model_type: str
    config: dict[str, Any]
    image_processor: ImageProcessorOptions
    embedding: str = CLS

    @model_validator(mode="after")
    def _config_fits_model_type(self) -> Self:
        """`config` may hold only fields of the model type's config class (OptionsError); the model type and
        embedding themselves are checked at load."""
        model_type = MODEL_TYPES.get(self.model_type)
        if model_type is not None:
            check_config_keys(self.config, set(model_type.config().to_dict()), "config", model_type.config.__name__)
        return self


OPTIONS = VisionBackboneOptions


class SquareProcessorPreprocess(HFImagePreprocess):
    """HFImagePreprocess whose side is also known for processors that resize to a fixed height x width (SigLIP)."""

    @property
    def input_size(self) -> int:
        """The crop side when the processor crops, else its resize height, else its shortest edge."""
        processor = self.processor
        if getattr(processor, "do_center_crop", False):
            return int(processor.crop_size["height"])
        size = processor.size
        return int(size["height"] if size.get("height") else size["shortest_edge"])


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """The repo's own image processor (PIL backend): PIL image -> [3, size, size]."""
    transform = SquareProcessorPreprocess(pil_image_processor(VisionBackboneOptions.from_entry(entry)
                                                              .image_processor.as_dict()))
    return Preprocessing(transform, transform.input_size)


def _model_type(entry: CatalogEntry, options: VisionBackboneOptions) -> ModelType:
    model_type = MODEL_TYPES.get(options.model_type)
    if model_type is None:
        raise ModelLoadError(f"model {entry.id!r}: options.model_type {options.model_type!r} is not one of "
                             f"{sorted(MODEL_TYPES)}")
    if options.embedding not in model_type.embeddings:
        raise ModelLoadError(f"model {entry.id!r}: options.embedding {options.embedding!r} is not one of "
                             f"{list(model_type.embeddings)} for model_type {options.model_type!r}")
    return model_type


def _build(entry: CatalogEntry, options: VisionBackboneOptions, model_type: ModelType, config: Any,
           device: torch.device) -> torch.nn.Module:
    if entry.weights.is_random:
        with building_on(entry, device):
            return model_type.model(config, **model_type.kwargs)
    source = weights_source(entry.weights, entry.id)
    checkpoint = open_hf_checkpoint(source)  # a missing checkpoint fails first
    check_model_config(source, entry.id, options.config, model_type.config().to_dict(), nested="vision_config")
    check_image_processor(source, entry.id, options.image_processor.as_dict())
    state = checkpoint.read(name for name in checkpoint.names() if model_type.read(name))
    model = load_hf_model(model_type.model, config, state, checkpoint.description, **model_type.kwargs)
    return model.to(device)


def _specs(model: torch.nn.Module, embedding: str, prefix_tokens: int) -> dict[str, Callable]:
    def tokens(batch: torch.Tensor) -> torch.Tensor:
        return model(pixel_values=batch).last_hidden_state

    def class_token(batch: torch.Tensor) -> torch.Tensor:
        return tokens(batch)[:, 0]

    def class_token_and_patch_mean(batch: torch.Tensor) -> torch.Tensor:
        hidden = tokens(batch)
        return torch.cat([hidden[:, 0], hidden[:, prefix_tokens:].mean(dim=1)], dim=1)

    def pooled(batch: torch.Tensor) -> torch.Tensor:
        return model(pixel_values=batch).pooler_output

    if embedding == CLS_PATCH_MEAN:
        return {DEFAULT_SPEC: class_token_and_patch_mean, CLS: class_token}
    return {DEFAULT_SPEC: class_token if embedding == CLS else pooled}


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """The backbone on `device`; `default` maps [N, 3, size, size] to the `embedding` of the options ([N, hidden], or
    [N, 2 hidden] for `cls_patch_mean`). Raises ModelLoadError for an unknown model type or embedding (before any
    weights are read) or tensors that do not fit, WeightsUnavailable when the checkpoint cannot be had here."""
    options = VisionBackboneOptions.from_entry(entry)
    model_type = _model_type(entry, options)
    config = model_type.config(**options.config)
    model = _build(entry, options, model_type, config, device)
    prefix_tokens = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
    return make_encoder(entry, model, preprocessing(entry), _specs(model, options.embedding, prefix_tokens))
