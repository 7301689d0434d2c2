"""A run folder's result files: table.md, results.csv, results.json."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from medembed_evaluator.pair_result import PairResult, RunInfo
from medembed_evaluator.plan import ModelSpec
from medembed_evaluator.probe import Score
from medembed_evaluator.publish.table import render_table

VERSIONED_PACKAGES = ("numpy", "scikit-learn", "medembed-client", "medembed-evaluator")
CSV_COLUMNS = (
    "model", "label", "group", "dataset", "n", "n_failed", "n_train", "n_test", "folds", "repeats",
    "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "binary_f1_mean", "binary_f1_std",
    "holdout_accuracy", "holdout_macro_f1", "holdout_binary_f1",
    "fold_accuracy", "fold_macro_f1", "fold_binary_f1", "convergence_warnings",
    "class_counts", "content_hash", "weights_digest", "preprocess_digest", "embedding_spec",
)  # fmt: skip


@dataclass(frozen=True)
class RunFiles:
    table: Path
    csv: Path
    json: Path


def write_run_files(
    run_dir: Path,
    results: Sequence[PairResult],
    dataset_names: Sequence[str],
    run: RunInfo,
    *,
    models: Sequence[ModelSpec] = (),
) -> RunFiles:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    files = RunFiles(run_dir / "table.md", run_dir / "results.csv", run_dir / "results.json")
    files.table.write_text(render_table(results, dataset_names, models=models), encoding="utf-8")
    with files.csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(r) for r in results)
    document = {"run": run.to_dict(), "versions": package_versions(), "results": [r.to_dict() for r in results]}
    files.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return files


def csv_row(result: PairResult) -> dict[str, Any]:
    probe = result.probe
    binary = probe.binary_f1
    return {
        "model": result.model_id,
        "label": result.model_label,
        "group": result.group,
        "dataset": result.dataset,
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
        "holdout_accuracy": probe.accuracy.holdout,
        "holdout_macro_f1": probe.macro_f1.holdout,
        "holdout_binary_f1": binary.holdout if binary else "",
        "fold_accuracy": _joined(probe.accuracy),
        "fold_macro_f1": _joined(probe.macro_f1),
        "fold_binary_f1": _joined(binary) if binary else "",
        "convergence_warnings": probe.convergence_warnings,
        "class_counts": json.dumps(result.class_counts),
        "content_hash": result.content_hash,
        "weights_digest": result.provenance.get("weights_digest", ""),
        "preprocess_digest": result.provenance.get("preprocess_digest", ""),
        "embedding_spec": result.provenance.get("embedding_spec", ""),
    }


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _joined(score: Score) -> str:
    return ";".join(repr(value) for value in score.folds)
