"""CLIP vision tower with its visual projection, in transformers' CLIP layout (LLM2CLIP's image side).

microsoft/LLM2CLIP-Openai-L-14-336 keeps CLIPModel's tensor names (`vision_model.*`,
`visual_projection.weight`) with a 1280-wide projection into its LLM-derived text space. Only those
tensors are read; the text side is never loaded. Options: `vision_config` (CLIPVisionConfig incl.
projection_dim) and `image_processor` (the processor its model card uses).
Specs: `default` (projected), `pre_projection` (pooled CLS after the post-LayerNorm).
"""

from __future__ import annotations

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from ..catalog import CatalogEntry
from .base import DEFAULT_SPEC, PRE_PROJECTION_SPEC, LoadedEncoder, building_on, make_encoder
from .hf_checkpoint import load_hf_model, open_hf_checkpoint
from .hf_processing import hf_preprocessing
from .hub import weights_source

preprocessing = hf_preprocessing
IMAGE_SIDE = ("vision_model.", "visual_projection.")  # CLIPModel's names; the text side is never read


def load(entry: CatalogEntry, device: torch.device) -> LoadedEncoder:
    config = CLIPVisionConfig(**entry.options["vision_config"])
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
