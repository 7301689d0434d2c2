"""A run folder's result files: table.md, results.csv (a row per pair and probe), results.json,
and bias.csv when the run has a bias test."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from medembed_evaluator.baseline import DatasetSummary
from medembed_evaluator.comparison import Comparison, PublishedCell
from medembed_evaluator.pair_result import PairResult, RunExtras, RunInfo
from medembed_evaluator.plan.schema import ModelEntry
from medembed_evaluator.probe import Score
from medembed_evaluator.probe_metrics import METRICS
from medembed_evaluator.publish.context import encoder_versions
from medembed_evaluator.publish.table import render_tables

# Every package of the evaluator that computes a number: the probe (scikit-learn, scipy, numpy), maps and
# trustworthiness (umap-learn, pynndescent, numba), raw pixels and overlays (pillow, medembed-decode).
VERSIONED_PACKAGES = ("numpy", "scipy", "scikit-learn", "umap-learn", "pynndescent", "numba", "pillow",
                      "medembed-decode", "medembed-client", "medembed-evaluator")
CSV_COLUMNS = (
    "model", "label", "group", "random_weights", "dataset", "probe", "probe_description",
    "n", "n_failed", "n_train", "n_test", "folds", "repeats",
    "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "binary_f1_mean", "binary_f1_std",
    "balanced_accuracy_mean", "balanced_accuracy_std", "auroc_mean", "auroc_std",
    "holdout_accuracy", "holdout_macro_f1", "holdout_binary_f1", "holdout_balanced_accuracy", "holdout_auroc",
    "holdout_accuracy_low", "holdout_accuracy_high", "holdout_macro_f1_low", "holdout_macro_f1_high",
    "holdout_binary_f1_low", "holdout_binary_f1_high", "holdout_balanced_accuracy_low",
    "holdout_balanced_accuracy_high", "holdout_auroc_low", "holdout_auroc_high", "bootstrap_resamples",
    "fold_accuracy", "fold_macro_f1", "fold_binary_f1", "fold_balanced_accuracy", "fold_auroc", "convergence_warnings",
    "class_counts", "majority_class", "majority_accuracy_mean", "majority_macro_f1_mean",
    "published_accuracy_pct", "published_macro_f1_pct",
    "content_hash", "weights_digest", "preprocess_digest", "embedding_spec",
    "silhouette_cosine", "davies_bouldin", "knn_accuracy_mean", "knn_accuracy_std", "kmeans_nmi", "kmeans_ari",
    "trustworthiness",
)  # fmt: skip
BIAS_CSV_COLUMNS = (
    "model", "label", "dataset", "condition", "n_images", "shift", "shift_low", "shift_high", "flip_rate",
    "flip_rate_low", "flip_rate_high", "accuracy_clean", "accuracy_overlaid", "accuracy_drop", "accuracy_drop_low",
    "accuracy_drop_high", "word_accuracy", "word_accuracy_std", "word_accuracy_clean", "word_chance",
    "within_class_cosine_distance", "size_frac", "position", "contrast", "neutral_words", "neutral_correlation",
)  # fmt: skip


@dataclass(frozen=True)
class RunFiles:
    """Paths of the files write_run_files wrote; bias_csv is None when no pair ran the bias test."""

    table: Path
    csv: Path
    json: Path
    bias_csv: Path | None = None


def write_run_files(
    run_dir: Path,
    results: Sequence[PairResult],
    dataset_names: Sequence[str],
    run: RunInfo,
    *,
    models: Sequence[ModelEntry] = (),
    extras: RunExtras | None = None,
) -> RunFiles:
    """Write table.md, results.csv, results.json (and bias.csv when a pair ran the bias test) into
    `run_dir`, creating it; `models` orders the table's rows, `extras` adds datasets, comparison
    and failures. Returns their paths.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    extras = extras or RunExtras()
    bias_rows = [row for r in results for row in bias_csv_rows(r)]
    files = RunFiles(run_dir / "table.md", run_dir / "results.csv", run_dir / "results.json",
                     run_dir / "bias.csv" if bias_rows else None)
    files.table.write_text(render_tables(results, dataset_names, models=models, extras=extras), encoding="utf-8")
    summaries = {summary.name: summary for summary in extras.datasets}
    _write_csv(files.csv, CSV_COLUMNS, [csv_row(r, summaries.get(r.dataset), extras.comparison, probe.probe)
                                        for r in results for probe in r.probes])
    if files.bias_csv is not None:
        _write_csv(files.bias_csv, BIAS_CSV_COLUMNS, bias_rows)
    document = {
        "run": run.to_dict(),
        "versions": {"evaluator": package_versions(), "encoders": encoder_versions(results)},
        "datasets": [summary.to_dict() for summary in extras.datasets],
        "comparison": extras.comparison.to_dict() if extras.comparison else None,
        "results": [r.to_dict() for r in results],
        "failures": [failure.to_dict() for failure in extras.failures],
    }
    files.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return files


