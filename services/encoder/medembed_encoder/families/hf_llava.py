"""LLaVA-family image encoders: the CLIP vision tower a LLaVA checkpoint configures, plus its projector.

Options (copied from the checkpoint's config.json): `vision_config` (the CLIPVisionConfig),
`vision_feature_layer` (-2), `vision_feature_select` (`patch` drops the CLS token), `text_hidden_size`
(the language model's width, the projector's output), `layout` (the checkpoint's tensor names, below)
and, for checkpoints whose tower stayed frozen and is loaded from the CLIP repo as LLaVA's own code
does, `vision_tower_weights` ({kind, ref, revision}).

Only tower and projector tensors are read from the safetensors shards; see hf_checkpoint.

Specs: `default`: LLaVA's image tokens as its language model receives them (projector output),
mean over tokens, dim = language-model width; `pre_projection`: the tower's own embedding (last-layer
CLS after the post-LayerNorm); `layer:<feature_layer>:patch_mean`: the projector's input (that
layer's patch tokens), mean over tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel

from ..catalog import CatalogEntry, WeightsSource
from .base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, LoadedEncoder, ModelLoadError, building_on, make_encoder
from .hf_checkpoint import Prefix, TensorCheckpoint, load_hf_model, open_hf_checkpoint, tensors_under
from .hf_processing import hf_preprocessing
from .hub import weights_source
from .weights import load_exact

preprocessing = hf_preprocessing


@dataclass(frozen=True)
class CheckpointLayout:
    tower: tuple[Prefix, ...]  # where CLIPVisionModel's tensors are
    projector: tuple[Prefix, ...]
    projector_renames: dict[str, str]  # the checkpoint's projector layer names -> ours (an nn.Sequential)


def _same(*prefixes: str) -> tuple[Prefix, ...]:
    return tuple(Prefix(prefix, prefix) for prefix in prefixes)


LAYOUTS = {
    # LLaVA / LLaVA-Med's own code (Llava{Llama,Mistral}ForCausalLM): mm_projector = [Linear, GELU, Linear]
    "llava": CheckpointLayout(_same("model.vision_tower.vision_tower."), _same("model.mm_projector."), {}),
    # transformers' Llava(Next)ForConditionalGeneration, names from before and after its 4.52 refactor
    "llava_hf": CheckpointLayout(_same("vision_tower.", "model.vision_tower."),
                                 _same("multi_modal_projector.", "model.multi_modal_projector."),
                                 {"linear_1.": "0.", "linear_2.": "2."}),
}
# A CLIP repo (e.g. openai/clip-vit-large-patch14-336): only its vision model is read.
CLIP_REPO_TOWER = (Prefix("vision_model.", ""),)


class LlavaImageEncoder(nn.Module):
    def __init__(self, tower: CLIPVisionModel, projector: nn.Sequential, feature_layer: int, patch_only: bool) -> None:
        super().__init__()
        self.tower = tower
        self.projector = projector
        self.feature_layer = feature_layer
        self.first_token = 1 if patch_only else 0

    def tower_outputs(self, images: torch.Tensor) -> Any:
        return self.tower(pixel_values=images, output_hidden_states=True)

    def feature_tokens(self, images: torch.Tensor) -> torch.Tensor:
        return self.tower_outputs(images).hidden_states[self.feature_layer][:, self.first_token:]

    def projected(self, images: torch.Tensor) -> torch.Tensor:
        return self.projector(self.feature_tokens(images)).mean(dim=1)

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        return self.tower_outputs(images).pooler_output

    def feature_mean(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_tokens(images).mean(dim=1)


def _projector(width: int, text_hidden_size: int) -> nn.Sequential:
    """LLaVA's mlp2x_gelu projector (transformers: linear_1, GELU, linear_2)."""
    return nn.Sequential(nn.Linear(width, text_hidden_size), nn.GELU(), nn.Linear(text_hidden_size, text_hidden_size))


def _layout(entry: CatalogEntry) -> CheckpointLayout:
    layout = LAYOUTS.get(entry.options.get("layout", ""))
    if layout is None:
        raise ModelLoadError(f"model {entry.id!r}: options.layout must be one of {sorted(LAYOUTS)}")
    return layout


def _tower_checkpoint(entry: CatalogEntry, checkpoint: TensorCheckpoint,
                      layout: CheckpointLayout) -> tuple[TensorCheckpoint, tuple[Prefix, ...]]:
    tower_weights = entry.options.get("vision_tower_weights")
    if not tower_weights:  # the checkpoint carries its (fine-tuned) tower
        return checkpoint, layout.tower
    return open_hf_checkpoint(weights_source(WeightsSource(**tower_weights), entry.id)), CLIP_REPO_TOWER


def _renamed(state: dict[str, torch.Tensor], renames: dict[str, str]) -> dict[str, torch.Tensor]:
    renamed = {}
    for name, tensor in state.items():
        theirs = next((prefix for prefix in renames if name.startswith(prefix)), None)
        renamed[renames[theirs] + name[len(theirs):] if theirs else name] = tensor
    return renamed


def _load_weights(entry: CatalogEntry, vision_config: CLIPVisionConfig, text_hidden_size: int,
                  device: torch.device) -> tuple[CLIPVisionModel, nn.Sequential]:
    layout = _layout(entry)
    checkpoint = open_hf_checkpoint(weights_source(entry.weights, entry.id))
    with building_on(entry, device):
        projector = _projector(vision_config.hidden_size, text_hidden_size)
    projector_state = tensors_under(checkpoint, layout.projector, "projector")
    load_exact(projector, _renamed(projector_state, layout.projector_renames), checkpoint.description)
    tower_checkpoint, tower_prefixes = _tower_checkpoint(entry, checkpoint, layout)
    tower_state = tensors_under(tower_checkpoint, tower_prefixes, "vision tower")
    tower = load_hf_model(CLIPVisionModel, vision_config, tower_state, tower_checkpoint.description)
    return tower.to(device), projector


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    options = entry.options
    select = options.get("vision_feature_select", "patch")
    if select not in ("patch", "cls_patch"):
        raise ModelLoadError(f"model {entry.id!r}: vision_feature_select must be patch or cls_patch, not {select!r}")
    vision_config = CLIPVisionConfig(**options["vision_config"])
    text_hidden_size = int(options["text_hidden_size"])
    if entry.weights.is_random:
        with building_on(entry, device):
            tower, projector = CLIPVisionModel(vision_config), _projector(vision_config.hidden_size, text_hidden_size)
    else:
        tower, projector = _load_weights(entry, vision_config, text_hidden_size, device)
    encoder = LlavaImageEncoder(tower, projector, int(options.get("vision_feature_layer", -2)),
                                patch_only=select == "patch")
    specs = {DEFAULT_SPEC: encoder.projected, PRE_PROJECTION_SPEC: encoder.pooled,
             f"layer:{encoder.feature_layer}:patch_mean": encoder.feature_mean}
    return make_encoder(entry, encoder, preprocessing(entry), specs)
