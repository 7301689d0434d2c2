"""LLaVA image tokens: the CLIP vision tower a LLaVA checkpoint configures, plus its projector, built
from the checkpoint's own config.json as its upstream code builds them (llava_config.py).

What each upstream does, stage by stage, and where medembed does the same:

`llava_med` (microsoft/LLaVA-Med) and `medtrinity` (UCSC-VLAA/MedTrinity-25M, LLaVA-Med++ / LLaVA-Tri):
1. image: LLaVA-Med's eval/model_vqa.py opens the file as it is (a gray image stays mode L);
   MedTrinity's loaders `.convert('RGB')` first (`Preprocessing.takes_gray`).
2. mm_utils.py `process_images`, image_aspect_ratio pad: `expand2square` with the processor's mean
   colour (LLaVA-Med, mode L: gray `int(255 * mean(image_mean))`), then the tower repo's
   CLIPImageProcessor (`preprocessor_config.json`; S²: size and crop set to the largest scale,
   clip_encoder.py `CLIPVisionTowerS2.load_model`) -> processing.LlavaPadPreprocess.
3. multimodal_encoder/builder.py `build_vision_tower`: `CLIPVisionTower` (or `CLIPVisionTowerS2` when
   config.s2) with the CLIP repo `mm_vision_tower`'s weights (`CLIPVisionModel.from_pretrained`; the
   checkpoint's own tower tensors only with MedTrinity's unfreeze_mm_vision_tower).
4. clip_encoder.py `feature_select`: `hidden_states[mm_vision_select_layer]`, CLS dropped for `patch`;
   S²: s2wrapper `forward` over s2_scales -> llava_s2.multiscale_forward.
5. multimodal_projector/builder.py `build_vision_projector` (linear | mlp<N>x_gelu | identity):
   `model.mm_projector.*` of the checkpoint; llava_arch.py `encode_images` = projector(tower(images)).

`llava_next_hf` (transformers, llava-hf repos): `LlavaNextImageProcessor` (PIL) gives the base view and
the tiles of the best `image_grid_pinpoints` resolution; `LlavaNextModel.get_image_features` runs all
views through the tower (`vision_feature_layer`, CLS dropped for strategy `default`), projects them
(`LlavaNextMultiModalProjector`) and `pack_image_features` unpads the tile grid and appends
`image_newline` per row -> llava_anyres.py.

Specs. `default`: the mean over the image tokens the language model receives, i.e. over
`encode_images(images)[0]` (LLaVA's own code) or over `get_image_features(...).pooler_output[0]`
(transformers), image_newline tokens included, as they are among the tokens the language model
receives in place of <image>. Dim = the language model's width.
`layer:<L>:patch_mean`: the projector's input at the same token positions (no newline; S²: the
concatenated scales), mean. `pre_projection`: `CLIPVisionModel(...).pooler_output` of the base view
(S²: the smallest scale), CLIP's own pooled embedding, not used by LLaVA. `base_view` (LLaVA-1.6 only):
the projected tokens of the base view alone, mean (what medembed served as `default` before).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionModel, LlavaNextConfig
from transformers.models.llava_next.modeling_llava_next import LlavaNextMultiModalProjector

from ...catalog import CatalogEntry, WeightsSource
from ...load_errors import ModelLoadError
from ...weights.checkpoints import load_exact
from ...weights.hub import FileSource, MissingFile, weights_source
from ..base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, LoadedEncoder, Preprocessing, building_on, make_encoder
from .checkpoint import Prefix, TensorCheckpoint, load_hf_model, open_hf_checkpoint, tensors_under
from .llava_anyres import AnyresBatch, collate_anyres, pack_tokens
from .llava_config import LlavaArchitecture, LlavaOptions, read_architecture, recorded_architecture
from .llava_s2 import multiscale_forward
from .processing import AnyresPreprocess, HFImagePreprocess, LlavaPadPreprocess, pil_image_processor

CODE_VERSION = 2  # bump when the maths of this family changes (part of the vector identity)
CODE_NAME = "medembed_encoder.families.hf_llava"  # see interface.Family
OPTIONS = LlavaOptions
BASE_VIEW_SPEC = "base_view"
CONFIG_JSON, PROCESSOR_JSON = "config.json", "preprocessor_config.json"


def _stripped(*prefixes: str) -> tuple[Prefix, ...]:
    return tuple(Prefix(prefix, prefix) for prefix in prefixes)


# Tensor names: LLaVA's own code (Llava{Mistral,Llama}ForCausalLM) and transformers' LlavaNext (hub, then 4.52+).
LLAVA_PROJECTOR = _stripped("model.mm_projector.")
LLAVA_TOWER = _stripped("model.vision_tower.vision_tower.")
NEXT_TOWER = _stripped("vision_tower.", "model.vision_tower.")
NEXT_PROJECTOR = _stripped("multi_modal_projector.", "model.multi_modal_projector.")
NEXT_NEWLINE = ("image_newline", "model.image_newline")
CLIP_REPO_TOWER = (Prefix("vision_model.", ""),)  # a CLIP repo (openai/clip-vit-large-patch14-336): its vision model
PROCESSOR_BOOKKEEPING = frozenset({
    # which classes read the file (the catalog's image_processor.type names the processor itself)
    "image_processor_type", "feature_extractor_type", "processor_class", "_processor_class",
    # transformers 5's torchvision / PIL implementation switch; medembed always builds the PIL one
    "backend",
})
"""preprocessor_config.json keys that change no pixel, left out of the comparison with the catalog record."""
PROCESSOR_FIXED = {"aspect_ratio_setting": "anyres"}
"""Keys a real checkpoint's preprocessor_config.json holds that no transformers image processor reads,
accepted with the one value they have there: llava-hf's LLaVA-1.6 files (llava-v1.6-mistral-7b-hf,
llava-v1.6-vicuna-13b-hf) say `"aspect_ratio_setting": "anyres"`, which LlavaNextImageProcessor never
reads (it tiles by image_grid_pinpoints whatever the key says; transformers 5.25 has no code reading
it). Another value there would describe another preprocessing than the one the model was trained
with, so it is refused. Any key neither here nor in PROCESSOR_BOOKKEEPING is compared with the
catalog record, so an unknown key that could change pixels stops the model."""


def llava_projector(arch: LlavaArchitecture) -> nn.Module:
    """build_vision_projector (LLaVA) or LlavaNextMultiModalProjector (transformers)."""
    if arch.projector == "llava_next":
        text = {"model_type": "llama", "hidden_size": arch.text_width, "num_attention_heads": 1,
                "num_key_value_heads": 1}  # only hidden_size is read; one head keeps any width valid
        # a copy: LlavaNextConfig resets its sub-configs' attention implementation, which the tower reads
        config = LlavaNextConfig(vision_config=copy.deepcopy(arch.tower_config), text_config=text,
                                 projector_hidden_act=arch.projector_act, vision_feature_layer=arch.feature_layer,
                                 multimodal_projector_bias=arch.projector_bias)
        return LlavaNextMultiModalProjector(config)
    if arch.projector == "identity":
        return nn.Identity()
    depth = int(re.fullmatch(r"mlp(\d+)x_gelu", arch.projector).group(1)) if arch.projector != "linear" else 1
    layers: list[nn.Module] = [nn.Linear(arch.projector_in, arch.text_width)]
    for _ in range(1, depth):
        layers += [nn.GELU(), nn.Linear(arch.text_width, arch.text_width)]
    return layers[0] if depth == 1 else nn.Sequential(*layers)


class LlavaImageEncoder(nn.Module):
    """A LLaVA checkpoint's image side: the CLIP tower, the projector and (LLaVA-1.6) image_newline.

    Each method takes the batch its spec receives: [N, 3, S, S] pixel values, or an AnyresBatch.
    """

    def __init__(self, arch: LlavaArchitecture, tower: CLIPVisionModel, projector: nn.Module,
                 newline: torch.Tensor | None) -> None:
        super().__init__()
        self.arch, self.tower, self.projector = arch, tower, projector
        self.image_newline = nn.Parameter(newline, requires_grad=False) if newline is not None else None
        self.first_token = 1 if arch.patch_only else 0
        self.tile_size = arch.tower_config.image_size

    def tower_tokens(self, views: torch.Tensor) -> torch.Tensor:
        """[V, 3, tile, tile] -> [V, tokens, C]: feature_select(hidden_states[layer])."""
        hidden = self.tower(pixel_values=views, output_hidden_states=True).hidden_states[self.arch.feature_layer]
        return hidden[:, self.first_token:]

    def feature_tokens(self, views: torch.Tensor) -> torch.Tensor:
        """The projector's input: one scale's tokens, or the S² scales concatenated along channels."""
        if not self.arch.s2_scales:
            return self.tower_tokens(views)
        return multiscale_forward(self.tower_tokens, views, self.arch.s2_scales)

    def base_scale(self, images: torch.Tensor) -> torch.Tensor:
        """The image at the tower's own size (S²: the first scale of multiscale_forward)."""
        if images.shape[-1] == self.tile_size:
            return images
        return F.interpolate(images.to(torch.float32), size=self.tile_size, mode="bicubic").to(images.dtype)

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """`pre_projection`: the tower's pooled CLS token at the tower's own size, [N, tower width]."""
        return self.tower(pixel_values=self.base_scale(images)).pooler_output

    def projected_mean(self, images: torch.Tensor) -> torch.Tensor:
        """`default` (pad/square inputs): the mean of the projected image tokens, [N, text width]."""
        return self.projector(self.feature_tokens(images)).mean(dim=1)

    def feature_mean(self, images: torch.Tensor) -> torch.Tensor:
        """`layer:<k>:patch_mean`: the mean of the projector's input tokens, [N, mm_hidden_size]."""
        return self.feature_tokens(images).mean(dim=1)

    def packed_mean(self, batch: AnyresBatch, project: bool) -> torch.Tensor:
        """Anyres inputs: the mean of each image's packed token sequence (pack_tokens), projected and with
        image_newline when `project`, else the tower tokens; [N, text width] or [N, mm_hidden_size].
        """
        tokens = self.feature_tokens(batch.pixel_values)
        tokens, newline = (self.projector(tokens), self.image_newline) if project else (tokens, None)
        return torch.stack([pack_tokens(views, size, self.arch.grid_pinpoints, self.tile_size, newline).mean(dim=0)
                            for views, size in zip(batch.per_image(tokens), batch.image_sizes, strict=True)])

    def specs(self) -> dict[str, Callable[[Any], torch.Tensor]]:
        """Spec name -> embedding function over a collated batch, for this architecture (see the module docstring)."""
        layer = f"layer:{self.arch.feature_layer}:patch_mean"
        if not self.arch.grid_pinpoints:
            return {DEFAULT_SPEC: self.projected_mean, PRE_PROJECTION_SPEC: self.pooled, layer: self.feature_mean}
        return {DEFAULT_SPEC: lambda batch: self.packed_mean(batch, project=True),
                BASE_VIEW_SPEC: lambda batch: self.projected_mean(batch.base_views),
                PRE_PROJECTION_SPEC: lambda batch: self.pooled(batch.base_views),
                layer: lambda batch: self.packed_mean(batch, project=False)}


