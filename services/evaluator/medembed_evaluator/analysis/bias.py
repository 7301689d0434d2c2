"""The controlled text-overlay bias test, per (model, dataset).

A seeded, stratified subset of the dataset (at most half of it) is embedded clean (the run's stored
features) and with a word burned in under each condition (neutral word, true class name, wrong class
name). Per condition:
- shift: mean cosine distance between an image's clean and overlaid embedding, divided by the mean
  cosine distance between two clean images of the same class. 1 means the text moves an image as
  far as swapping it for another image of its class.
- flip rate and accuracy drop: the protocol's classifier, fit on the clean images outside the subset,
  predicts the subset's images clean and overlaid.
- word decodability: the probe protocol predicting the written word from the overlaid embeddings,
  next to the same labels predicted from the clean embeddings (what the image content explains:
  above chance only when the word correlates with the class).
With a few dozen images these numbers are rough, so each carries a 95 % interval: flip rate and the
two accuracies, proportions of images, Wilson score intervals (scipy's binomtest; unlike a
bootstrap they do not collapse to a point at 0 of 60); shift and the accuracy drop, percentile
bootstrap over the subset's images (BOOTSTRAP_RESAMPLES resamples, seeded); word decodability the
std over the probe's folds.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest
from sklearn.exceptions import ConvergenceWarning

from medembed_evaluator.analysis.figures import FigureFile, draw_image_strip, figure_path
from medembed_evaluator.analysis.overlay_conditions import (
    OverlayCondition,
    decoded_for_drawing,
    overlaid_dataset,
    overlay_conditions,
    overlay_png,
)
from medembed_evaluator.analysis.sampling import stratified_subset
from medembed_evaluator.analysis.separability import unit_rows
from medembed_evaluator.datasets import Dataset
from medembed_evaluator.errors import DecodeError, ProtocolError
from medembed_evaluator.features import DatasetEmbedder
from medembed_evaluator.plan.schema import BiasSettings
from medembed_evaluator.probe import run_probe, validate_for_protocol
from medembed_evaluator.probe_protocol import Protocol
from medembed_evaluator.progress import stage_bar, step

log = logging.getLogger(__name__)
BOOTSTRAP_RESAMPLES = 2000
INTERVAL_LEVEL = 0.95
Interval = tuple[float, float]


@dataclass(frozen=True)
class ConditionEffect:
    """What one overlay condition did to one (model, dataset) pair's embeddings; scores are fractions in [0, 1]."""

    condition: str
    description: str
    shift: float
    """Mean clean-to-overlaid cosine distance over the mean within-class cosine distance."""
    flip_rate: float
    accuracy_clean: float
    accuracy_overlaid: float
    word_accuracy: float | None
    """None when some word is too rare for the protocol's splits."""
    word_accuracy_clean: float | None
    word_chance: float
    """Share of the most frequent word: what always guessing it scores."""
    intervals: dict[str, Interval] = field(default_factory=dict)
    """95 % intervals: Wilson for flip_rate, accuracy_clean and accuracy_overlaid; bootstrap over
    the subset's images for shift and accuracy_drop."""
    word_accuracy_std: float | None = None
    """Std of the word probe's accuracy over its folds."""

    @property
    def accuracy_drop(self) -> float:
        """accuracy_clean - accuracy_overlaid: what the overlaid text costs the clean-trained classifier."""
        return self.accuracy_clean - self.accuracy_overlaid

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with accuracy_drop and the intervals as [low, high] lists."""
        return {**asdict(self), "accuracy_drop": self.accuracy_drop,
                "intervals": {name: list(bounds) for name, bounds in self.intervals.items()}}


@dataclass(frozen=True)
class OverlayBias:
    """The bias test's result on one (model, dataset) pair: every condition's effect on the same subset."""

    n_images: int
    """Subset images that every condition embedded without error."""
    settings: BiasSettings
    within_class_distance: float
    example: FigureFile
    """One image of the subset, clean and under every condition."""
    conditions: list[ConditionEffect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (results.json "bias"), the test's settings included."""
        return {
            "n_images": self.n_images,
            "settings": asdict(self.settings),
            "within_class_cosine_distance": self.within_class_distance,
            "example_figure": {"path": self.example.path, "caption": self.example.caption},
            "conditions": [c.to_dict() for c in self.conditions],
            "notes": self.notes,
        }


