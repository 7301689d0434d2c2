"""CLIP vision tower with its visual projection, in transformers' CLIP layout (LLM2CLIP's image side).

microsoft/LLM2CLIP-Openai-L-14-336 keeps CLIPModel's tensor names (`vision_model.*`,
`visual_projection.weight`) with a 1280-wide projection into its LLM-derived text space. Only those
tensors are read; the text side is never loaded. Options: `vision_config` (CLIPVisionConfig incl.
projection_dim, as LLM2CLIP's own config gives it) and `image_processor` (the processor its model
card uses: openai/clip-vit-large-patch14-336's CLIPImageProcessor).
Specs: `default` is LLM2CLIP's `model.get_image_features(pixel_values)` (its model card's image
embedding: `visual_projection(vision_model(x).pooler_output)`, not normalised), equal to
transformers' `CLIPVisionModelWithProjection(x).image_embeds`; `pre_projection` is the pooled CLS
token after the post-LayerNorm (`vision_model(x).pooler_output`).
Activation: exact GELU (`hidden_act: gelu`, torch's erf GELU), not OpenAI CLIP's QuickGELU. Source:
LLM2CLIP's own config for this tower, llm2clip/eva_clip/model_configs/OpenaiCLIP-L-14-336.json
(microsoft/LLM2CLIP @ cba3b45), sets no `quick_gelu`; eva_clip/model.py `_build_vision_tower` takes
`act_layer = QuickGELU if quick_gelu else nn.GELU`, and llm2clip/run.sh trains without
--force-quick-gelu. The catalog entry records it (`vision_config.hidden_act: gelu`). Open: eva_clip's
factory.create_model builds QuickGELU instead when called with pretrained="openai" (openai.py
load_openai_model -> build_model_from_openai_state_dict(quick_gelu=True)); which path trained this
tower is settled by the hub repo's own config.json, not reachable from here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from ...catalog import CatalogEntry
from ...weights.hub import weights_source
from ..base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, LoadedEncoder, building_on, make_encoder
from ..options import CatalogOptions, ConfigFields, ImageProcessorOptions
from .checkpoint import load_hf_model, open_hf_checkpoint
from .processing import hf_preprocessing

preprocessing = hf_preprocessing
IMAGE_SIDE = ("vision_model.", "visual_projection.")  # CLIPModel's names; the text side is never read
CODE_VERSION = 1
CODE_NAME = "medembed_encoder.families.hf_llm2clip"  # see interface.Family
CLIP_VISION_FIELDS = frozenset(CLIPVisionConfig().to_dict())


class ClipVisionProjectionOptions(CatalogOptions):
    """Catalog options of a `clip_vision_projection` entry (see the module docstring)."""

    schema_name: ClassVar[str] = "hf/clip_vision_projection"
    config_fields: ClassVar[ConfigFields] = {"vision_config": (CLIP_VISION_FIELDS, "CLIPVisionConfig")}
    vision_config: dict[str, Any]  # CLIPVisionConfig fields
    image_processor: ImageProcessorOptions


OPTIONS = ClipVisionProjectionOptions


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    """The CLIP vision tower with its projection on `device`; only `vision_model.*` and `visual_projection.*`
    are read. `default` [N, projection_dim], `pre_projection` [N, hidden_size]. Raises WeightsUnavailable
    when the checkpoint cannot be had, ModelLoadError when its tensors do not fit.
    """
    config = CLIPVisionConfig(**ClipVisionProjectionOptions.from_entry(entry).vision_config)
    if entry.weights.is_random:
        with building_on(entry, device):
            model = CLIPVisionModelWithProjection(config)
    else:
        checkpoint = open_hf_checkpoint(weights_source(entry.weights, entry.id))
        state = checkpoint.read(name for name in checkpoint.names() if name.startswith(IMAGE_SIDE))
        model = load_hf_model(CLIPVisionModelWithProjection, config, state, checkpoint.description).to(device)

    def embed_pooled(batch: torch.Tensor) -> torch.Tensor:
        return model.vision_model(pixel_values=batch).pooler_output

    def embed_projected(batch: torch.Tensor) -> torch.Tensor:
        return model.visual_projection(embed_pooled(batch))

    specs = {DEFAULT_SPEC: embed_projected, PRE_PROJECTION_SPEC: embed_pooled}
    return make_encoder(entry, model, preprocessing(entry), specs)