def _write_csv(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def csv_row(result: PairResult, summary: DatasetSummary | None = None,
            comparison: Comparison | None = None, probe_name: str = "") -> dict[str, Any]:
    """One row of results.csv (CSV_COLUMNS) for a pair and one of its probes (default: its first):
    scores as fractions, folds ';'-joined, holdout intervals as _low/_high, the dataset's baseline,
    and the published values (percent, the study's SVM rows only) where given. Metrics a probe
    lacks (binary F1 of a multi-class pair, an undefined AUROC) are empty.
    """
    probe = result.probe_result(probe_name) if probe_name else result.probe
    if probe is None:
        raise ValueError(f"{result.model_label} on {result.dataset} has no result of probe '{probe_name}'")
    binary = probe.binary_f1
    separability = result.analysis.separability if result.analysis else None
    published = {attribute: comparison.cell(result.model_id, result.dataset, attribute)
                 if comparison and probe.probe == "svm" else None for attribute in ("accuracy", "macro_f1")}
    return {
        "model": result.model_id,
        "label": result.model_label,
        "group": result.group,
        "random_weights": str(result.random_weights).lower(),
        "dataset": result.dataset,
        "probe": probe.probe,
        "probe_description": probe.protocol.describe(probe.probe),
        "n": result.n,
        "n_failed": result.n_failed,
        "n_train": probe.n_train,
        "n_test": probe.n_test,
        "folds": probe.protocol.folds,
        "repeats": probe.protocol.repeats,
        "accuracy_mean": probe.accuracy.mean,
        "accuracy_std": probe.accuracy.std,
        "macro_f1_mean": probe.macro_f1.mean,
        "macro_f1_std": probe.macro_f1.std,
        "binary_f1_mean": binary.mean if binary else "",
        "binary_f1_std": binary.std if binary else "",
        **_means(probe.balanced_accuracy, "balanced_accuracy"),
        **_means(probe.auroc, "auroc"),
        "holdout_accuracy": probe.accuracy.holdout,
        "holdout_macro_f1": probe.macro_f1.holdout,
        "holdout_binary_f1": binary.holdout if binary else "",
        "holdout_balanced_accuracy": probe.balanced_accuracy.holdout if probe.balanced_accuracy else "",
        "holdout_auroc": probe.auroc.holdout if probe.auroc else "",
        **{key: value for metric in METRICS for key, value in _interval(probe.score(metric), metric).items()},
        "bootstrap_resamples": probe.protocol.bootstrap,
        "fold_accuracy": _joined(probe.accuracy),
        "fold_macro_f1": _joined(probe.macro_f1),
        "fold_binary_f1": _joined(binary) if binary else "",
        "fold_balanced_accuracy": _joined(probe.balanced_accuracy) if probe.balanced_accuracy else "",
        "fold_auroc": _joined(probe.auroc) if probe.auroc else "",
        "convergence_warnings": probe.convergence_warnings,
        "class_counts": json.dumps(result.class_counts),
        "majority_class": summary.majority_class if summary else "",
        "majority_accuracy_mean": summary.majority_accuracy.mean if summary else "",
        "majority_macro_f1_mean": summary.majority_macro_f1.mean if summary else "",
        "published_accuracy_pct": _published(published["accuracy"]),
        "published_macro_f1_pct": _published(published["macro_f1"]),
        "content_hash": result.content_hash,
        "weights_digest": result.provenance.weights_digest,
        "preprocess_digest": result.provenance.preprocess_digest,
        "embedding_spec": result.provenance.embedding_spec,
        "silhouette_cosine": separability.silhouette if separability else "",
        "davies_bouldin": separability.davies_bouldin if separability else "",
        "knn_accuracy_mean": separability.knn_mean if separability else "",
        "knn_accuracy_std": separability.knn_std if separability else "",
        "kmeans_nmi": separability.kmeans_nmi if separability else "",
        "kmeans_ari": separability.kmeans_ari if separability else "",
        "trustworthiness": _blank_if_none(separability.trustworthiness) if separability else "",
    }


def bias_csv_rows(result: PairResult) -> list[dict[str, Any]]:
    """The pair's rows of bias.csv (BIAS_CSV_COLUMNS), one per overlay condition; none without a bias test."""
    if result.bias is None:
        return []
    bias, settings = result.bias, result.bias.settings
    return [{
        "model": result.model_id,
        "label": result.model_label,
        "dataset": result.dataset,
        "condition": effect.condition,
        "n_images": bias.n_images,
        "shift": effect.shift,
        **_bounds(effect.intervals, "shift"),
        "flip_rate": effect.flip_rate,
        **_bounds(effect.intervals, "flip_rate"),
        "accuracy_clean": effect.accuracy_clean,
        "accuracy_overlaid": effect.accuracy_overlaid,
        "accuracy_drop": effect.accuracy_drop,
        **_bounds(effect.intervals, "accuracy_drop"),
        "word_accuracy": _blank_if_none(effect.word_accuracy),
        "word_accuracy_std": _blank_if_none(effect.word_accuracy_std),
        "word_accuracy_clean": _blank_if_none(effect.word_accuracy_clean),
        "word_chance": effect.word_chance,
        "within_class_cosine_distance": bias.within_class_distance,
        "size_frac": settings.size_frac,
        "position": ";".join(map(repr, settings.position)),
        "contrast": settings.contrast,
        "neutral_words": ";".join(settings.neutral_words),
        "neutral_correlation": settings.neutral_correlation,
    } for effect in bias.conditions]


def _means(score: Score | None, name: str) -> dict[str, float | str]:
    return {f"{name}_mean": score.mean if score else "", f"{name}_std": score.std if score else ""}


def _interval(score: Score | None, name: str) -> dict[str, float | str]:
    low, high = score.interval if score is not None and score.interval is not None else ("", "")
    return {f"holdout_{name}_low": low, f"holdout_{name}_high": high}


def _blank_if_none(value: float | None) -> float | str:
    return "" if value is None else value


def _bounds(intervals: dict[str, tuple[float, float]], name: str) -> dict[str, float | str]:
    low, high = intervals.get(name, ("", ""))
    return {f"{name}_low": low, f"{name}_high": high}


def _published(cell: PublishedCell | None) -> float | str:
    return "" if cell is None or not cell.comparable else cell.mean


def package_versions() -> dict[str, str | None]:
    """Installed version of each of VERSIONED_PACKAGES (importlib.metadata), None for one not installed."""
    versions: dict[str, str | None] = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _joined(score: Score) -> str:
    return ";".join(repr(value) for value in score.folds)
