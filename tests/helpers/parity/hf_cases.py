"""transformers models against transformers: `CLIPModel.from_pretrained` and `get_image_features`, with
the PIL image processor the model card names (its preprocessor_config.json)."""

from __future__ import annotations

import transformers
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig

from .hubcache import plant
from .registry import BuiltCase, CaseContext, Reference, catalog_entry, parity_case

LLM2CLIP = "microsoft/LLM2CLIP-Openai-L-14-336"
TINY_TEXT = CLIPTextConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           vocab_size=64, bos_token_id=0, eos_token_id=1, pad_token_id=1)


@parity_case("llm2clip-openai-l-14-336", "hf")
def llm2clip(ctx: CaseContext) -> BuiltCase:
    """The checkpoint in CLIPModel's layout (what LLM2CLIP's modeling_clip keeps: vision_model.*,
    visual_projection.weight), saved by save_pretrained to where the pinned hub revision resolves."""
    entry = catalog_entry("llm2clip-openai-l-14-336")
    vision = dict(entry["options"]["vision_config"])
    vision["num_hidden_layers"], note = ctx.depth(vision["num_hidden_layers"])
    config = CLIPConfig(vision_config=vision, text_config=TINY_TEXT.to_dict(), projection_dim=vision["projection_dim"])
    transformers.set_seed(50)
    folder = plant(ctx.hub_cache, LLM2CLIP, "config.json", entry["weights"]["revision"]).parent
    CLIPModel(config).save_pretrained(folder)  # config.json + model.safetensors
    model = CLIPModel.from_pretrained(folder).eval()
    spec = entry["options"]["image_processor"]
    processor = getattr(transformers, f"{spec['type']}Pil")(**spec["config"])

    def pixels(image):
        return processor(images=image, return_tensors="pt")["pixel_values"]

    entry["options"]["vision_config"] = vision
    return BuiltCase(entry, {
        "default": Reference(f"transformers CLIPModel.from_pretrained; get_image_features(pixel_values) with "
                             f"{spec['type']}Pil", lambda image: model.get_image_features(
                                 pixel_values=pixels(image)).pooler_output[0]),
        "pre_projection": Reference("transformers CLIPModel.vision_model(pixel_values).pooler_output",
                                    lambda image: model.vision_model(pixel_values=pixels(image)).pooler_output[0]),
    }, note + "; text side shrunk")
