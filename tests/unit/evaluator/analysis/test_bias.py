"""The bias test's parts: word assignment, overlaid images, and each metric on hand-checkable cases."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from helpers.images import png_bytes
from medembed_decode import DEFAULT_LIMITS, decode_image
from medembed_evaluator.analysis.bias import (
    bootstrap_intervals,
    clean_probe_predictions,
    cosine_shift,
    mean_within_class_distance,
    run_overlay_bias,
    wilson_interval,
    word_decodability,
)
from medembed_evaluator.analysis.overlay_conditions import overlaid_dataset, overlay_conditions, overlay_png
from medembed_evaluator.datasets.phantoms import PhantomOptions, load_phantoms
from medembed_evaluator.errors import DecodeError
from medembed_evaluator.feature_store import DatasetFeatures
from medembed_evaluator.features import raw_pixels_embedder
from medembed_evaluator.plan.schema import BiasSettings
from medembed_evaluator.probe import Protocol

CLASSES = ["benign", "malignant", "normal"]
LABELS = np.repeat([0, 1, 2], 30)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_cosine_shift_is_zero_for_the_same_vector_and_one_for_an_orthogonal_one() -> None:
    clean = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert cosine_shift(clean, clean * 3) == pytest.approx([0.0, 0.0])
    assert cosine_shift(clean, np.array([[0.0, 5.0], [-1.0, 0.0]])) == pytest.approx([1.0, 2.0])


def test_within_class_distance_averages_every_same_class_pair() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # class 0: one pair at distance 0; class 1: one pair at distance 1 -> (0 + 1) / 2
    assert mean_within_class_distance(vectors, np.array([0, 0, 1, 1])) == pytest.approx(0.5)


def test_conditions_write_the_promised_words() -> None:
    neutral, true_class, wrong_class = overlay_conditions(LABELS, CLASSES, BiasSettings(), seed=0)
    assert true_class.words == [CLASSES[label] for label in LABELS]
    assert all(word in CLASSES and word != CLASSES[label] for word, label in zip(wrong_class.words, LABELS,
                                                                                  strict=True))
    assert len(set(wrong_class.words[:30])) == 2  # both wrong names occur for one class
    for label in range(3):  # correlation 0: every class sees every neutral word
        assert {w for w, lab in zip(neutral.words, LABELS, strict=True) if lab == label} == {"GAIN", "SCAN", "DEPTH"}


def test_perfect_neutral_correlation_makes_the_word_a_function_of_the_class() -> None:
    neutral = overlay_conditions(LABELS, CLASSES, BiasSettings(neutral_correlation=1.0), seed=0)[0]
    assert neutral.words == [("GAIN", "SCAN", "DEPTH")[label] for label in LABELS]


def test_overlay_changes_only_the_text_area_and_draws_on_the_decoded_image() -> None:
    source = Image.new("L", (100, 100), 40)
    settings = BiasSettings(size_frac=0.1, position=(0.1, 0.8), contrast=1.0)
    with Image.open(io.BytesIO(overlay_png(lambda: png(source), "k", "SCAN", settings))) as image:
        pixels = np.asarray(image)
    changed_rows, _ = np.nonzero(pixels != 40)
    assert pixels.max() > 200 and changed_rows.min() >= 78 and changed_rows.max() < 100
    deep = np.tile(np.arange(64, dtype=np.uint16) * 64 + 1000, (64, 1))  # 16-bit: drawn on its min-max 8-bit image
    with Image.open(io.BytesIO(overlay_png(lambda: png_bytes(deep), "k", "SCAN", settings))) as image:
        overlaid = np.asarray(image)
    untouched = overlaid[:40]
    assert image.mode == "L"
    np.testing.assert_array_equal(untouched, np.asarray(decode_image(png_bytes(deep), DEFAULT_LIMITS))[:40])
    with pytest.raises(DecodeError, match="k"):
        overlay_png(lambda: b"not an image", "k", "SCAN", settings)


def test_overlaid_dataset_keeps_labels_and_keys_and_changes_the_content_hash() -> None:
    dataset = load_phantoms(PhantomOptions(n_per_class=4, size=48, overlay=False))
    rows = np.array([0, 5, 9])
    condition = overlay_conditions(dataset.labels()[rows], dataset.class_names, BiasSettings(), seed=0)[1]
    overlaid = overlaid_dataset(dataset, rows, condition, BiasSettings())
    assert [s.key for s in overlaid.samples] == [dataset.samples[r].key for r in rows]
    assert list(overlaid.labels()) == list(dataset.labels()[rows])
    assert [s.metadata["bias_overlay"] for s in overlaid.samples] == ["benign", "malignant", "normal"]
    assert overlaid.name == "phantoms+true-class" and overlaid.content_hash() != dataset.content_hash()


def test_unchanged_embeddings_flip_nothing_and_noise_flips_many() -> None:
    rng = np.random.default_rng(0)
    vectors = np.eye(4)[LABELS] + 0.5 * rng.standard_normal((90, 4))
    train, test = np.arange(90) % 3 != 0, np.arange(90) % 3 == 0
    clean = vectors[test]
    predictions = clean_probe_predictions(vectors[train], LABELS[train], clean,
                                          {"same": clean.copy(), "noise": rng.standard_normal((30, 4))}, Protocol(), 0)
    assert np.array_equal(predictions.overlaid["same"], predictions.clean)
    assert np.mean(predictions.clean == LABELS[test]) > 0.8
    assert np.mean(predictions.overlaid["noise"] != predictions.clean) > 0.4


def test_word_decodability_is_high_when_the_embedding_encodes_the_word_and_none_when_a_word_is_rare() -> None:
    rng = np.random.default_rng(0)
    words = [("GAIN", "SCAN")[i % 2] for i in range(60)]
    codes = np.array([i % 2 for i in range(60)])
    encoded = np.eye(2)[codes] + 0.1 * rng.standard_normal((60, 2))
    assert word_decodability(encoded, words, Protocol()) == pytest.approx((1.0, 0.0))
    assert word_decodability(rng.standard_normal((60, 2)), words, Protocol())[0] < 0.75
    assert word_decodability(encoded, ["GAIN"] * 58 + ["SCAN"] * 2, Protocol()) is None


def test_raw_pixels_bias_run_on_phantoms(tmp_path) -> None:
    dataset = load_phantoms(PhantomOptions(n_per_class=20, size=64, overlay=False))
    clean = raw_pixels_embedder([s.load_bytes() for s in dataset.samples], {}).vectors
    embedded = []

    def embed(overlaid):
        embedded.append((overlaid.name, {s.key for s in overlaid.samples}))
        return DatasetFeatures(raw_pixels_embedder([s.load_bytes() for s in overlaid.samples], {}).vectors, {}, 0)

    usable = np.ones(60, dtype=bool)
    usable[0] = False  # failed clean: never overlaid
    settings = BiasSettings(max_images=45, size_frac=0.25, contrast=1.0, position=(0.05, 0.6))
    bias = run_overlay_bias(dataset, clean, usable, settings, Protocol(folds=3), 0, embed, tmp_path)
    assert [name for name, _ in embedded] == ["phantoms+neutral", "phantoms+true-class", "phantoms+wrong-class"]
    assert all(len(keys) == 29 and dataset.samples[0].key not in keys for _, keys in embedded)  # half of 59
    assert bias.n_images == 29 and [c.condition for c in bias.conditions] == ["neutral", "true-class", "wrong-class"]
    neutral = bias.conditions[0]
    assert neutral.word_accuracy > 0.9 > neutral.word_accuracy_clean  # big text is in the pixels, not the class
    assert neutral.shift > 0.1 and neutral.flip_rate > 0
    for name, value in (("shift", neutral.shift), ("flip_rate", neutral.flip_rate),
                        ("accuracy_clean", neutral.accuracy_clean), ("accuracy_drop", neutral.accuracy_drop)):
        low, high = neutral.intervals[name]
        assert low <= value <= high and high - low < 1.0, (name, low, value, high)
    assert neutral.word_accuracy_std is not None and neutral.word_accuracy_std >= 0
    with Image.open(tmp_path / bias.example.path) as image:
        assert image.width > 3 * image.height  # clean + three conditions side by side


def test_bootstrap_intervals_cover_the_mean_and_match_the_binomial_width() -> None:
    flips = np.array([1.0] * 12 + [0.0] * 48)  # 20 % of 60 images
    low, high = bootstrap_intervals({"flip_rate": flips}, seed=0)["flip_rate"]
    half_width = 1.96 * np.sqrt(0.2 * 0.8 / 60)  # normal approximation of a binomial proportion
    assert low < 0.2 < high
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)
    assert bootstrap_intervals({"flip_rate": flips}, seed=0) == bootstrap_intervals({"flip_rate": flips}, seed=0)
    assert bootstrap_intervals({"same": np.full(30, 0.4)}, seed=1)["same"] == pytest.approx((0.4, 0.4))


def test_proportions_get_wilson_intervals_that_stay_open_at_zero() -> None:
    # Wilson (1927): 0 of 60 -> [0, z^2/n / (1 + z^2/n)] = [0, 0.0602]; 12 of 60 -> [0.118, 0.318]
    assert wilson_interval(np.zeros(60, dtype=bool)) == pytest.approx((0.0, 0.0602), abs=1e-4)
    assert wilson_interval(np.array([True] * 12 + [False] * 48)) == pytest.approx((0.1183, 0.3178), abs=1e-4)
