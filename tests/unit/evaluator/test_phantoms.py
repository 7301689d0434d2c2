from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from medembed_evaluator.datasets import load_dataset
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.schema import DatasetEntry
from medembed_evaluator.probe import Protocol, run_probe
from medembed_evaluator.raw_pixels import raw_pixel_vector


def _phantoms(**options):
    return load_dataset(DatasetEntry(name="phantoms", kind="phantoms", options=options), data_root="unused")


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = [s.load_bytes() for s in _phantoms(n_per_class=2, size=64).samples]
    again = [s.load_bytes() for s in _phantoms(n_per_class=2, size=64).samples]
    other = [s.load_bytes() for s in _phantoms(n_per_class=2, size=64, seed=1).samples]
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))
    assert len(set(first)) == len(first)  # no two images identical


def test_a_sample_does_not_depend_on_n_per_class() -> None:
    small, large = _phantoms(n_per_class=1, size=48), _phantoms(n_per_class=3, size=48)
    assert small.samples[0].load_bytes() == large.samples[0].load_bytes()
    assert small.samples[0].metadata == large.samples[0].metadata


def test_layout_size_and_overlay_metadata() -> None:
    dataset = _phantoms(n_per_class=2, size=96)
    assert dataset.class_names == ["benign", "malignant", "normal"]
    assert dataset.class_counts() == {"benign": 2, "malignant": 2, "normal": 2}
    assert dataset.samples[3].key == "malignant/0001.png"
    image = Image.open(io.BytesIO(dataset.samples[0].load_bytes()))
    assert (image.size, image.mode) == ((96, 96), "L")
    assert all(s.metadata["overlay_text"] in {"BREAST", "AXILLA", "LT"} for s in dataset.samples)
    assert all(s.metadata == {} for s in _phantoms(n_per_class=2, size=48, overlay=False).samples)


def test_text_correlation_one_burns_in_each_class_word() -> None:
    words = {"benign": "CYST", "malignant": "MASS", "normal": "OK"}
    dataset = _phantoms(n_per_class=5, size=48, text_correlation=1.0, text_strings=words)
    assert [s.metadata["overlay_text"] for s in dataset.samples] == ["CYST"] * 5 + ["MASS"] * 5 + ["OK"] * 5


def test_text_correlation_zero_draws_words_independent_of_class() -> None:
    dataset = _phantoms(n_per_class=60, size=32, text_correlation=0.0)
    texts = [s.metadata["overlay_text"] for s in dataset.samples[:60]]  # all benign
    assert {"BREAST", "AXILLA", "LT"} == set(texts)


def test_overlay_changes_the_pixels_where_the_text_is() -> None:
    with_text = np.asarray(Image.open(io.BytesIO(_phantoms(n_per_class=1, size=128).samples[0].load_bytes())))
    without = np.asarray(
        Image.open(io.BytesIO(_phantoms(n_per_class=1, size=128, overlay=False).samples[0].load_bytes()))
    )
    changed = with_text != without
    assert changed[:32].any()  # text sits near the top
    assert not changed[64:].any()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"text_correlation": 1.5}, "text_correlation"),
        ({"size": 8}, "size"),
        ({"text_strings": {"benign": "X"}}, "text_strings"),
    ],
)
def test_invalid_options_raise(options, message) -> None:
    with pytest.raises(DatasetError, match=message):
        _phantoms(**options)


def test_raw_pixel_probe_scores_well_above_chance() -> None:
    dataset = _phantoms(n_per_class=40, size=224)
    features = np.stack([raw_pixel_vector(s.load_bytes()) for s in dataset.samples])
    result = run_probe(features, dataset.labels(), Protocol(), dataset.class_names)
    assert result.accuracy.mean > 0.7  # chance is 1/3
    assert result.macro_f1.mean > 0.7
