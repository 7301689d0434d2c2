"""transformers models against transformers: `CLIPModel.from_pretrained` and `get_image_features`, with
the PIL image processor the model card names (its preprocessor_config.json)."""

from __future__ import annotations

import torch
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


# --- vision backbones (families/hf/vision_backbone.py): each release's checkpoint written by transformers'
# save_pretrained (the repo's config.json and model.safetensors), read back with from_pretrained and embedded
# as its model card does, on the PIL backend of the image processor its preprocessor_config.json names.

TINY_SIGLIP_TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                    "vocab_size": 64, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
                    "pad_token_id": 1}


def _processor(entry: dict):
    """The PIL image processor of the entry's preprocessor config, on the RGB image (the cards open images with
    `.convert("RGB")`; ViTImageProcessor has no RGB conversion of its own)."""
    spec = entry["options"]["image_processor"]
    processor = getattr(transformers, f"{spec['type']}Pil")(**spec["config"])
    return spec["type"], lambda image: processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"]


def _backbone(ctx: CaseContext, model_id: str, seed: int, save) -> tuple[dict, object, str, str]:
    """The catalog entry (depth capped), the folder holding the saved checkpoint, and the row note."""
    entry = catalog_entry(model_id)
    config = dict(entry["options"]["config"])
    config["num_hidden_layers"], note = ctx.depth(config["num_hidden_layers"])
    entry["options"]["config"] = config
    folder = plant(ctx.hub_cache, entry["weights"]["ref"], "config.json").parent
    transformers.set_seed(seed)
    save(config, folder)
    spec = entry["options"]["image_processor"]  # the repo's preprocessor_config.json, which the server checks
    getattr(transformers, f"{spec['type']}Pil")(**spec["config"]).save_pretrained(folder)
    return entry, folder, note


def _dinov2_like(ctx: CaseContext, model_id: str, seed: int, model_class) -> BuiltCase:
    """Phikon (ViTModel), Phikon-v2 and RAD-DINO (Dinov2Model): the cards' AutoModel.from_pretrained(repo) and
    AutoImageProcessor; the class token `last_hidden_state[:, 0]` (RAD-DINO's card: `pooler_output`, the same token)."""
    config_class = transformers.ViTConfig if model_class is transformers.ViTModel else transformers.Dinov2Config
    entry, folder, note = _backbone(ctx, model_id, seed,
                                    lambda config, folder: model_class(config_class(**config)).save_pretrained(folder))
    model = transformers.AutoModel.from_pretrained(folder).eval()
    processor, pixels = _processor(entry)
    if model_class is transformers.Dinov2Model:
        return BuiltCase(entry, {"default": Reference(
            f"transformers AutoModel.from_pretrained (Dinov2Model); {processor}Pil; outputs.pooler_output "
            "(= last_hidden_state[:, 0])", lambda image: model(pixel_values=pixels(image)).pooler_output[0])}, note)
    return BuiltCase(entry, {"default": Reference(
        f"transformers AutoModel.from_pretrained (ViTModel); {processor}Pil; outputs.last_hidden_state[:, 0, :]",
        lambda image: model(pixel_values=pixels(image)).last_hidden_state[0, 0])}, note)


@parity_case("phikon", "hf")
def phikon(ctx: CaseContext) -> BuiltCase:
    return _dinov2_like(ctx, "phikon", 80, transformers.ViTModel)


@parity_case("phikon-v2", "hf")
def phikon_v2(ctx: CaseContext) -> BuiltCase:
    return _dinov2_like(ctx, "phikon-v2", 81, transformers.Dinov2Model)


@parity_case("rad-dino", "hf")
def rad_dino(ctx: CaseContext) -> BuiltCase:
    return _dinov2_like(ctx, "rad-dino", 82, transformers.Dinov2Model)


