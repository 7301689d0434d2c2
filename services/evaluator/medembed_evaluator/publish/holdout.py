"""The holdout table: every probe's score on the stratified holdout with its 95 % bootstrap
interval, for the study's metrics and the two it lacks (balanced accuracy, macro one-vs-rest AUROC)."""

from __future__ import annotations

from collections.abc import Sequence

from medembed_evaluator.pair_result import PairResult
from medembed_evaluator.probe import Score
from medembed_evaluator.publish.formats import percent
from medembed_evaluator.publish.tabular import Cell, Table

MISSING = "–"
HOLDOUT_METRICS = (("Accuracy", "accuracy"), ("F1-score", "macro_f1"), ("Balanced accuracy", "balanced_accuracy"),
                   ("AUROC (macro OvR)", "auroc"))
HOLDOUT_NOTE = (
    "Each probe fit on the 80 % left after the stratified holdout and scored on the holdout (n_test images; "
    "the mean over repeats when the protocol repeats). Brackets: 95 % percentile-bootstrap interval over the "
    "holdout's images (the protocol's `bootstrap` resamples, 100 by default, numpy RandomState(seed); as "
    "Patho-Bench). F1-score: macro F1; balanced accuracy: the mean per-class recall; AUROC: macro one-vs-rest, "
    "ranked by the SVM's decision_function, logreg's predict_proba or kNN's vote fractions."
)


def holdout_cell(score: Score | None) -> Cell:
    """`72.4% [65.4, 79.5]` (percent, one decimal), without brackets when there is no interval; – for none."""
    if score is None:
        return Cell(MISSING)
    interval = ""
    if score.interval is not None:
        interval = f" [{percent(score.interval[0]):.1f}, {percent(score.interval[1]):.1f}]"
    return Cell(f"{percent(score.holdout):.1f}%{interval}")


def holdout_table(results: Sequence[PairResult], dataset_names: Sequence[str]) -> Table | None:
    """Rows by dataset (plan order), model (result order), probe (plan order); None without results."""
    order = {name: index for index, name in enumerate(dataset_names)}
    ordered = sorted(results, key=lambda r: order.get(r.dataset, len(order)))
    rows = []
    for result in ordered:
        for probe in result.probes:
            rows.append([Cell(result.model_label), Cell(result.dataset), Cell(probe.protocol.title(probe.probe)),
                         Cell(str(probe.n_test)),
                         *(holdout_cell(probe.score(attribute)) for _, attribute in HOLDOUT_METRICS)])
    if not rows:
        return None
    return Table(header=["Model", "Dataset", "Probe", "n_test", *(name for name, _ in HOLDOUT_METRICS)], rows=rows)