def run_overlay_bias(
    dataset: Dataset,
    clean_vectors: np.ndarray,
    usable: np.ndarray,
    settings: BiasSettings,
    protocol: Protocol,
    seed: int,
    embed: DatasetEmbedder,
    run_dir: Path,
) -> OverlayBias | None:
    """`clean_vectors`: the run's vectors for every sample; `usable`: rows that embedded without error.

    Returns None (after logging why) when the evaluator cannot decode the images to draw on them.
    """
    labels = dataset.labels()
    candidates = np.flatnonzero(usable)
    # at most half, so that the classifier the subset is tested on has as many images to learn from
    in_subset = np.zeros(len(candidates), dtype=bool)
    in_subset[stratified_subset(labels[candidates], min(settings.max_images, len(candidates) // 2), seed)] = True
    subset, training = candidates[in_subset], candidates[~in_subset]
    try:
        conditions = overlay_conditions(labels[subset], dataset.class_names, settings, seed)
        overlaid = {c.name: embed(overlaid_dataset(dataset, subset, c, settings)) for c in conditions}
        example = draw_overlay_example(dataset, int(subset[0]), conditions, settings, run_dir)
    except DecodeError as error:
        log.warning("bias test skipped on %s: %s", dataset.name, error)
        return None
    bar = stage_bar(f"bias test on {dataset.name}", 1 + len(conditions))
    step(bar, "probe on clean images")
    ok = np.ones(len(subset), dtype=bool)
    for features in overlaid.values():
        ok &= features.usable
    notes = [] if ok.all() else [f"{int((~ok).sum())} overlaid image(s) failed to embed and are left out"]
    clean = clean_vectors[subset[ok]]
    kept_labels = labels[subset[ok]]
    within = mean_within_class_distance(clean, kept_labels)
    by_condition = {name: features.vectors[ok] for name, features in overlaid.items()}
    predictions = clean_probe_predictions(clean_vectors[training], labels[training], clean, by_condition,
                                          protocol, seed)
    bar.update()
    effects = []
    with bar:
        for condition in conditions:
            step(bar, f"condition {condition.name}")
            effects.append(_effect(condition, clean, by_condition[condition.name], kept_labels, predictions, within,
                                   protocol, [word for word, keep in zip(condition.words, ok, strict=True) if keep],
                                   notes))
            bar.update()
    return OverlayBias(int(ok.sum()), settings, within, example, effects, notes)


def draw_overlay_example(dataset: Dataset, row: int, conditions: list[OverlayCondition], settings: BiasSettings,
                         run_dir: Path) -> FigureFile:
    """The subset's first image (`row` of the dataset), clean and as each condition overlays it."""
    sample = dataset.samples[row]
    panels = [("clean", decoded_for_drawing(sample.load_bytes(), sample.key))]
    panels += [(f"{c.name}: {c.words[0]}",
                decoded_for_drawing(overlay_png(sample.load_bytes, sample.key, c.words[0], settings), sample.key))
               for c in conditions]
    relative = figure_path(dataset.name, "overlay-examples")
    draw_image_strip(run_dir / relative, panels, f"Text overlays on {dataset.name} ({sample.key})")
    caption = (f"The bias test's overlays on one image of {dataset.name}: clean, then each condition's word at "
               f"{settings.size_frac:g} of the image height, top-left corner at ({settings.position[0]:g}, "
               f"{settings.position[1]:g}) of (width, height), contrast {settings.contrast:g}.")
    return FigureFile(relative, caption)


def mean_within_class_distance(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine distance (1 - cosine similarity) over all pairs of rows of `vectors` [n, dim] with
    the same label; classes with one row are skipped. The bias test's unit of shift.
    """
    unit = unit_rows(vectors)
    distances = []
    for label in np.unique(labels):
        members = unit[labels == label]
        if len(members) < 2:
            continue
        similarity = members @ members.T
        upper = np.triu_indices(len(members), k=1)
        distances.append(1.0 - similarity[upper])
    return float(np.mean(np.concatenate(distances)))


def cosine_shift(clean: np.ndarray, overlaid: np.ndarray) -> np.ndarray:
    """Per row: cosine distance between the clean and the overlaid embedding of one image."""
    return 1.0 - np.sum(unit_rows(clean) * unit_rows(overlaid), axis=1)


@dataclass(frozen=True)
class Predictions:
    """The clean-trained classifier's predictions for the subset, clean and per condition."""

    clean: np.ndarray
    overlaid: dict[str, np.ndarray]


def clean_probe_predictions(train_vectors: np.ndarray, train_labels: np.ndarray, clean: np.ndarray,
                            overlaid: dict[str, np.ndarray], protocol: Protocol, seed: int) -> Predictions:
    """The protocol's classifier fit on `train_vectors` [n, dim] / `train_labels` [n] (C from n, seeded
    with `seed`), predicting the clean subset [m, dim] and each condition's overlaid subset [m, dim].
    """
    with warnings.catch_warnings():
        # the main probe already counts convergence on these features; here it would only be noise
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = protocol.classifier(len(train_labels), seed).fit(train_vectors, train_labels)
    return Predictions(model.predict(clean), {name: model.predict(vectors) for name, vectors in overlaid.items()})


def word_decodability(vectors: np.ndarray, words: list[str], protocol: Protocol) -> tuple[float, float] | None:
    """Mean and std over folds of the probe protocol's accuracy predicting the word; None if a word is too rare."""
    names = sorted(set(words))
    codes = np.array([names.index(word) for word in words])
    try:
        validate_for_protocol(codes, names, protocol)
    except ProtocolError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        accuracy = run_probe(vectors, codes, protocol, names).accuracy
    return accuracy.mean, accuracy.std


def wilson_interval(hits: np.ndarray) -> Interval:
    """95 % Wilson score interval of the share of True in `hits` (Wilson 1927, via scipy)."""
    interval = binomtest(int(np.sum(hits)), len(hits)).proportion_ci(INTERVAL_LEVEL, method="wilson")
    return float(interval.low), float(interval.high)


def bootstrap_intervals(per_image: dict[str, np.ndarray], seed: int) -> dict[str, Interval]:
    """Percentile-bootstrap interval of the mean of each per-image array, all from the same resamples."""
    count = len(next(iter(per_image.values())))
    rows = np.random.default_rng(seed).integers(0, count, size=(BOOTSTRAP_RESAMPLES, count))
    tail = 100 * (1 - INTERVAL_LEVEL) / 2
    intervals = {}
    for name, values in per_image.items():
        low, high = np.percentile(values[rows].mean(axis=1), [tail, 100 - tail])
        intervals[name] = (float(low), float(high))
    return intervals


def _effect(condition: OverlayCondition, clean: np.ndarray, overlaid: np.ndarray, labels: np.ndarray,
            predictions: Predictions, within: float, protocol: Protocol, words: list[str],
            notes: list[str]) -> ConditionEffect:
    predicted = predictions.overlaid[condition.name]
    word = word_decodability(overlaid, words, protocol)
    if word is None:
        notes.append(f"{condition.name}: word decodability not measured (a word has too few images for "
                     f"{protocol.folds} folds)")
    word_clean = None if word is None else word_decodability(clean, words, protocol)
    counts = np.unique(words, return_counts=True)[1]
    correct_clean, correct_overlaid = predictions.clean == labels, predicted == labels
    flipped = predicted != predictions.clean
    per_image = {
        "shift": cosine_shift(clean, overlaid) / within if within > 0 else np.full(len(labels), np.nan),
        "accuracy_drop": correct_clean.astype(float) - correct_overlaid.astype(float),
    }
    intervals = {**bootstrap_intervals(per_image, protocol.seed), "flip_rate": wilson_interval(flipped),
                 "accuracy_clean": wilson_interval(correct_clean),
                 "accuracy_overlaid": wilson_interval(correct_overlaid)}
    return ConditionEffect(
        condition=condition.name,
        description=condition.description,
        shift=float(np.mean(per_image["shift"])),
        flip_rate=float(np.mean(flipped)),
        accuracy_clean=float(np.mean(correct_clean)),
        accuracy_overlaid=float(np.mean(correct_overlaid)),
        word_accuracy=None if word is None else word[0],
        word_accuracy_clean=None if word_clean is None else word_clean[0],
        word_chance=float(counts.max() / counts.sum()),
        intervals=intervals,
        word_accuracy_std=None if word is None else word[1],
    )
