"""Tiny LLaVA checkpoints in the release file layouts, and the upstream feature functions they are compared with.

Shared by tests/parity/test_llava_parity.py and the parity cases (helpers/parity/hf_llava_cases.py).
Towers are CLIP ViT-shaped with the real image size (336, patch 14) so the real anyres grid pinpoints
and S² scales apply, but 2 layers of width 32.

References:
- LLaVA-1.6 (`llava_next_hf`): transformers' own `LlavaNextForConditionalGeneration`, its
  `LlavaNextImageProcessorPil` read from the saved preprocessor_config.json, and
  `LlavaNextModel.get_image_features` / `pack_image_features`.
- LLaVA-Med / MedTrinity (code only on GitHub): each stage with the library function the upstream
  calls (CLIPImageProcessorPil from the tower repo folder, CLIPVisionModel hidden states, the
  projector's Linear/GELU), and the two upstream steps that are not library calls stated here:
  mm_utils.py `expand2square` (fill: the processor's mean colour, for a mode-L image in LLaVA-Med
  `int(255 * mean(image_mean))` = 114) and s2wrapper's tile / merge / area-resize, written with plain
  slicing. Both were checked against the upstream code run locally.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import (
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPTextConfig,
    CLIPVisionConfig,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextImageProcessorPil,
    MistralConfig,
)

from medembed_decode import DecodeLimits, decode_image

INDEX = "model.safetensors.index.json"
OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]  # llava-v1.6 config.json
TOWER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
         "image_size": 336, "patch_size": 14, "projection_dim": 16, "hidden_act": "quick_gelu"}
TEXT_WIDTH = 48
LLAVA_LM = {"vocab_size": 500, "hidden_size": TEXT_WIDTH, "intermediate_size": 96, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1}
# openai/clip-vit-large-patch14-336's preprocessor_config.json, at the tiny tower's size
CLIP_PROCESSOR_FILE = {"crop_size": 336, "do_center_crop": True, "do_normalize": True, "do_resize": True,
                       "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": OPENAI_MEAN,
                       "image_std": OPENAI_STD, "resample": 3, "size": 336}
# llava-hf/llava-v1.6-mistral-7b-hf's preprocessor_config.json
# llava-hf/llava-v1.6-*-hf preprocessor_config.json as the hub has it, aspect_ratio_setting included
NEXT_PROCESSOR_FILE = {"aspect_ratio_setting": "anyres",
                       "crop_size": {"height": 336, "width": 336}, "do_center_crop": True, "do_convert_rgb": True,
                       "do_normalize": True, "do_pad": True, "do_rescale": True, "do_resize": True,
                       "image_grid_pinpoints": PINPOINTS, "image_mean": OPENAI_MEAN,
                       "image_processor_type": "LlavaNextImageProcessor", "image_std": OPENAI_STD,
                       "processor_class": "LlavaNextProcessor", "resample": 3,
                       "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}}
BOOKKEEPING = ("image_processor_type", "feature_extractor_type", "processor_class", "aspect_ratio_setting")


def _processor_record(kind: str, file: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "config": {k: v for k, v in file.items() if k not in BOOKKEEPING}}


def _write_shards(directory: Path, shards: list[dict[str, torch.Tensor]]) -> None:
    weight_map = {}
    for number, tensors in enumerate(shards, start=1):
        name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / name))
        weight_map |= dict.fromkeys(tensors, name)
    (directory / INDEX).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))


# ---- LLaVA-1.6, transformers' LlavaNext in the llava-hf hub layout ----

def write_llava_next(directory: Path, seed: int, hub_names: bool = True,
                     shard_size: str = "100KB") -> tuple[LlavaNextForConditionalGeneration, dict[str, Any]]:
    """Returns the model and its catalog options. Hub names: vision_tower.vision_model.*, multi_modal_projector.*,
    image_newline, language_model.* (else as transformers 5 saves them); config.json with the hub's older
    fields (torch_dtype, ignore_index, ...)."""
    torch.manual_seed(seed)
    config = LlavaNextConfig(vision_config=CLIPVisionConfig(**TOWER), text_config=MistralConfig(**LLAVA_LM),
                             image_grid_pinpoints=PINPOINTS, image_token_index=499, vision_feature_layer=-2,
                             vision_feature_select_strategy="default")
    model = LlavaNextForConditionalGeneration(config).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, max_shard_size=shard_size)
    index = json.loads((directory / INDEX).read_text())
    hub_name = lambda name: name.replace("vision_tower.", "vision_tower.vision_model.", 1) if hub_names else name  # noqa: E731
    for shard in set(index["weight_map"].values()):
        tensors = load_file(str(directory / shard))
        save_file({hub_name(name): tensor for name, tensor in tensors.items()}, str(directory / shard))
    index["weight_map"] = {hub_name(name): shard for name, shard in index["weight_map"].items()}
    (directory / INDEX).write_text(json.dumps(index))
    config_json = json.loads((directory / "config.json").read_text())
    config_json |= {"torch_dtype": "float16", "ignore_index": -100, "use_image_newline_parameter": True}
    (directory / "config.json").write_text(json.dumps(config_json))
    (directory / "preprocessor_config.json").write_text(json.dumps(NEXT_PROCESSOR_FILE))
    options = {"upstream": "llava_next_hf", "config": config_json,
               "image_processor": _processor_record("LlavaNextImageProcessor", NEXT_PROCESSOR_FILE)}
    return model, options


def llava_next_reference(model: LlavaNextForConditionalGeneration, directory: Path,
                         image: Image.Image) -> dict[str, np.ndarray]:
    """Each spec in transformers' own API terms, for one image."""
    processor = LlavaNextImageProcessorPil.from_pretrained(directory)
    inputs = processor(images=image, return_tensors="pt")
    pixels, sizes = inputs["pixel_values"], inputs["image_sizes"]
    llava = model.model
    with torch.inference_mode():
        tokens = llava.get_image_features(pixels, sizes).pooler_output[0]  # what replaces <image> in the LM input
        views = pixels[0]
        hidden = llava.vision_tower(views, output_hidden_states=True)
        selected = hidden.hidden_states[-2][:, 1:]
        unprojected, _ = llava.pack_image_features([selected], sizes, "default", image_newline=None)
        base_tokens = (model.config.vision_config.image_size // model.config.vision_config.patch_size) ** 2
        return {"default": tokens.mean(0).numpy(), "base_view": tokens[:base_tokens].mean(0).numpy(),
                "layer:-2:patch_mean": unprojected[0].mean(0).numpy(),
                "pre_projection": hidden.pooler_output[0].numpy()}


# ---- LLaVA's own layout: LLaVA-Med (Mistral) and MedTrinity (Llama-3, optionally S²) ----

def write_clip_repo(directory: Path, seed: int) -> CLIPModel:
    """A CLIP repo as openai/clip-vit-large-patch14-336 ships it (CLIPModel, preprocessor_config.json)."""
    torch.manual_seed(seed)
    text = CLIPTextConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                          vocab_size=64, max_position_embeddings=8)
    clip = CLIPModel(CLIPConfig(vision_config=TOWER, text_config=text.to_dict(), projection_dim=16)).eval()
    clip.save_pretrained(directory)
    (directory / "preprocessor_config.json").write_text(json.dumps(CLIP_PROCESSOR_FILE))
    return clip


