"""`efficientnet-lite0-random` is `efficientnet-lite0-imagenet` less its pretraining: the same
architecture and preprocessing, seeded random weights, flagged as random."""

from __future__ import annotations

import torch

from medembed_encoder.catalog import load_catalog

from .support import images, load

CATALOG = load_catalog()


def test_the_random_control_differs_from_the_imagenet_entry_only_in_its_weights():
    real, control = CATALOG["efficientnet-lite0-imagenet"], CATALOG["efficientnet-lite0-random"]
    assert (control.family, control.architecture, control.options, control.input_size, control.dim) == (
        real.family, real.architecture, real.options, real.input_size, real.dim)
    imagenet, random_init = load(real), load(control)
    assert random_init.preprocess_digest == imagenet.preprocess_digest
    real_state, random_state = imagenet.module.state_dict(), random_init.module.state_dict()
    assert {k: v.shape for k, v in random_state.items()} == {k: v.shape for k, v in real_state.items()}
    assert random_init.weights_digest != imagenet.weights_digest
    assert (random_init.random_weights, imagenet.random_weights) == (True, False)


def test_the_random_control_is_the_same_network_every_time():
    first, second = load(CATALOG["efficientnet-lite0-random"]), load(CATALOG["efficientnet-lite0-random"])
    assert first.weights_digest == second.weights_digest
    batch = images(2, 224)
    with torch.inference_mode():
        torch.testing.assert_close(first.specs["default"](batch), second.specs["default"](batch))
