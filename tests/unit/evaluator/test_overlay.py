from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medembed_evaluator.overlay import render_text


def test_text_is_drawn_at_the_position_with_the_contrast() -> None:
    image = Image.new("L", (200, 100), 50)
    out = np.asarray(render_text(image, "LT", size_frac=0.2, position=(0.5, 0.5), contrast=1.0))
    assert out.max() == 255
    rows, cols = np.nonzero(out != 50)
    assert rows.min() >= 45 and cols.min() >= 95  # nothing above/left of the anchor (100, 50)
    assert np.asarray(image).max() == 50  # the input is left untouched


def test_zero_contrast_leaves_the_image_unchanged_and_half_contrast_blends() -> None:
    image = Image.new("RGB", (64, 64), (0, 0, 0))
    assert np.array_equal(np.asarray(render_text(image, "BREAST", contrast=0.0)), np.asarray(image))
    half = np.asarray(render_text(image, "BREAST", size_frac=0.3, contrast=0.5))
    assert 120 <= half.max() <= 130


def test_larger_size_frac_covers_more_pixels() -> None:
    image = Image.new("L", (128, 128), 0)
    small = np.count_nonzero(np.asarray(render_text(image, "AXILLA", size_frac=0.05, position=(0, 0))))
    large = np.count_nonzero(np.asarray(render_text(image, "AXILLA", size_frac=0.12, position=(0, 0))))
    assert large > 2 * small > 0


@pytest.mark.parametrize(("kwargs", "message"), [({"contrast": 1.2}, "contrast"), ({"size_frac": 0.0}, "size_frac")])
def test_invalid_arguments_raise(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        render_text(Image.new("L", (32, 32)), "x", **kwargs)