def write_llava_checkpoint(directory: Path, tower_repo: Path, seed: int, upstream: str, s2: bool = False,
                           tower: CLIPModel | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A Llava{Mistral,Llama}ForCausalLM checkpoint: model.layers.*, model.mm_projector.{0,2}.*, lm_head, and
    (with `tower`, MedTrinity's unfreeze_mm_vision_tower) model.vision_tower.vision_tower.*. Returns the
    projector tensors and the catalog options."""
    generator = torch.Generator().manual_seed(seed)
    width = TOWER["hidden_size"] * (3 if s2 else 1)
    projector = {"0.weight": torch.randn(TEXT_WIDTH, width, generator=generator) * 0.2,
                 "0.bias": torch.randn(TEXT_WIDTH, generator=generator) * 0.2,
                 "2.weight": torch.randn(TEXT_WIDTH, TEXT_WIDTH, generator=generator) * 0.2,
                 "2.bias": torch.randn(TEXT_WIDTH, generator=generator) * 0.2}
    language_model = {"model.embed_tokens.weight": torch.randn(500, TEXT_WIDTH, generator=generator),
                      "model.layers.0.mlp.up_proj.weight": torch.randn(96, TEXT_WIDTH, generator=generator)}
    vision = {f"model.mm_projector.{k}": v for k, v in projector.items()}
    if tower is not None:
        vision |= {f"model.vision_tower.vision_tower.{k}": v for k, v in tower.state_dict().items()
                   if k.startswith("vision_model.")}
    directory.mkdir(parents=True, exist_ok=True)
    _write_shards(directory, [language_model, vision, {"lm_head.weight": torch.randn(500, TEXT_WIDTH)}])
    llama = upstream == "medtrinity"
    config = {**MistralConfig(**LLAVA_LM).to_dict(), "rope_theta": 1e6, "torch_dtype": "bfloat16",
              "architectures": ["LlavaLlamaForCausalLM" if llama else "LlavaMistralForCausalLM"],
              "model_type": "llava_llama" if llama else "llava_mistral", "mm_vision_tower": str(tower_repo),
              "mm_hidden_size": width, "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2,
              "mm_vision_select_feature": "patch", "image_aspect_ratio": "pad", "mm_patch_merge_type": "flat",
              "mm_use_im_start_end": False, "mm_use_im_patch_token": False, "tune_mm_mlp_adapter": False,
              "freeze_mm_mlp_adapter": False, "mm_projector_lr": None, "tokenizer_model_max_length": 2048,
              "tokenizer_padding_side": "right", "use_mm_proj": True, "image_grid_pinpoints": None}
    if llama:
        config.pop("sliding_window")
        config |= {"s2": s2, "unfreeze_mm_vision_tower": tower is not None}
        if s2:
            config["s2_scales"] = "336,672,1008"
    else:  # LLaVA-Med v1.5's config.json also records its segmentation-token fields
        config |= {"feature_outs": "encoder+decoder", "img_size": 640, "vision_backbone": "convnext-large",
                   "segtok_posembed": "fractional", "mm_resampler_type": None, "unfreeze_mm_vision_tower": False}
    (directory / "config.json").write_text(json.dumps(config))
    tower_config = json.loads((tower_repo / "config.json").read_text())["vision_config"]
    options = {"upstream": upstream, "config": config, "vision_config": tower_config,
               "image_processor": _processor_record("CLIPImageProcessor", CLIP_PROCESSOR_FILE)}
    return projector, options


def expand2square(image: Image.Image, fill: int | tuple[int, ...]) -> Image.Image:
    """mm_utils.expand2square's result with the offset d // 2 (LLaVA-Med draws d // 2 or d // 2 + 1)."""
    width, height = image.size
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def s2_tokens(tower: torch.nn.Module, pixels: torch.Tensor, scales: tuple[int, ...] = (336, 672, 1008)) -> torch.Tensor:
    """s2wrapper.forward(feature_select(tower), pixels, img_sizes=scales, max_split_size=scales[0]), by slicing."""
    maps = []
    for size in scales:
        splits, tile = math.ceil(size / scales[0]), size // math.ceil(size / scales[0])
        resized = F.interpolate(pixels, size=size, mode="bicubic")
        rows = []
        for i in range(splits):
            row = []
            for j in range(splits):
                crop = resized[:, :, i * tile:(i + 1) * tile, j * tile:(j + 1) * tile]
                tokens = tower(crop, output_hidden_states=True).hidden_states[-2][:, 1:]
                side = int(tokens.shape[1] ** 0.5)
                row.append(tokens.transpose(1, 2).reshape(len(pixels), -1, side, side))
            rows.append(torch.cat(row, dim=-1))
        maps.append(torch.cat(rows, dim=-2))
    grid = maps[0].shape[-1]
    return torch.cat([F.adaptive_avg_pool2d(m, grid) for m in maps], dim=1).flatten(2).transpose(1, 2)


def llava_reference(tower_repo: Path, projector: dict[str, torch.Tensor], upstream: str, image: Image.Image,
                    s2: bool = False, tower: CLIPModel | None = None) -> dict[str, np.ndarray]:
    """encode_images(process_images([image])) averaged over tokens, and the other specs, stage by stage."""
    if upstream == "medtrinity":  # MedTrinity's loaders .convert('RGB'); LLaVA-Med's model_vqa.py does not
        image = image.convert("RGB")
    processor = CLIPImageProcessorPil.from_pretrained(tower_repo)
    if s2:  # CLIPVisionTowerS2.load_model
        processor.size = {"shortest_edge": 1008}
        processor.crop_size = {"height": 1008, "width": 1008}
    gray = image.mode == "L"
    fill = int(255 * sum(processor.image_mean) / 3) if gray else tuple(int(x * 255) for x in processor.image_mean)
    pixels = processor.preprocess(expand2square(image, fill), return_tensors="pt")["pixel_values"]
    vision = (tower or CLIPModel.from_pretrained(tower_repo)).vision_model.eval()
    with torch.inference_mode():
        tokens = s2_tokens(vision, pixels) if s2 else vision(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
        hidden = F.gelu(F.linear(tokens, projector["0.weight"], projector["0.bias"]))
        projected = F.linear(hidden, projector["2.weight"], projector["2.bias"])
        base = F.interpolate(pixels, size=336, mode="bicubic") if s2 else pixels
        return {"default": projected[0].mean(0).numpy(), "layer:-2:patch_mean": tokens[0].mean(0).numpy(),
                "pre_projection": vision(base).pooler_output[0].numpy()}


# ---- images and one tiny checkpoint per catalog upstream (for the parity cases and the tests) ----

Reference = Callable[[Image.Image], dict[str, np.ndarray]]


def parity_images() -> dict[str, bytes]:
    """A non-square RGB image, a non-square gray image and a 16-bit gray image, as PNG bytes."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 1, 600)[None, :, None] * np.linspace(0.3, 1, 400)[:, None, None]
    rgb = (ramp * 255 * [1.0, 0.6, 0.3] + rng.normal(0, 20, (400, 600, 3))).clip(0, 255).astype(np.uint8)
    gray = rng.integers(0, 256, (500, 300), dtype=np.uint8)
    deep = (np.linspace(0, 4095, 260 * 520).reshape(260, 520) + rng.integers(0, 200, (260, 520))).astype(np.uint16)
    return {name: _png(Image.fromarray(pixels)) for name, pixels in
            (("rgb 600x400", rgb), ("gray 300x500", gray), ("16-bit 520x260", deep))}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def as_upstream_reads(data: bytes) -> Image.Image:
    """8-bit files as PIL opens them; deeper ones as medembed decodes them (min-max to 8 bits): the upstreams'
    own `convert` would clip them, a documented deliberate difference."""
    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode in ("L", "RGB"):
        return image
    return decode_image(data, DecodeLimits(2**30, 10**9, 1))


def tiny_checkpoint_like(upstream: str, s2: bool, directory: Path, seed: int = 31) -> tuple[dict[str, Any], Reference]:
    """A tiny checkpoint read the way `upstream` reads it (S² or not); returns its catalog options and reference."""
    if upstream == "llava_next_hf":
        model, options = write_llava_next(directory / "llava-next", seed)
        return options, lambda image: llava_next_reference(model, directory / "llava-next", image)
    tower_repo = directory / "clip-tower"
    write_clip_repo(tower_repo, seed)
    projector, options = write_llava_checkpoint(directory / "llava", tower_repo, seed + 1, upstream, s2=s2)
    return options, lambda image: llava_reference(tower_repo, projector, upstream, image, s2=s2)
