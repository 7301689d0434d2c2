"""LLaVA-family checkpoints: only vision-tower and projector tensors are read from the safetensors shards.

Every shard that holds only language-model tensors is overwritten with junk after saving: if the
loader opened one, safetensors would fail. So these tests prove the language model is never read.
The vectors are compared with the upstream references of helpers.llava_upstream.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.llava_upstream import (
    INDEX,
    llava_next_reference,
    llava_reference,
    write_clip_repo,
    write_llava_checkpoint,
    write_llava_next,
)
from medembed_encoder.families import ModelLoadError

from .support import CPU, load, local, noise_image, tiny_entry


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


def _served(encoder, spec: str, image) -> np.ndarray:
    with torch.inference_mode():
        return encoder.specs[spec](encoder.collate([encoder.preprocess(image)], CPU))[0].numpy()


@pytest.mark.parametrize("hub_names", [True, False], ids=["hub-llava-hf", "transformers-5"])
def test_llava_hf_sharded_checkpoint_reads_only_tower_and_projector(tmp_path, hub_names):
    model, options = write_llava_next(tmp_path, seed=10, hub_names=hub_names, shard_size="40KB")
    is_vision = lambda name: name.startswith(("vision_tower.", "multi_modal_projector.", "image_newline"))  # noqa: E731
    language_model_bytes = _junk_language_model_shards(tmp_path, is_vision)
    assert language_model_bytes > 0.5 * sum(p.stat().st_size for p in tmp_path.glob("*.safetensors"))
    encoder = load(tiny_entry("hf", "llava", local(tmp_path), dim=48, **options))
    assert encoder.spec_dims == {"default": 48, "base_view": 48, "pre_projection": 32, "layer:-2:patch_mean": 32}
    image = noise_image(500, 300)
    expected = llava_next_reference(model, tmp_path, image)
    for spec in encoder.specs:
        np.testing.assert_allclose(_served(encoder, spec, image), expected[spec], atol=1e-5, rtol=0)


def _llava_med(tmp_path: Path, seed: int = 11):
    tower_repo = tmp_path / "clip-vit-large-patch14-336"
    write_clip_repo(tower_repo, seed=seed)
    projector, options = write_llava_checkpoint(tmp_path / "llava-med", tower_repo, seed + 1, "llava_med")
    return tower_repo, projector, options


def test_llava_med_layout_takes_its_frozen_tower_from_the_clip_repo(tmp_path):
    tower_repo, projector, options = _llava_med(tmp_path)
    assert _junk_language_model_shards(tmp_path / "llava-med", lambda name: "mm_projector" in name) > 0
    encoder = load(tiny_entry("hf", "llava", local(tmp_path / "llava-med"), dim=48, **options))
    image = noise_image(300, 420)
    expected = llava_reference(tower_repo, projector, "llava_med", image)
    for spec in encoder.specs:
        np.testing.assert_allclose(_served(encoder, spec, image), expected[spec], atol=1e-5, rtol=0)


def test_a_checkpoint_without_projector_tensors_is_refused_clearly(tmp_path):
    _, _, options = _llava_med(tmp_path, seed=13)
    index = json.loads((tmp_path / "llava-med" / INDEX).read_text())
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if "mm_projector" not in k}
    (tmp_path / "llava-med" / INDEX).write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="no projector tensors under"):
        load(tiny_entry("hf", "llava", local(tmp_path / "llava-med"), **options))


def test_a_tower_repo_of_another_size_than_recorded_is_refused_clearly(tmp_path):
    tower_repo, _, options = _llava_med(tmp_path, seed=15)
    options["vision_config"] = {**options["vision_config"], "num_hidden_layers": 4}  # the catalog's record
    with pytest.raises(ModelLoadError, match=r"describes another model.*num_hidden_layers', 4\).*2\)"):
        load(tiny_entry("hf", "llava", local(tmp_path / "llava-med"), **options))