def llava_preprocessing(options: LlavaOptions, arch: LlavaArchitecture) -> Preprocessing:
    """The upstream's preprocessing for `arch`: anyres (base view + tiles), pad to square, or the processor
    alone; S² resizes to the largest scale. Raises ModelLoadError when the processor's grid differs from config.json's.
    """
    if arch.grid_pinpoints:
        transform: HFImagePreprocess = AnyresPreprocess(pil_image_processor(options.image_processor))
        if tuple(map(tuple, transform.processor.image_grid_pinpoints)) != arch.grid_pinpoints:
            raise ModelLoadError("image_processor.image_grid_pinpoints differ from config.json's image_grid_pinpoints")
        return Preprocessing(transform, transform.input_size, takes_gray=True)  # the processor converts L to RGB
    overrides = {}
    if arch.s2_scales:  # CLIPVisionTowerS2.load_model: resize and crop to the largest scale
        overrides = {"size": {"shortest_edge": arch.s2_scales[-1]},
                     "crop_size": {"height": arch.s2_scales[-1], "width": arch.s2_scales[-1]}}
    processor = pil_image_processor(options.image_processor, overrides)
    takes_gray = options.upstream == "llava_med"  # model_vqa.py passes the opened image as it is
    if arch.pad_to_square:
        transform = LlavaPadPreprocess(processor, gray_fill_of_mean=takes_gray)
    else:
        transform = HFImagePreprocess(processor)  # CLIPImageProcessor converts L to RGB itself
    return Preprocessing(transform, transform.input_size, takes_gray=takes_gray)


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """llava_preprocessing for the architecture the catalog records (no checkpoint is read)."""
    options = LlavaOptions.from_options(entry.options, entry.id)
    return llava_preprocessing(options, recorded_architecture(options, entry.id))


