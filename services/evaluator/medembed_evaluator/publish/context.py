"""What a reader needs beside the benchmark numbers: each dataset's size, classes and majority
baseline, which rows carry random weights, the published values with their caveats, and the
versions of every package that computed a number."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from medembed_evaluator.baseline import DatasetSummary
from medembed_evaluator.comparison import CAVEATS, Comparison, PublishedCell
from medembed_evaluator.pair_result import PairResult
from medembed_evaluator.probe import Score
from medembed_evaluator.publish.formats import format_score, percent
from medembed_evaluator.publish.tabular import Cell, Table

DATASETS_NOTE = (
    "n: images in the dataset (a pair's own n, less items that failed to embed, is in results.csv). Majority "
    "baseline: always answering the dataset's most frequent class, scored on the probe's folds (mean±std): a "
    "probe must beat it to have learned anything."
)
RANDOM_WEIGHTS_NOTE = ("Random weights: {models} served without pretrained weights (random init): such a row "
                       "measures an untrained network, a control, not the model.")


def datasets_table(summaries: Sequence[DatasetSummary]) -> Table:
    """The datasets table of table.md and the report: n, classes, images per class and the majority-class baseline."""
    rows = []
    for summary in summaries:
        classes = ", ".join(f"{name} {count}" for name, count in summary.class_counts.items())
        rows.append([Cell(summary.name), Cell(str(summary.n)), Cell(str(len(summary.class_counts))), Cell(classes),
                     Cell(summary.majority_class), Cell(format_score(summary.majority_accuracy)),
                     Cell(format_score(summary.majority_macro_f1))])
    return Table(header=["Dataset", "n", "Classes", "Images per class", "Majority class",
                         "Majority baseline accuracy", "Majority baseline F1-score"], rows=rows)


def probe_note(results: Sequence[PairResult]) -> str:
    """The line naming the probe of every number in the benchmark table: each probe in words, and
    what a cell is; empty without results."""
    described = {p.probe: (p.protocol.title(p.probe), p.protocol.describe(p.probe), p.protocol)
                 for r in results for p in r.probes}
    if not described:
        return ""
    protocol = next(iter(described.values()))[2]
    repeats = f", {protocol.repeats} repeats" if protocol.repeats > 1 else ""
    splits = (f"cells: mean±std over the {protocol.folds} stratified CV folds of the {1 - protocol.test_size:.0%} "
              f"left after a stratified {protocol.test_size:.0%} holdout (seed {protocol.seed}{repeats}), the same "
              "splits for every probe")
    if len(described) == 1:
        ((_, description, _),) = described.values()
        return f"Probe: {description}; {splits}."
    listed = "; ".join(f"**{title}**: {description}" for title, description, _ in described.values())
    return f"Probes, one row block each: {listed}. {splits[0].upper()}{splits[1:]}."


def published_suffix(score: Score, published: PublishedCell | None, *, random_weights: bool = False,
                     n: int | None = None) -> str:
    """` (pub. 91±0.2, Δ −15.4)` after one of our cells, or ` (pub. n/a‡)` where the source is wrong.

    A random-weights row is not the study's trained model: it shows no published value and no Δ
    (a note under the table says so). Where our `n` differs from the study's (`published.n`), the
    cell says so: ` (pub. 85±0.9, Δ −3.1, n 399 vs 2,870)`.
    """
    if published is None or random_weights:
        return ""
    if not published.comparable:
        return " (pub. n/a‡)"
    delta = percent(score.mean) - published.mean
    sizes = f", n {n:,} vs {published.n:,}" if n is not None and published.n is not None and n != published.n else ""
    return f" (pub. {published.mean:g}±{published.std:g}{published.mark}, Δ {delta:+.1f}{sizes})".replace("-", "−")


def benchmark_notes(results: Sequence[PairResult], comparison: Comparison | None) -> list[str]:
    """Lines under the benchmark table: random-weights rows, and the published table's caveats."""
    notes = []
    random_rows = list(dict.fromkeys(r.model_label for r in results if r.random_weights))
    if random_rows:
        notes.append(RANDOM_WEIGHTS_NOTE.format(models=", ".join(random_rows)))
    if comparison is not None:
        uncompared = list(dict.fromkeys(r.model_label for r in results if r.random_weights and r.model_id in
                                        comparison.rows))
        if uncompared:
            notes.append(f"Not compared with the published table: {', '.join(uncompared)} (random weights: an "
                         "untrained network, not the study's trained model).")
    if comparison is not None and comparison.cells:
        mapping = "; ".join(f"{model} as {row}" for model, row in comparison.rows.items())
        columns = "; ".join(f"{name} as {column}" for name, column in comparison.columns.items())
        notes.append(f"Compared with the study's published table: {mapping}; datasets: {columns}.")
        notes += list(CAVEATS)
    elif comparison is not None:
        notes.append("compare: published found no model and dataset of this plan in the published table "
                     "(the study's models and datasets are listed in its README).")
    return notes


def encoder_versions(results: Sequence[PairResult]) -> dict[str, dict[str, str]]:
    """Model id -> {package: version} of the encoder that computed its vectors (from its ListModels)."""
    return {r.model_id: dict(r.provenance.library_versions) for r in results if r.provenance.library_versions}


def grouped_versions(by_model: Mapping[str, Mapping[str, str]]) -> list[tuple[list[str], dict[str, str]]]:
    """Models that ran on identical library versions, together: [(model ids, versions)]."""
    groups: dict[str, tuple[list[str], dict[str, str]]] = {}
    for model, versions in by_model.items():
        key = json.dumps(versions, sort_keys=True)
        groups.setdefault(key, ([], dict(versions)))[0].append(model)
    return list(groups.values())
