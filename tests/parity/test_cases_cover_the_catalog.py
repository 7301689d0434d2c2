"""Every catalog model has an upstream parity case, and the parity images are what upstream code reads."""

import io

import numpy as np
from PIL import Image

from helpers.parity import IMAGES, decoded, load_cases
from medembed_encoder.catalog import load_catalog


def test_every_catalog_model_has_a_parity_case():
    catalog = load_catalog()
    assert set(catalog) <= set(load_cases())
    assert set(load_cases()) <= set(catalog)


def test_the_8_bit_images_decode_to_what_upstream_reads_and_the_16_bit_one_is_min_max_scaled():
    for name, data in IMAGES.items():
        ours = np.asarray(decoded(data))
        theirs = Image.open(io.BytesIO(data))
        if name.startswith("gray16"):
            raw = np.asarray(theirs).astype(np.float64)
            scaled = (raw - raw.min()) / (raw.max() - raw.min()) * 255
            assert np.abs(ours.astype(np.float64) - scaled).max() <= 1.0  # medembed's rule, not a clip at 255
            assert np.asarray(theirs.convert("RGB")).max() == 255  # upstream's convert("RGB") clips
        else:
            assert decoded(data).mode == theirs.mode and np.array_equal(ours, np.asarray(theirs))