def _read_json(source: FileSource, filename: str) -> dict[str, Any] | None:
    try:
        path = source.get(filename)
    except MissingFile:
        return None
    return json.loads(path.read_text())


def _tower_source(options: LlavaOptions, arch: LlavaArchitecture, model_id: str) -> FileSource:
    """build_vision_tower: mm_vision_tower, an existing local path or else a hub id; the catalog may pin it."""
    kind = "local" if Path(arch.tower_repo).exists() else "hub"
    weights = options.tower_weights or WeightsSource(kind, arch.tower_repo)
    return weights_source(weights, model_id)


def _check_processor(options: LlavaOptions, source: FileSource, model_id: str) -> None:
    """The recorded image_processor must be the one the upstream reads from `source`: every key of the
    file but PROCESSOR_BOOKKEEPING and PROCESSOR_FIXED (which must hold its one value) equal to the
    catalog record's, as the processor reads them. Raises ModelLoadError naming the keys otherwise."""
    actual = _read_json(source, PROCESSOR_JSON)
    if actual is None:
        return
    for key, value in PROCESSOR_FIXED.items():
        if key in actual and actual[key] != value:
            raise ModelLoadError(f"model {model_id!r}: {source.description}/{PROCESSOR_JSON} has {key} "
                                 f"{actual[key]!r}; the LLaVA-1.6 checkpoints say {value!r} (no transformers "
                                 "processor reads it), so this file describes another preprocessing")
    ignored = PROCESSOR_BOOKKEEPING | set(PROCESSOR_FIXED)
    recorded = {key: value for key, value in options.image_processor.get("config", {}).items() if key not in ignored}
    expected = pil_image_processor({**options.image_processor, "config": recorded}).to_dict()
    config = {key: value for key, value in actual.items() if key not in ignored}
    theirs = pil_image_processor({"type": options.image_processor["type"], "config": config}).to_dict()
    differing = sorted(key for key in (set(expected) | set(theirs)) - ignored
                       if expected.get(key) != theirs.get(key))
    if differing:
        raise ModelLoadError(f"model {model_id!r}: catalog options.image_processor differs from "
                             f"{source.description}/{PROCESSOR_JSON} in {differing}; record the file's values")


