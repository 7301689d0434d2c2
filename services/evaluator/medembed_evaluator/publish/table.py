"""The study's results table in Markdown.

Rows grouped medical / modality-specific / non-medical / non-VLM under group header rows; per
dataset a column pair Accuracy | F1-score (macro F1) with cells `mean±std%` over the CV folds;
the best mean per column in bold (ties, as displayed, all bold); a missing pair shows `–`.
"""

from __future__ import annotations

from collections.abc import Sequence

from medembed_evaluator.pair_result import PairResult
from medembed_evaluator.plan import GROUPS, ModelSpec
from medembed_evaluator.probe import Score

MISSING = "–"
METRICS = (("Accuracy", "accuracy"), ("F1-score", "macro_f1"))


def render_table(
    results: Sequence[PairResult], dataset_names: Sequence[str], *, models: Sequence[ModelSpec] = ()
) -> str:
    """`models` (plan order) also get a row when they have no result; others follow in result order."""
    by_pair = {(r.model_label, r.dataset): r for r in results}
    model_rows = _model_rows(models, results)
    groups = [*GROUPS, *dict.fromkeys(g for _, g in model_rows if g not in GROUPS)]
    best = {
        (dataset, attribute): max(
            (_percent(getattr(r.probe, attribute).mean) for r in results if r.dataset == dataset), default=None
        )
        for dataset in dataset_names
        for _, attribute in METRICS
    }
    header = ["Model", *(cell for d in dataset_names for cell in (d, ""))]
    subheader = ["", *(name for _ in dataset_names for name, _ in METRICS)]
    rows = [header, subheader]
    for group in groups:
        labels = [label for label, model_group in model_rows if model_group == group]
        if not labels:
            continue
        rows.append([f"*{group}*", *([""] * (2 * len(dataset_names)))])
        for label in labels:
            cells = [label]
            for dataset in dataset_names:
                result = by_pair.get((label, dataset))
                for _, attribute in METRICS:
                    if result is None:
                        cells.append(MISSING)
                        continue
                    score: Score = getattr(result.probe, attribute)
                    cell = format_score(score)
                    cells.append(f"**{cell}**" if _percent(score.mean) == best[(dataset, attribute)] else cell)
            rows.append(cells)
    return _markdown(rows)


def format_score(score: Score) -> str:
    return f"{_percent(score.mean):.1f}±{_percent(score.std):.1f}%"


def _percent(fraction: float) -> float:
    # Compared after rounding, so that cells showing the same number are bold together.
    return round(100.0 * fraction, 1)


def _model_rows(models: Sequence[ModelSpec], results: Sequence[PairResult]) -> list[tuple[str, str]]:
    """(label, group) per table row, in plan order then result order."""
    seen = {m.label: m.group for m in models}
    for r in results:
        seen.setdefault(r.model_label, r.group)
    return list(seen.items())


def _markdown(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"
