import pytest
import torch

from helpers.servers import TEST_CATALOG
from medembed_encoder.catalog import CatalogEntry, WeightsSource, load_catalog
from medembed_encoder.families import ModelLoadError, load_encoder

CPU = torch.device("cpu")


def test_random_weights_are_reproducible_and_digested():
    entry = load_catalog(TEST_CATALOG)["tiny-clip"]
    first = load_encoder(entry, CPU, allow_random_weights=True)
    second = load_encoder(entry, CPU, allow_random_weights=True)
    assert first.weights_digest == second.weights_digest
    other_seed = CatalogEntry(**{**entry.__dict__, "weights": WeightsSource("random", seed=1)})
    assert load_encoder(other_seed, CPU, allow_random_weights=True).weights_digest != first.weights_digest


def test_random_weights_need_permission_and_missing_checkpoints_are_clear(tmp_path):
    entry = load_catalog(TEST_CATALOG)["tiny-timm"]
    with pytest.raises(ModelLoadError, match="--allow-random-weights"):
        load_encoder(entry, CPU, allow_random_weights=False)
    local = CatalogEntry(**{**entry.__dict__, "weights": WeightsSource("local", str(tmp_path / "missing.pth"))})
    with pytest.raises(ModelLoadError, match="not found"):
        load_encoder(local, CPU, allow_random_weights=False)


def test_timm_local_checkpoint_round_trip(tmp_path):
    source = load_encoder(load_catalog(TEST_CATALOG)["tiny-timm"], CPU, allow_random_weights=True)
    path = tmp_path / "tiny.pth"
    torch.save(source.module.state_dict(), path)
    entry = CatalogEntry(**{**source.entry.__dict__, "weights": WeightsSource("local", str(path))})
    loaded = load_encoder(entry, CPU, allow_random_weights=False)
    assert loaded.weights_digest == source.weights_digest
    batch = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.specs["default"](batch), source.specs["default"](batch))
