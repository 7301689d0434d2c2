"""open_clip family: the image tower of an open_clip (or CONCH-style CoCa) model, without its text tower.

Architecture: `options.model_cfg` (the model's open_clip config, e.g. a hub repo's
open_clip_config.json) or open_clip's built-in config named by `architecture`. Only the vision tower
is built, so hub models whose text tower lives elsewhere (BiomedCLIP's PubMedBERT) need no network
to build. Weights: `random`, `pretrained` (an open_clip tag, fetched from its hub copy), `hub` (an
hf-hub repo holding an open_clip checkpoint) or `local` (a checkpoint file); only `visual.*` tensors
are loaded. Preprocessing: open_clip's eval transform from the tag's config and `options.preprocess_cfg`.
Specs: `default` is open_clip's `model.encode_image(x)` (projected, not normalised; for CONCH, CONCH's
own `encode_image(x)`, which L2-normalises: see conch.py) and `pre_projection`, the pooled feature
before the projection, where the tower has one.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

import open_clip
import torch
from open_clip.model import _build_vision_tower
from open_clip.timm_model import TimmModel
from open_clip.transform import PreprocessCfg, image_transform_v2
from open_clip.transformer import VisionTransformer
from pydantic import Field

from ...catalog import CatalogEntry
from ...load_errors import ModelLoadError
from ...weights.checkpoints import load_exact, read_state_dict, with_prefix
from ...weights.hub import HubRepo, checkpoint_file, first_file
from ..base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, EmbedFn, LoadedEncoder, Preprocessing, building_on, make_encoder
from ..options import CatalogOptions, ConfigFields, YamlTuple
from .conch import ConchVisual

OPEN_CLIP_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
CODE_VERSION = 2  # 2: CONCH's default is its encode_image() (L2-normalised)
CODE_NAME = "medembed_encoder.families.open_clip_family"  # see interface.Family
PREPROCESS_FIELDS = frozenset(f.name for f in dataclasses.fields(PreprocessCfg)) - {"size"}  # the tower decides


class OpenClipOptions(CatalogOptions):
    """Catalog options of an open_clip entry (see the module docstring)."""

    schema_name: ClassVar[str] = "open_clip"
    config_fields: ClassVar[ConfigFields] = {"preprocess_cfg": (PREPROCESS_FIELDS, "open_clip PreprocessCfg")}
    model_cfg: dict[str, Any] | None = None  # the model's open_clip config (else open_clip's built-in one)
    preprocess_cfg: dict[str, Any] = Field(default_factory=dict)  # open_clip PreprocessCfg fields
    weights_files: YamlTuple[str] = OPEN_CLIP_WEIGHT_FILES  # checkpoint file names, first found wins


OPTIONS = OpenClipOptions


def _model_cfg(entry: CatalogEntry) -> dict[str, Any]:
    model_cfg = OpenClipOptions.from_entry(entry).model_cfg or open_clip.get_model_config(entry.architecture)
    if model_cfg is None:
        raise ModelLoadError(f"model {entry.id!r}: open_clip has no architecture {entry.architecture!r}; "
                             "give its config as options.model_cfg")
    return model_cfg


def _tag_cfg(entry: CatalogEntry) -> dict[str, Any]:
    if entry.weights.kind != "pretrained":
        return {}
    tag_cfg = open_clip.get_pretrained_cfg(entry.architecture, entry.weights.ref)
    if not tag_cfg:
        known = open_clip.list_pretrained_tags_by_model(entry.architecture)
        raise ModelLoadError(f"model {entry.id!r}: open_clip has no tag {entry.weights.ref!r} for "
                             f"{entry.architecture}; known: {known}")
    return tag_cfg


def preprocessing(entry: CatalogEntry) -> Preprocessing:
    """open_clip's eval transform (`image_transform_v2(cfg, is_train=False)`): [3, size, size] float tensors.

    `cfg` is the pretrained tag's preprocessing fields overlaid with `options.preprocess_cfg`, at the
    tower's image size. Raises ModelLoadError for an unknown architecture or tag.
    """
    image_size = _model_cfg(entry)["vision_cfg"].get("image_size", PreprocessCfg.size)
    # the tag's config holds more than preprocessing (url, hf_hub, quick_gelu): only its preprocessing fields
    tag_preprocess = {key: value for key, value in _tag_cfg(entry).items() if key in PREPROCESS_FIELDS}
    cfg = PreprocessCfg(**{**tag_preprocess, **OpenClipOptions.from_entry(entry).preprocess_cfg}, size=image_size)
    input_size = image_size if isinstance(image_size, int) else image_size[0]
    return Preprocessing(image_transform_v2(cfg, is_train=False), int(input_size))


def _build_visual(model_cfg: dict[str, Any], quick_gelu: bool) -> torch.nn.Module:
    vision_cfg = model_cfg["vision_cfg"]
    if vision_cfg.get("attentional_pool_contrast"):
        return ConchVisual(model_cfg["embed_dim"], model_cfg["embed_dim_caption"], vision_cfg)
    return _build_vision_tower(model_cfg["embed_dim"], {**vision_cfg, "timm_model_pretrained": False},
                               quick_gelu=quick_gelu)


def _checkpoint(entry: CatalogEntry, tag_cfg: dict[str, Any]) -> Path:
    weights = entry.weights
    if weights.kind == "pretrained":
        if not tag_cfg.get("hf_hub"):
            raise ModelLoadError(f"model {entry.id!r}: tag {weights.ref!r} has no hub copy; download it and "
                                 "use weights.kind: local")
        repo_id, filename = os.path.split(tag_cfg["hf_hub"])
        return first_file(HubRepo(repo_id, weights.revision), (filename,) if filename else OPEN_CLIP_WEIGHT_FILES,
                          entry.id)
    return checkpoint_file(weights, entry.id, OpenClipOptions.from_entry(entry).weights_files)


def _load_weights(visual: torch.nn.Module, path: Path) -> None:
    state = {key.removeprefix("module."): tensor for key, tensor in read_state_dict(path).items()}
    load_exact(visual, with_prefix(state, "visual."), str(path))


def _pre_projection(visual: torch.nn.Module) -> EmbedFn | None:
    """The pooled image feature right before the tower's projection head, where it has one."""
    if isinstance(visual, ConchVisual):
        return visual.forward_no_head  # CONCH's encode_image(proj_contrast=False, normalize=False)
    if isinstance(visual, VisionTransformer) and visual.proj is not None:
        # open_clip's own forward up to the pooled token, without `@ proj`
        return lambda batch: visual._pool(visual.transformer(visual._embeds(batch)))[0]
    if isinstance(visual, TimmModel):
        head_layers = dict(visual.head.named_children())
        if "proj" in head_layers or "mlp" in head_layers:
            return visual.trunk
        if not head_layers and visual.trunk.num_classes:  # the timm classifier is the projection
            trunk = visual.trunk
            return lambda batch: trunk.forward_head(trunk.forward_features(batch), pre_logits=True)
    return None


