"""The run's tables: the study's benchmark table, the holdout table, and the separability and bias tables.

Benchmark: rows grouped medical / modality-specific / non-medical / non-VLM under group header
rows; per dataset a column pair Accuracy | F1-score (macro F1) with cells `mean±std%` over the CV
folds; the best mean per column in bold (ties, as displayed, all bold); a missing pair shows `–`.
A run with several probes gives one row block per probe, each under a bold header row naming it
(best per column within the block); the published values sit beside the study's SVM only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from medembed_evaluator.analysis.separability import Separability
from medembed_evaluator.comparison import Comparison
from medembed_evaluator.pair_failure import PairFailure
from medembed_evaluator.pair_result import PairResult, RunExtras
from medembed_evaluator.plan.schema import GROUPS, ModelEntry
from medembed_evaluator.probe import Score
from medembed_evaluator.publish.context import (
    DATASETS_NOTE,
    benchmark_notes,
    datasets_table,
    probe_note,
    published_suffix,
)
from medembed_evaluator.publish.formats import format_score
from medembed_evaluator.publish.formats import percent as _percent
from medembed_evaluator.publish.holdout import HOLDOUT_NOTE, holdout_table
from medembed_evaluator.publish.tabular import Cell, Table, to_markdown

MISSING = "–"
HOLDOUT_HEADING = "## Holdout scores with 95 % bootstrap intervals"
NO_RESULT_HEADING = "## Pairs without a result (– in the table)"
METRICS = (("Accuracy", "accuracy"), ("F1-score", "macro_f1"))


def render_table(
    results: Sequence[PairResult], dataset_names: Sequence[str], *, models: Sequence[ModelEntry] = (),
    comparison: Comparison | None = None, failures: Sequence[PairFailure] = (),
) -> str:
    """The benchmark table in Markdown."""
    return to_markdown(benchmark_table(results, dataset_names, models=models, comparison=comparison,
                                       failures=failures))


def render_tables(
    results: Sequence[PairResult], dataset_names: Sequence[str], *, models: Sequence[ModelEntry] = (),
    extras: RunExtras | None = None,
) -> str:
    """table.md: the benchmark table and its notes, the datasets with their majority baseline, then the
    separability and bias tables when the run has them."""
    extras = extras or RunExtras()
    sections = [render_table(results, dataset_names, models=models, comparison=extras.comparison,
                             failures=extras.failures)]
    sections += [f"{note}\n" for note in [probe_note(results), *benchmark_notes(results, extras.comparison)] if note]
    if extras.datasets:
        sections.append(f"## Datasets\n\n{DATASETS_NOTE}\n\n{to_markdown(datasets_table(extras.datasets))}")
    without = without_result_lines(results, dataset_names, models, extras.failures)
    if without:
        sections.append(f"{NO_RESULT_HEADING}\n\n" + "".join(f"- {line}\n" for line in without))
    holdout = holdout_table(results, dataset_names)
    if holdout is not None:
        sections.append(f"{HOLDOUT_HEADING}\n\n{HOLDOUT_NOTE}\n\n{to_markdown(holdout)}")
    separability = separability_table(results, dataset_names)
    if separability is not None:
        sections.append(f"## Separability\n\n{SEPARABILITY_NOTE}\n\n{to_markdown(separability)}")
    bias = bias_table(results, dataset_names)
    if bias is not None:
        sections.append(f"## Text-overlay bias\n\n{BIAS_NOTE}\n\n{to_markdown(bias)}")
    return "\n".join(sections)


def benchmark_table(
    results: Sequence[PairResult], dataset_names: Sequence[str], *, models: Sequence[ModelEntry] = (),
    comparison: Comparison | None = None, failures: Sequence[PairFailure] = (),
) -> Table:
    """`models` (plan order) also get a row when they have no result; others follow in result order.
    With a comparison, cells of the study's models and datasets also show the published value and Δ
    (in the study's SVM rows only, never beside a random-weights row). With several probes: one block per
    probe, under a bold header row. A model's row is named as its results (else its failures) name it."""
    model_rows = _model_rows(models, results, failures)
    groups = [*GROUPS, *dict.fromkeys(g for _, _, g in model_rows if g not in GROUPS)]
    probes = probe_order(results)
    rows: list[list[Cell]] = []
    for probe in probes:
        if len(probes) > 1:
            title = next(p.protocol.title(probe) for r in results for p in r.probes if p.probe == probe)
            rows.append([Cell(f"Probe: {title}", bold=True), *([Cell("")] * (2 * len(dataset_names)))])
        rows += _probe_block(results, dataset_names, model_rows, groups, probe,
                             comparison if probe == "svm" else None)
    return Table(
        header=["Model", *(cell for d in dataset_names for cell in (d, ""))],
        subheader=["", *(name for _ in dataset_names for name, _ in METRICS)],
        rows=rows,
    )


def probe_order(results: Sequence[PairResult]) -> list[str]:
    """The probes the results carry, in the plan's order (["svm"] when there are no results)."""
    return list(dict.fromkeys(p.probe for r in results for p in r.probes)) or ["svm"]


def _probe_block(results: Sequence[PairResult], dataset_names: Sequence[str], model_rows: list[tuple[str, str]],
                 groups: list[str], probe: str, comparison: Comparison | None) -> list[list[Cell]]:
    """One probe's rows: group header rows and a row per model, the best per column among them in bold."""
    by_pair = {(r.model_id, r.dataset): r.probe_result(probe) for r in results}
    best = {
        (dataset, attribute): max(
            (_percent(getattr(p, attribute).mean) for (_, d), p in by_pair.items() if d == dataset and p is not None),
            default=None)
        for dataset in dataset_names
        for _, attribute in METRICS
    }
    pairs = {(r.model_id, r.dataset): r for r in results}
    rows: list[list[Cell]] = []
    for group in groups:
        members = [(model_id, label) for model_id, label, model_group in model_rows if model_group == group]
        if not members:
            continue
        rows.append([Cell(group, italic=True), *([Cell("")] * (2 * len(dataset_names)))])
        for model_id, label in members:
            cells = [Cell(label)]
            for dataset in dataset_names:
                result = by_pair.get((model_id, dataset))
                for _, attribute in METRICS:
                    if result is None:
                        cells.append(Cell(MISSING))
                        continue
                    score: Score = getattr(result, attribute)
                    pair = pairs[(model_id, dataset)]
                    published = comparison.cell(model_id, dataset, attribute) if comparison else None
                    cells.append(Cell(format_score(score), bold=_percent(score.mean) == best[(dataset, attribute)],
                                      note=published_suffix(score, published, random_weights=pair.random_weights,
                                                            n=pair.n)))
            rows.append(cells)
    return rows


SEPARABILITY_NOTE = (
    "On the full-dimensional, L2-normalised features. Silhouette (cosine) and Davies–Bouldin with the "
    "classes as clusters; kNN: k = 20, cosine, on the probe's folds (mean±std); NMI and ARI: k-means "
    "(k = number of classes) against the labels; trustworthiness: of the default 2-D map, 5 neighbours. "
    "Best per dataset in bold (lowest Davies–Bouldin, highest otherwise)."
)


@dataclass(frozen=True)
class _Column:
    header: str
    value: Callable[[Separability], float | None]
    text: Callable[[Separability], str]
    higher_is_better: bool = True


_SEPARABILITY_COLUMNS = (
    _Column("Silhouette ↑", lambda s: s.silhouette, lambda s: f"{s.silhouette:.3f}"),
    _Column("Davies–Bouldin ↓", lambda s: s.davies_bouldin, lambda s: f"{s.davies_bouldin:.3f}", False),
    _Column("kNN accuracy ↑", lambda s: s.knn_mean, lambda s: format_score(Score(s.knn_folds, []))),
    _Column("k-means NMI ↑", lambda s: s.kmeans_nmi, lambda s: f"{s.kmeans_nmi:.3f}"),
    _Column("k-means ARI ↑", lambda s: s.kmeans_ari, lambda s: f"{s.kmeans_ari:.3f}"),
    _Column("Trustworthiness ↑", lambda s: s.trustworthiness,
            lambda s: MISSING if s.trustworthiness is None else f"{s.trustworthiness:.3f}"),
)


def separability_table(results: Sequence[PairResult], dataset_names: Sequence[str]) -> Table | None:
    """Rows by dataset (plan order), then model (result order)."""
    measured = [(r, r.analysis.separability) for r in _by_dataset(results, dataset_names)
                if r.analysis and r.analysis.separability]
    if not measured:
        return None
    rows = []
    for result, separability in measured:
        cells = [Cell(result.model_label), Cell(result.dataset)]
        for column in _SEPARABILITY_COLUMNS:
            shown = [_shown(column.value(s)) for r, s in measured if r.dataset == result.dataset]
            present = [value for value in shown if value is not None]
            best = (max if column.higher_is_better else min)(present) if present else None
            value = _shown(column.value(separability))
            cells.append(Cell(column.text(separability), bold=value is not None and value == best))
        rows.append(cells)
    return Table(header=["Model", "Dataset", *(column.header for column in _SEPARABILITY_COLUMNS)], rows=rows)


BIAS_NOTE = (
    "Words burned into a stratified subset of each dataset. Shift: mean cosine distance between an image's "
    "clean and overlaid embedding, over the mean distance between two clean images of the same class "
    "(1 = as far as another image of the class). Flips and accuracy: the probe fit on the clean images outside "
    "the subset, tested on the subset clean and overlaid. Word decoded: the probe predicting the written word "
    "from overlaid embeddings; from clean embeddings the same labels show what the image content alone "
    "explains; chance is the most frequent word's share. Brackets: 95 % intervals (Wilson for the flip rate, "
    "bootstrap over the subset's images for shift and the accuracy drop); ± on word decoding: std over its "
    "folds. A small shift can still flip many predictions: shift is "
    "measured in the embedding's own cosine geometry, while the probe standardises every feature first, so a "
    "move along a low-variance feature counts for much more; and a weak probe leaves many images near its "
    "decision boundary, where any move flips them."
)


def bias_table(results: Sequence[PairResult], dataset_names: Sequence[str]) -> Table | None:
    """Rows by dataset (plan order), then model (result order), then overlay condition."""
    tested = [r for r in _by_dataset(results, dataset_names) if r.bias is not None]
    if not tested:
        return None
    rows = []
    for result in tested:
        for effect in result.bias.conditions:
            interval = effect.intervals
            rows.append([
                Cell(result.model_label), Cell(result.dataset), Cell(effect.condition), Cell(str(result.bias.n_images)),
                Cell(format_shift(effect.shift) + _bracket(interval.get("shift"), format_shift)),
                Cell(_as_percent(effect.flip_rate) + _bracket(interval.get("flip_rate"), _bare_percent)),
                Cell(f"{_as_percent(effect.accuracy_clean)} → {_as_percent(effect.accuracy_overlaid)}, drop "
                     f"{_bare_percent(effect.accuracy_drop)}" + _bracket(interval.get("accuracy_drop"), _bare_percent)),
                Cell(_as_percent(effect.word_accuracy) if effect.word_accuracy_std is None else
                     f"{_percent(effect.word_accuracy):.1f}±{_percent(effect.word_accuracy_std):.1f}%"),
                Cell(_as_percent(effect.word_accuracy_clean)),
                Cell(_as_percent(effect.word_chance)),
            ])
    return Table(header=["Model", "Dataset", "Overlay", "n", "Shift", "Flip rate", "Accuracy clean → overlaid",
                         "Word decoded (overlaid)", "Word decoded (clean)", "Chance"], rows=rows)


def format_shift(shift: float) -> str:
    """Three significant digits, so a small shift shows as 0.00421, never as 0.00."""
    return f"{shift:.3g}"


def _bracket(bounds: tuple[float, float] | None, text: Callable[[float], str]) -> str:
    return "" if bounds is None else f" [{text(bounds[0])}, {text(bounds[1])}]"


def _bare_percent(fraction: float) -> str:
    return f"{_percent(fraction):.1f}"


def _by_dataset(results: Sequence[PairResult], dataset_names: Sequence[str]) -> list[PairResult]:
    order = {name: index for index, name in enumerate(dataset_names)}
    return sorted(results, key=lambda r: order.get(r.dataset, len(order)))  # stable: model order is kept


def _as_percent(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{_percent(fraction):.1f}%"


def _shown(number: float | None) -> float | None:
    # Compared as displayed (3 decimals, or percent with 1), so equal-looking cells are bold together.
    return None if number is None else round(number, 3)


def _model_rows(models: Sequence[ModelEntry], results: Sequence[PairResult],
                failures: Sequence[PairFailure] = ()) -> list[tuple[str, str, str]]:
    """(model id, label, group) per table row: one row per model id, in plan order then result order,
    named as its results (else its failures) name it, so a random-weights model is one marked row;
    a model with neither keeps its plan label."""
    rows = {m.id: (m.label, m.group) for m in models}
    named: dict[str, str] = {}
    for outcome in [*results, *failures]:
        named.setdefault(outcome.model_id, outcome.model_label)
    for r in results:
        rows.setdefault(r.model_id, (r.model_label, r.group))
    return [(model_id, named.get(model_id, label), group) for model_id, (label, group) in rows.items()]


def without_result_lines(results: Sequence[PairResult], dataset_names: Sequence[str], models: Sequence[ModelEntry],
                         failures: Sequence[PairFailure]) -> list[str]:
    """Every (model, dataset) cell of the table that shows – with why: the pair's failure, or that the
    run has no result of it (a plan model's pair that did not run, e.g. a run that was stopped)."""
    lines = [failure.line() for failure in failures]
    done = {(r.model_id, r.dataset) for r in results} | {(f.model_id, f.dataset) for f in failures}
    for model_id, label, _ in _model_rows(models, results, failures):
        lines += [f"{label} on {dataset}: no result in this run (the pair did not run: the run stopped before it, "
                  "or the results were written without it)"
                  for dataset in dataset_names if (model_id, dataset) not in done]
    return lines
