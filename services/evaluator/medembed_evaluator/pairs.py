"""From one (model, dataset) pair's features to its result: the usable rows for the probe, then
whatever analysis the plan asks for, all from the stored features; and why a pair gave none."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from medembed_evaluator.analysis.bias import run_overlay_bias
from medembed_evaluator.analysis.pair import PairData, analyse_pair
from medembed_evaluator.datasets import Dataset
from medembed_evaluator.errors import ProtocolError
from medembed_evaluator.feature_store import DatasetFeatures
from medembed_evaluator.features import ModelFeatures
from medembed_evaluator.pair_failure import PairFailed, PairFailure
from medembed_evaluator.pair_result import PairResult
from medembed_evaluator.plan.schema import Plan
from medembed_evaluator.probe import ProbeInput, ProbeResult, validate_for_protocol
from medembed_evaluator.probe_protocol import Protocol

log = logging.getLogger(__name__)


def probe_input(features_of: ModelFeatures, dataset: Dataset, features: DatasetFeatures,
                protocol: Protocol) -> ProbeInput:
    """The pair's usable features [n_ok, dim] and labels [n_ok] (failed items excluded).

    Raises PairFailed when what is left cannot go through the protocol's splits.
    """
    model, errors, ok = features_of.model, features.errors, features.usable
    if errors:
        log.warning("%s on %s: %d item(s) failed and are excluded: %s", model.id, dataset.name, len(errors),
                    sorted({e["code"] for e in errors.values()}))
    labels = dataset.labels()[ok]
    try:
        validate_for_protocol(labels, dataset.class_names, protocol)
    except ProtocolError as exc:
        raise PairFailed(pair_failure(model.id, features_of.label, dataset, errors, str(exc))) from None
    return ProbeInput(features.vectors[ok], labels, dataset.class_names)


def evaluate_pair(features_of: ModelFeatures, dataset: Dataset, features: DatasetFeatures, plan: Plan,
                  run_dir: Path, probes: Sequence[ProbeResult]) -> PairResult:
    """The pair's probe results (one per probe of the plan's protocol, in its order) with the maps,
    separability and bias test the plan's `analysis:` asks for (figures written under `run_dir`); the
    bias test embeds its overlaid images through `features_of`, so they are stored and reused like
    any other features."""
    model, errors, ok = features_of.model, features.errors, features.usable
    labels = dataset.labels()[ok]
    label = features_of.label
    analysis = bias = None
    if plan.analysis is not None:
        pair = PairData(label, dataset.name, features.vectors[ok], labels, dataset.class_names,
                        [sample.metadata for sample, keep in zip(dataset.samples, ok, strict=True) if keep])
        analysis = analyse_pair(pair, plan.analysis, plan.protocol, run_dir)
        bias_settings = plan.analysis.bias
        if bias_settings is not None and bias_settings.applies_to(dataset.name, model.id, model.label):
            bias = run_overlay_bias(dataset, features.vectors, ok, bias_settings, plan.protocol, plan.analysis.seed,
                                    features_of, run_dir)
    return PairResult(
        model_id=model.id, model_label=label, group=model.group,
        dataset=dataset.name, n=int(ok.sum()),
        class_counts=dataset.class_counts(), content_hash=dataset.content_hash(), provenance=features_of.provenance,
        probe=probes[0], other_probes=tuple(probes[1:]), n_failed=len(errors),
        failed_keys=[dataset.samples[row].key for row in sorted(errors)], analysis=analysis, bias=bias)


def pair_failure(model_id: str, label: str, dataset: Dataset, errors: dict[int, dict[str, str]],
                 problem: str) -> PairFailure:
    """Why a pair's features cannot be probed (`problem`), naming the item errors behind it
    (`errors`: sample row -> {code, message})."""
    codes = dict(Counter(error["code"] for error in errors.values()).most_common())
    count, failed = len(dataset.samples), len(errors)
    first = f"; first: {dataset.samples[min(errors)].key}: {errors[min(errors)]['message']}" if errors else ""
    listed = ", ".join(f"{code} {n}" for code, n in codes.items())
    if failed == count:
        reason = f"every one of its {count} items failed ({listed}){first}"
    else:
        reason = (f"{failed} of {count} items failed ({listed or 'none'}) and the rest cannot be probed: "
                  f"{problem}{first}")
    return PairFailure(model_id, label, dataset.name, reason, count, failed, codes)


def summary_line(result: PairResult, reused: int, seconds: float) -> str:
    """One line for the console: the pair's scores (per probe when the plan runs several), failures,
    stored chunks reused and seconds taken."""
    scores = "; ".join(f"{'' if len(result.probes) == 1 else probe.probe + ' '}accuracy {probe.accuracy.mean:.3f}, "
                       f"macro F1 {probe.macro_f1.mean:.3f}" for probe in result.probes)
    line = (f"{result.model_id} x {result.dataset}: {scores} (n={result.n}, failed {result.n_failed}, "
            f"{reused} stored chunk(s) reused, {seconds:.1f} s)")
    separability = result.analysis.separability if result.analysis else None
    if separability is not None:
        line += f"; silhouette {separability.silhouette:.3f}, kNN {separability.knn_mean:.3f}"
    if result.bias is not None:
        flips = ", ".join(f"{c.condition} {c.flip_rate:.2f}" for c in result.bias.conditions)
        line += f"; overlay flip rate {flips}"
    return line