def _specs(visual: torch.nn.Module) -> dict[str, EmbedFn]:
    def embed_projected(batch: torch.Tensor) -> torch.Tensor:
        output = visual(batch)
        return output[0] if isinstance(output, tuple) else output  # towers configured to also return tokens

    default = visual.encode_image if isinstance(visual, ConchVisual) else embed_projected
    specs = {DEFAULT_SPEC: default}
    pre_projection = _pre_projection(visual)
    if pre_projection is not None:
        specs[PRE_PROJECTION_SPEC] = pre_projection
    return specs


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """The image tower on `device` with its `visual.*` weights; specs `default` and, where the tower has
    one, `pre_projection` map [N, 3, size, size] to [N, dim].

    Raises ModelLoadError for an unknown architecture or tag or tensors that do not fit, WeightsUnavailable
    when the checkpoint cannot be had here.
    """
    model_cfg = _model_cfg(entry)
    tag_cfg = _tag_cfg(entry)
    checkpoint = None if entry.weights.is_random else _checkpoint(entry, tag_cfg)  # fail before building
    with building_on(entry, device):
        visual = _build_visual(model_cfg, quick_gelu=bool(model_cfg.get("quick_gelu") or tag_cfg.get("quick_gelu")))
    if checkpoint is not None:
        _load_weights(visual, checkpoint)
    return make_encoder(entry, visual, preprocessing(entry), _specs(visual))
