"""Where weights come from: the hub cache (offline mode respected), gated repos, local paths.

Failures are clear ModelLoadErrors at load time, i.e. at server start, never at the first request.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from open_clip.model import _build_vision_tower
from safetensors.torch import save_file

from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import ModelLoadError, load_encoder
from medembed_encoder.weights.hub import HubRepo, MissingFile

from .support import META, embed, images, load, local, tiny_entry

CATALOG = load_catalog()


@pytest.fixture
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty model cache and no network: HF_HUB_OFFLINE=1, MEDEMBED_MODEL_CACHE set."""
    cache = tmp_path / "model-cache"
    cache.mkdir()
    monkeypatch.setenv("MEDEMBED_MODEL_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _put_in_hub_cache(cache: Path, repo_id: str, filename: str, write) -> None:
    """Lay a file out as huggingface_hub's cache does after a download of `main`."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    write(snapshot / filename)


@pytest.mark.parametrize("model_id", ["conch", "uni", "uni2-h", "virchow2", "virchow", "h-optimus-1", "prov-gigapath",
                                      "conch-v1.5", "medsiglip-448"])
def test_gated_models_need_a_token_before_anything_is_downloaded(model_id, monkeypatch, offline_cache):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(ModelLoadError, match="is gated on the Hugging Face Hub .*set HF_TOKEN"):
        load(CATALOG[model_id])


def test_with_a_token_a_gated_model_goes_to_the_hub_cache(monkeypatch, offline_cache):
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    with pytest.raises(ModelLoadError, match="hf-hub:MahmoodLab/UNI/.* is not in the model cache .*HF_HUB_OFFLINE"):
        load(CATALOG["uni"])


@pytest.mark.parametrize(("model_id", "missing"), [
    ("biomedclip", "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224/open_clip_model.safetensors"),
    ("clip-vit-b-16", "hf-hub:laion/CLIP-ViT-B-16-laion2B-s34B-b88K/open_clip_model.safetensors"),
    ("llava-v1.6-mistral-7b", "hf-hub:llava-hf/llava-v1.6-mistral-7b-hf/config.json"),  # read first
    ("flair", "hf-hub:jusiro2/FLAIR/model.safetensors"),
])
def test_offline_without_cached_weights_fails_clearly(model_id, missing, offline_cache):
    with pytest.raises(ModelLoadError, match=f"{missing} is not in the model cache"):
        load(CATALOG[model_id])


def test_allow_random_weights_stands_in_for_unavailable_weights_and_says_so(offline_cache, monkeypatch, caplog):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    for model_id in ("flair", "conch"):  # not in the cache; gated without a token
        with pytest.raises(ModelLoadError):
            load_encoder(CATALOG[model_id], META, allow_random_weights=False)
        with caplog.at_level(logging.WARNING, logger="medembed_encoder.families"):
            encoder = load_encoder(CATALOG[model_id], META, allow_random_weights=True)
        assert encoder.random_weights and encoder.entry.id == model_id
        assert caplog.records[-1].getMessage() == "model_weights_unavailable"


def test_allow_random_weights_does_not_hide_a_checkpoint_that_does_not_fit(tmp_path):
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "resnet50.pth")
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_encoder(tiny_entry("torchvision", "resnet50", local(tmp_path / "resnet50.pth")), META,
                     allow_random_weights=True)


def test_biomedclip_loads_from_the_hub_cache_offline(offline_cache):
    entry = CATALOG["biomedclip"]
    torch.manual_seed(20)
    tower = _build_vision_tower(512, entry.options["model_cfg"]["vision_cfg"]).eval()
    state = {f"visual.{key}": tensor.contiguous() for key, tensor in tower.state_dict().items()}
    _put_in_hub_cache(offline_cache, entry.weights.ref, "open_clip_model.safetensors",
                      lambda path: save_file(state, str(path)))
    encoder = load(entry)
    assert not encoder.random_weights and encoder.spec_dims == {"default": 512, "pre_projection": 768}
    batch = images(1, 224)
    with torch.inference_mode():
        torch.testing.assert_close(embed(encoder, "default", batch), tower(batch))


def test_hub_files_absent_from_a_repo_are_told_apart_from_failures(offline_cache):
    _put_in_hub_cache(offline_cache, "org/model", "config.json", lambda path: path.write_text("{}"))
    assert HubRepo("org/model").get("config.json").read_text() == "{}"
    with pytest.raises(MissingFile, match="not in the model cache"):
        HubRepo("org/model").get("model.safetensors")


def test_missing_local_weights_name_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDEMBED_WEIGHTS_DIR", str(tmp_path))
    entry = load_catalog()["cxr-clip-swint"]  # parsed again: its path expands MEDEMBED_WEIGHTS_DIR
    with pytest.raises(ModelLoadError, match=f"checkpoint {tmp_path}/cxr-clip/swint_mcc.tar not found"):
        load(entry)
    with pytest.raises(ModelLoadError, match="checkpoint directory .*/nowhere not found"):
        load(dataclasses.replace(CATALOG["llava-v1.6-mistral-7b"], weights=local(tmp_path / "nowhere")))


class _Pickled:
    pass


def test_checkpoints_holding_objects_are_refused(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2)}, "trainer": _Pickled()}, path)
    with pytest.raises(ModelLoadError, match="refused"):
        load(tiny_entry("torchvision", "resnet50", local(path)))
    assert pickle.loads(pickle.dumps(_Pickled()))  # the object itself is fine; only unpickling it is refused


def test_serve_with_a_gated_model_and_no_token_exits_at_start_with_the_reason(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "MEDEMBED_MODEL_CACHE": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", "medembed_encoder.cli", "serve", "--models", "conch", "--port", "0",
         "--metrics-port", "-1", "--cache-url", "none", "--device", "cpu"],
        capture_output=True, text=True, timeout=120, env=env)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "HF_TOKEN" in output and "Traceback" not in output
