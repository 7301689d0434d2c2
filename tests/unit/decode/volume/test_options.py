"""SliceOptions: strict parsing, canonical identity (part of the vector identity), presets."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.volumes import linear, nifti_bytes
from medembed_decode import DEFAULT_LIMITS
from medembed_decode.volume import PRESETS, SliceOptions, decode_slices


def test_default_options_have_no_identity_so_existing_keys_stay() -> None:
    assert SliceOptions.parse().is_default() and SliceOptions.parse().identity() == ""
    assert SliceOptions.parse(" ", "", "") == SliceOptions()


def test_identity_is_canonical_and_every_field_counts() -> None:
    a = SliceOptions.parse(" Every:02 ", "AXIAL", " Lung ")
    assert a.identity() == "slices=every:2 axis=axial window=lung"
    assert SliceOptions.parse(window="-600.0/1500").identity() == "slices=default axis=default window=-600/1500"
    assert SliceOptions.parse(window="brain, subdural, bone").window == "brain,subdural,bone"
    identities = {SliceOptions.parse(rule, axis, window).identity()
                  for rule in ("", "middle", "index:0", "index:1", "every:2", "all", "mean")
                  for axis in ("", "axial", "coronal", "sagittal")
                  for window in ("", "lung", "40/400", "brain,subdural,bone")}
    assert len(identities) == 7 * 4 * 4  # no two option sets share an identity (nor a cache entry)


def test_pooled_is_the_mean_rule_only() -> None:
    assert SliceOptions.parse("mean").pooled and not SliceOptions.parse("all").pooled


@pytest.mark.parametrize(("field", "value", "message"), [
    ("rule", "first", "slice rule 'first' is not one of: middle, index:N, every:K, all, mean"),
    ("rule", "every:0", "every:K needs K >= 1"),
    ("rule", "index:-1", "is not one of"),
    ("axis", "transverse", "axis 'transverse' is not one of: axial, coronal, sagittal"),
    ("window", "lungs", "window 'lungs' (in 'lungs') is not a preset (brain, subdural, stroke, lung"),
    ("window", "40/0", "the width >= 1"),
    ("window", "brain,bone", "give one window or three"),
])
def test_bad_values_name_the_field_and_what_is_accepted(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        SliceOptions.parse(**{field: value})
    assert message in str(caught.value)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_maps_its_window_edges_to_black_and_white(name: str) -> None:
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR: a value at C - W/2 is black, at C + W/2 white, the centre
    mid-grey ((0.5 / (W - 1) + 0.5) * 255, ~128 for wide windows)."""
    preset = PRESETS[name]
    center, width = preset.center, preset.width
    assert preset.source.startswith("Radiopaedia")
    values = np.zeros((16, 16, 1), np.float32)
    values[0, 0, 0], values[1, 0, 0], values[2, 0, 0] = center - width / 2, center + width / 2, center
    values[3, 0, 0], values[4, 0, 0] = center - width, center + width
    shown = decode_slices(nifti_bytes(values, np.eye(4)), SliceOptions.parse(window=name), DEFAULT_LIMITS)
    pixels = shown.images[0].pixels[::-1, ::-1].T  # back to array order (the display is radiological)
    assert pixels[0, 0] == 0 and pixels[1, 0] == 255 and pixels[3, 0] == 0 and pixels[4, 0] == 255
    assert pixels[2, 0] == round((0.5 / (width - 1) + 0.5) * 255) and abs(int(pixels[2, 0]) - 128) <= 4
    np.testing.assert_array_equal(pixels, linear(values[:, :, 0].astype(np.float64), center, width))


def test_the_presets_hold_the_published_values() -> None:
    """Radiopaedia "Windowing (CT)" (W, L): brain 80/40, subdural 130-300/50-100, stroke 40/40,
    lungs 1500/-600, mediastinum 350/50, abdomen soft tissue 400/50, liver 150/30, temporal bone 2800/600."""
    table = {name: (preset.center, preset.width) for name, preset in PRESETS.items()}
    assert table == {"brain": (40, 80), "subdural": (80, 200), "stroke": (40, 40), "lung": (-600, 1500),
                     "mediastinum": (50, 350), "abdomen": (50, 400), "liver": (30, 150), "bone": (600, 2800)}