def _dinov2_linear(ctx: CaseContext, model_id: str, seed: int) -> BuiltCase:
    """DINOv2's linear evaluation as transformers implements it: the input of Dinov2ForImageClassification's
    `classifier` (torch.cat([cls_token, patch_tokens.mean(dim=1)], dim=1)), captured by a forward pre-hook, on
    the Dinov2Model checkpoint of facebook/dinov2-*."""
    entry, folder, note = _backbone(
        ctx, model_id, seed,
        lambda config, folder: transformers.Dinov2Model(transformers.Dinov2Config(**config)).save_pretrained(folder))
    classifier_model = transformers.Dinov2ForImageClassification.from_pretrained(folder, num_labels=2).eval()
    backbone = transformers.Dinov2Model.from_pretrained(folder).eval()
    processor, pixels = _processor(entry)
    captured = {}
    classifier_model.classifier.register_forward_pre_hook(lambda module, inputs: captured.update(x=inputs[0]))

    def linear_input(image):
        classifier_model(pixel_values=pixels(image))
        return captured["x"][0]

    return BuiltCase(entry, {
        "default": Reference(f"transformers Dinov2ForImageClassification.from_pretrained; {processor}Pil; the input of "
                             "its linear classifier (cls token ++ patch-token mean)", linear_input),
        "cls": Reference(f"transformers Dinov2Model.from_pretrained; {processor}Pil; pooler_output",
                         lambda image: backbone(pixel_values=pixels(image)).pooler_output[0]),
    }, note)


@parity_case("dinov2-vit-l-14", "hf")
def dinov2_large(ctx: CaseContext) -> BuiltCase:
    return _dinov2_linear(ctx, "dinov2-vit-l-14", 83)


@parity_case("dinov2-vit-b-14", "hf")
def dinov2_base(ctx: CaseContext) -> BuiltCase:
    return _dinov2_linear(ctx, "dinov2-vit-b-14", 84)


def _siglip(ctx: CaseContext, model_id: str, seed: int) -> BuiltCase:
    """A whole SiglipModel checkpoint (text side shrunk), read back with SiglipModel.from_pretrained and embedded by
    `get_image_features(pixel_values)` (the MAP head's pooled feature, not normalised)."""
    def save(vision, folder):
        config = transformers.SiglipConfig(text_config=TINY_SIGLIP_TEXT, vision_config=vision)
        transformers.SiglipModel(config).save_pretrained(folder)

    entry, folder, note = _backbone(ctx, model_id, seed, save)
    model = transformers.SiglipModel.from_pretrained(folder).eval()
    processor, pixels = _processor(entry)

    def features(image):
        output = model.get_image_features(pixel_values=pixels(image))
        return (output if isinstance(output, torch.Tensor) else output.pooler_output)[0]

    return BuiltCase(entry, {"default": Reference(
        f"transformers SiglipModel.from_pretrained; {processor}Pil; get_image_features(pixel_values)", features)},
        note + "; text side shrunk")


@parity_case("medsiglip-448", "hf")
def medsiglip_448(ctx: CaseContext) -> BuiltCase:
    return _siglip(ctx, "medsiglip-448", 85)


@parity_case("siglip2-so400m-14-384", "hf")
def siglip2_so400m(ctx: CaseContext) -> BuiltCase:
    return _siglip(ctx, "siglip2-so400m-14-384", 86)


@parity_case("hibou-l", "hf")
def hibou_l(ctx: CaseContext) -> BuiltCase:
    """Hibou-L's card loads its repo's remote code (AutoModel with trust_remote_code, DINOv2 with registers), which
    no machine here can fetch; the reference is transformers' own Dinov2WithRegistersModel (the same architecture:
    class token, 4 registers, patches at the 224 px position table, no interpolation) with `pooler_output`, as
    TRIDENT's HibouLInferenceEncoder reads it. The real checkpoint's names, shapes and config.json are checked
    against this at load."""
    entry, folder, note = _backbone(ctx, "hibou-l", 87, lambda config, folder: transformers.Dinov2WithRegistersModel(
        transformers.Dinov2WithRegistersConfig(**config)).save_pretrained(folder))
    model = transformers.Dinov2WithRegistersModel.from_pretrained(folder).eval()
    processor, pixels = _processor(entry)
    return BuiltCase(entry, {"default": Reference(
        f"transformers Dinov2WithRegistersModel.from_pretrained; {processor}Pil; outputs.pooler_output",
        lambda image: model(pixel_values=pixels(image)).pooler_output[0])}, note)
