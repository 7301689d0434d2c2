"""LLaVA-family checkpoints: only vision-tower and projector tensors are read from the safetensors shards.

Every shard that holds only language-model tensors is overwritten with junk after saving: if the
loader opened one, safetensors would fail. So these tests prove the language model is never read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import CLIPVisionConfig, LlavaNextConfig, LlavaNextForConditionalGeneration, MistralConfig

from medembed_encoder.families import ModelLoadError

from .support import assert_same, embed, images, load, local, tiny_entry
from .test_checkpoint_formats import TINY_CLIP_PROCESSOR, TINY_CLIP_VISION, _tiny_clip_model

INDEX = "model.safetensors.index.json"
TEXT_WIDTH = 48
LLAVA_NEXT_PROCESSOR = {"type": "LlavaNextImageProcessor",
                        "config": {"size": {"shortest_edge": 28}, "crop_size": {"height": 28, "width": 28},
                                   "image_grid_pinpoints": [[28, 56], [56, 28]], "resample": 3,
                                   "image_mean": [0.48145466, 0.4578275, 0.40821073],
                                   "image_std": [0.26862954, 0.26130258, 0.27577711]}}


def _tiny_llava_next() -> LlavaNextForConditionalGeneration:
    torch.manual_seed(10)
    text = MistralConfig(vocab_size=4000, hidden_size=TEXT_WIDTH, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1)
    config = LlavaNextConfig(vision_config=CLIPVisionConfig(**TINY_CLIP_VISION), text_config=text,
                             image_grid_pinpoints=[[28, 56], [56, 28]], image_token_index=3999,
                             vision_feature_layer=-2, vision_feature_select_strategy="default")
    return LlavaNextForConditionalGeneration(config).eval()


def _rename_tensors(directory: Path, rename) -> None:
    """Rewrite every shard and the index with renamed tensors (another transformers version's names)."""
    index = json.loads((directory / INDEX).read_text())
    for shard in set(index["weight_map"].values()):
        tensors = load_file(str(directory / shard))
        save_file({rename(name): tensor for name, tensor in tensors.items()}, str(directory / shard))
    index["weight_map"] = {rename(name): shard for name, shard in index["weight_map"].items()}
    (directory / INDEX).write_text(json.dumps(index))


def _junk_language_model_shards(directory: Path, is_vision) -> int:
    """Overwrite the shards holding no vision tensor; returns how many bytes of shards that was."""
    weight_map = json.loads((directory / INDEX).read_text())["weight_map"]
    shards: dict[str, list[str]] = {}
    for name, shard in weight_map.items():
        shards.setdefault(shard, []).append(name)
    junked = 0
    for shard, names in shards.items():
        if not any(is_vision(name) for name in names):
            junked += (directory / shard).stat().st_size
            (directory / shard).write_bytes(b"language model: must never be opened")
    return junked


@pytest.mark.parametrize("saved_names", ["transformers-5", "hub-llava-hf"])
def test_llava_hf_sharded_checkpoint_reads_only_tower_and_projector(tmp_path, saved_names):
    llava = _tiny_llava_next()
    llava.save_pretrained(tmp_path, max_shard_size="40KB")
    if saved_names == "hub-llava-hf":  # the llava-hf repos: vision_tower.vision_model.*, language_model.*
        _rename_tensors(tmp_path, lambda name: name.replace("vision_tower.", "vision_tower.vision_model.", 1))
    language_model_bytes = _junk_language_model_shards(
        tmp_path, lambda name: name.startswith(("vision_tower.", "multi_modal_projector.")))
    assert language_model_bytes > 0.5 * sum(p.stat().st_size for p in tmp_path.glob("*.safetensors"))
    encoder = load(tiny_entry("hf", "llava", local(tmp_path), dim=TEXT_WIDTH, layout="llava_hf",
                              vision_config=TINY_CLIP_VISION, vision_feature_layer=-2, vision_feature_select="patch",
                              text_hidden_size=TEXT_WIDTH, image_processor=LLAVA_NEXT_PROCESSOR))
    assert encoder.spec_dims == {"default": TEXT_WIDTH, "pre_projection": 32, "layer:-2:patch_mean": 32}
    batch = images(2, 28)
    with torch.inference_mode():
        tower = llava.model.vision_tower(pixel_values=batch, output_hidden_states=True)
        patches = tower.hidden_states[-2][:, 1:]
        assert_same(embed(encoder, "default", batch), llava.model.multi_modal_projector(patches).mean(dim=1))
        assert_same(embed(encoder, "pre_projection", batch), tower.pooler_output)
        assert_same(embed(encoder, "layer:-2:patch_mean", batch), patches.mean(dim=1))


def _write_llava_med_checkpoint(directory: Path, projector: dict[str, torch.Tensor]) -> None:
    """LLaVA's own layout (LlavaMistralForCausalLM): model.layers.*, model.mm_projector.*, lm_head."""
    generator = torch.Generator().manual_seed(11)

    def random(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    shards = {
        "model-00001-of-00003.safetensors": {"model.embed_tokens.weight": random(4000, TEXT_WIDTH),
                                             "model.layers.0.self_attn.q_proj.weight": random(TEXT_WIDTH, TEXT_WIDTH)},
        "model-00002-of-00003.safetensors": {"model.layers.0.mlp.up_proj.weight": random(96, TEXT_WIDTH),
                                             "model.norm.weight": torch.ones(TEXT_WIDTH),
                                             **{f"model.mm_projector.{k}": v for k, v in projector.items()}},
        "model-00003-of-00003.safetensors": {"lm_head.weight": random(4000, TEXT_WIDTH)},
    }
    weight_map = {}
    for shard, tensors in shards.items():
        save_file(tensors, str(directory / shard))
        weight_map |= dict.fromkeys(tensors, shard)
    (directory / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def _llava_med_entry(checkpoint: Path, tower_repo: Path):
    return tiny_entry("hf", "llava", local(checkpoint), dim=TEXT_WIDTH, layout="llava",
                      vision_tower_weights={"kind": "local", "ref": str(tower_repo)},
                      vision_config=TINY_CLIP_VISION, vision_feature_layer=-2, vision_feature_select="patch",
                      text_hidden_size=TEXT_WIDTH, image_aspect_ratio="pad", image_processor=TINY_CLIP_PROCESSOR)


def test_llava_med_layout_takes_its_frozen_tower_from_the_clip_repo(tmp_path):
    clip = _tiny_clip_model(projection_dim=16, seed=12)
    tower_repo = tmp_path / "clip-vit-large-patch14-336"
    tower_repo.mkdir()
    torch.save(clip.state_dict(), tower_repo / "pytorch_model.bin")  # as the openai repo ships it
    torch.manual_seed(13)
    projector = {"0.weight": torch.randn(TEXT_WIDTH, 32), "0.bias": torch.randn(TEXT_WIDTH),
                 "2.weight": torch.randn(TEXT_WIDTH, TEXT_WIDTH), "2.bias": torch.randn(TEXT_WIDTH)}
    checkpoint = tmp_path / "llava-med"
    checkpoint.mkdir()
    _write_llava_med_checkpoint(checkpoint, projector)
    assert _junk_language_model_shards(checkpoint, lambda name: "mm_projector" in name) > 0
    encoder = load(_llava_med_entry(checkpoint, tower_repo))
    batch = images(2, 28)
    with torch.inference_mode():
        patches = clip.vision_model(pixel_values=batch, output_hidden_states=True).hidden_states[-2][:, 1:]
        hidden = F.gelu(F.linear(patches, projector["0.weight"], projector["0.bias"]))
        expected = F.linear(hidden, projector["2.weight"], projector["2.bias"]).mean(dim=1)
        assert_same(embed(encoder, "default", batch), expected)
        assert_same(embed(encoder, "layer:-2:patch_mean", batch), patches.mean(dim=1))


def test_a_checkpoint_without_projector_tensors_is_refused_clearly(tmp_path):
    clip = _tiny_clip_model(projection_dim=16, seed=14)
    clip.save_pretrained(tmp_path / "tower")
    (tmp_path / "llm").mkdir()
    save_file({"model.embed_tokens.weight": torch.zeros(10, TEXT_WIDTH)}, str(tmp_path / "llm" / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="no projector tensors under"):
        load(_llava_med_entry(tmp_path / "llm", tmp_path / "tower"))


def test_a_tower_of_another_size_is_refused_clearly(tmp_path):
    clip = _tiny_clip_model(projection_dim=16, seed=15)
    clip.save_pretrained(tmp_path / "tower")
    (tmp_path / "llava").mkdir()
    projector = {"0.weight": torch.zeros(TEXT_WIDTH, 32), "0.bias": torch.zeros(TEXT_WIDTH),
                 "2.weight": torch.zeros(TEXT_WIDTH, TEXT_WIDTH), "2.bias": torch.zeros(TEXT_WIDTH)}
    _write_llava_med_checkpoint(tmp_path / "llava", projector)
    entry = _llava_med_entry(tmp_path / "llava", tmp_path / "tower")
    entry.options["vision_config"] = {**TINY_CLIP_VISION, "num_hidden_layers": 4}
    with pytest.raises(ModelLoadError, match="does not fit CLIPVisionModel"):
        load(entry)
