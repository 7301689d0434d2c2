"""The bias test's overlay conditions: which word each image gets, and the overlaid images.

An overlaid image is a derived dataset sample: its bytes are the source image as the encoder decodes
it (medembed_decode: 8-bit gray or RGB, DICOM windowed, 16-bit scaled) with the word burned in,
re-encoded as PNG (lossless, so the text is the only change). Its content differs from the source,
so the feature store keeps its vectors apart and a rerun reuses them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from PIL import Image

import medembed_decode
from medembed_evaluator.datasets import Dataset
from medembed_evaluator.errors import DecodeError
from medembed_evaluator.overlay import render_text
from medembed_evaluator.plan.schema import BiasSettings


@dataclass(frozen=True)
class OverlayCondition:
    """One condition of the bias test: its name, how its words are chosen, and the word per subset image."""

    name: str
    description: str
    words: list[str]
    """The word burned into each image of the subset, in subset order."""


def overlay_conditions(labels: np.ndarray, class_names: list[str], settings: BiasSettings,
                       seed: int) -> list[OverlayCondition]:
    """neutral (words unrelated to the classes), true-class (the image's own class name) and
    wrong-class (another class's name, drawn per image)."""
    rng = np.random.default_rng(seed)
    neutral_words = list(settings.neutral_words)
    neutral = []
    for label in labels:
        own = rng.random() < settings.neutral_correlation
        neutral.append(neutral_words[label % len(neutral_words)] if own else str(rng.choice(neutral_words)))
    offsets = rng.integers(1, len(class_names), size=len(labels))
    wrong = [class_names[(label + offset) % len(class_names)] for label, offset in zip(labels, offsets, strict=True)]
    neutral_description = f"one of {', '.join(neutral_words)} (class correlation {settings.neutral_correlation:g})"
    return [
        OverlayCondition("neutral", neutral_description, neutral),
        OverlayCondition("true-class", "the image's own class name", [class_names[label] for label in labels]),
        OverlayCondition("wrong-class", "another class's name", wrong),
    ]


def overlaid_dataset(dataset: Dataset, rows: np.ndarray, condition: OverlayCondition,
                     settings: BiasSettings) -> Dataset:
    """The subset `rows` of `dataset` with each image's word of `condition` burned in (lazily, on
    load_bytes); named DATASET+CONDITION, metadata `bias_overlay` = the word.
    """
    samples = []
    for row, word in zip(rows, condition.words, strict=True):
        sample = dataset.samples[row]
        load = partial(overlay_png, sample.load_bytes, sample.key, word, settings)
        samples.append(replace(sample, metadata={**sample.metadata, "bias_overlay": word}, load_bytes=load))
    return Dataset(f"{dataset.name}+{condition.name}", list(dataset.class_names), samples)


def overlay_png(load_source: Callable[[], bytes], key: str, word: str, settings: BiasSettings) -> bytes:
    """The image from `load_source()` with `word` drawn as `settings` say (size, position, contrast), as
    uncompressed PNG bytes; raises DecodeError (naming `key`) when the evaluator cannot decode it.
    """
    image = decoded_for_drawing(load_source(), key)
    x, y = settings.position
    overlaid = render_text(image, word, size_frac=settings.size_frac, position=(x, y), contrast=settings.contrast)
    buffer = io.BytesIO()
    # compress_level=0 keeps the bytes (and so the feature-store key) independent of the zlib build.
    overlaid.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def decoded_for_drawing(data: bytes, key: str) -> Image.Image:
    """The image as the encoder decodes it (mode L or RGB): what the text is drawn into."""
    try:
        return medembed_decode.decode_image(data, medembed_decode.DEFAULT_LIMITS)
    except medembed_decode.DecodeError as error:
        raise DecodeError(f"cannot burn text into {key}: {error}") from None