def _checkpoint_architecture(options: LlavaOptions, recorded: LlavaArchitecture, checkpoint: FileSource,
                             model_id: str) -> tuple[LlavaArchitecture, FileSource | None]:
    config = json.loads(checkpoint.get(CONFIG_JSON).read_text())  # MissingFile: the weights are not here
    tower_source = None if options.upstream == "llava_next_hf" else _tower_source(options, recorded, model_id)
    tower_config = options.vision_config
    if tower_source is not None and not recorded.tower_in_checkpoint:
        tower_config = _read_json(tower_source, CONFIG_JSON) or tower_config
    arch = read_architecture(options, config, tower_config, model_id, f"{checkpoint.description}/{CONFIG_JSON}")
    differences = recorded.differences(arch)
    if differences:
        raise ModelLoadError(f"model {model_id!r}: the catalog's options.config describes another model than "
                             f"{checkpoint.description}/{CONFIG_JSON}: {differences}; record the checkpoint's fields")
    _check_processor(options, checkpoint if tower_source is None else tower_source, model_id)
    return arch, tower_source


def _load_tensors(arch: LlavaArchitecture, checkpoint: TensorCheckpoint, tower_source: FileSource | None,
                  projector: nn.Module) -> tuple[CLIPVisionModel, torch.Tensor | None]:
    next_hf = arch.upstream == "llava_next_hf"
    state = tensors_under(checkpoint, NEXT_PROJECTOR if next_hf else LLAVA_PROJECTOR, "projector")
    load_exact(projector, state, checkpoint.description)
    newline = None
    if next_hf:
        name = next((n for n in NEXT_NEWLINE if n in checkpoint.names()), None)
        if name is None:
            raise ModelLoadError(f"{checkpoint.description}: no image_newline tensor ({' or '.join(NEXT_NEWLINE)})")
        newline = checkpoint.read([name])[name].float()
    if arch.tower_in_checkpoint:
        tower_checkpoint, prefixes = checkpoint, NEXT_TOWER if next_hf else LLAVA_TOWER
    else:
        tower_checkpoint, prefixes = open_hf_checkpoint(tower_source), CLIP_REPO_TOWER
    tower_state = tensors_under(tower_checkpoint, prefixes, "vision tower")
    return load_hf_model(CLIPVisionModel, arch.tower_config, tower_state, tower_checkpoint.description), newline


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """The LLaVA image encoder on `device`, its architecture read from the checkpoint's config.json (which must
    match the catalog's record); only the tower and projector tensors are read. Raises ModelLoadError for a
    record that disagrees or tensors that do not fit, WeightsUnavailable when the checkpoint cannot be had.
    """
    options = LlavaOptions.from_options(entry.options, entry.id)
    arch = recorded_architecture(options, entry.id)
    if entry.weights.is_random:
        with building_on(entry, device):
            tower, projector = CLIPVisionModel(arch.tower_config), llava_projector(arch)
            newline = torch.randn(arch.text_width) * arch.text_width ** -0.5 if arch.grid_pinpoints else None
    else:
        source = weights_source(entry.weights, entry.id)
        arch, tower_source = _checkpoint_architecture(options, arch, source, entry.id)
        checkpoint = open_hf_checkpoint(source)
        with building_on(entry, device):
            projector = llava_projector(arch)
        tower, newline = _load_tensors(arch, checkpoint, tower_source, projector)
    encoder = LlavaImageEncoder(arch, tower.to(device), projector, newline.to(device) if newline is not None else None)
    collate = collate_anyres if arch.grid_pinpoints else None
    return make_encoder(entry, encoder, llava_preprocessing(options, arch), encoder.specs(), collate=collate)

