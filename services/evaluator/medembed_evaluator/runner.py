"""Run a plan: every (model, dataset) pair embedded (features.py), probed with the plan's
protocol and probes (probe.py), analysed as the plan asks (pairs.py), then published (publish/)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from medembed_client import ChannelSecurity
from medembed_evaluator import encoders
from medembed_evaluator.baseline import summarize_dataset
from medembed_evaluator.comparison import build_comparison
from medembed_evaluator.datasets import Dataset, load_dataset
from medembed_evaluator.errors import DatasetError, EvaluatorError
from medembed_evaluator.feature_store import FeatureStore
from medembed_evaluator.features import ModelFeatures, raw_pixels_embedder, service_embedder
from medembed_evaluator.pair_failure import PairFailed, PairFailure
from medembed_evaluator.pair_result import PairResult, RunExtras, RunInfo
from medembed_evaluator.pairs import evaluate_pair, probe_input, summary_line
from medembed_evaluator.paths import check_name, inside
from medembed_evaluator.plan.schema import Plan
from medembed_evaluator.probe import run_probe_set, validate_for_protocol
from medembed_evaluator.progress import progress_enabled
from medembed_evaluator.publish import publish_to_stream, render_tables, write_report, write_run_files
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID

log = logging.getLogger(__name__)
RESULTS_REDIS_ENV = "MEDEMBED_RESULTS_REDIS_URL"
RESULTS_REDIS_PASSWORD_ENV = "MEDEMBED_RESULTS_REDIS_PASSWORD_FILE"


@dataclass(frozen=True)
class RunSettings:
    """How to run a plan, from the command line: where results and data are, how hard to push the encoders."""

    out_dir: Path
    """Results root: one folder per run, the feature store under out_dir/features."""
    data_root: Path
    """The folder the plan's dataset paths are relative to."""
    encoder_wait_s: float = 120.0  # how long to wait for an encoder that is down or restarting
    concurrency: int = 4
    request_items: int = 32
    progress: bool = True
    run_id: str = ""
    security: ChannelSecurity | None = None
    """How to reach the encoders; None: the plan's `security:` section under the MEDEMBED_TLS_* /
    MEDEMBED_TOKEN* env vars."""
    probe_jobs: int = 0  # worker processes for the probe's fits; 0 = one per core (memory permitting)


@dataclass
class RunOutcome:
    """What a finished run left: its folder, the pairs' results, the console table, the pairs that gave none."""

    run_dir: Path
    results: list[PairResult]
    table: str
    failures: list[PairFailure]


def load_datasets(plan: Plan, data_root: Path) -> list[Dataset]:
    """Every dataset of the plan, checked for the protocol; raises DatasetError naming all problems together."""
    datasets, problems = [], []
    for entry in plan.datasets:
        try:
            dataset = load_dataset(entry, data_root)
            validate_for_protocol(dataset.labels(), dataset.class_names, plan.protocol)
        except EvaluatorError as error:
            problems.append(f"dataset '{entry.name}' ({entry.kind}): {error}")
            continue
        datasets.append(dataset)
    if len(problems) == 1:
        raise DatasetError(problems[0])
    if problems:
        raise DatasetError(f"{len(problems)} datasets cannot be used:\n  " + "\n  ".join(problems)
                           + f"\n(paths are relative to --data-root {data_root})")
    return datasets


def run_plan(plan: Plan, settings: RunSettings, echo: Callable[[str], None] = print) -> RunOutcome:
    """_run_plan with progress bars on stderr for every stage (embedding, probe fits, maps, separability,
    bias test) when settings.progress is set."""
    with progress_enabled(settings.progress):
        return _run_plan(plan, settings, echo)


def _run_plan(plan: Plan, settings: RunSettings, echo: Callable[[str], None] = print) -> RunOutcome:
    """Run every (model, dataset) pair of `plan` and publish the results under settings.out_dir/RUN_ID.

    Every dataset is loaded and every model's provenance checked before any image is embedded. A
    pair that gives no result is reported (`echo`, RunOutcome.failures) and the others run on.

    Raises:
        DatasetError: a dataset cannot be read or cannot go through the protocol's splits.
        PlanError: a model is not served, or has no such embedding spec.
        EncoderUnavailable: an encoder stays unreachable; a rerun continues from the stored chunks.
    """
    started = datetime.now(UTC)
    run_id = check_name(settings.run_id, "--run-id") if settings.run_id else f"{started:%Y%m%d-%H%M%S}-{plan.name}"
    run_dir = inside(settings.out_dir, settings.out_dir / run_id, "run folder")
    datasets = load_datasets(plan, settings.data_root)  # every dataset problem surfaces before any work
    store = FeatureStore(settings.out_dir / "features")
    clients = encoders.connect(plan, security=settings.security or encoders.plan_security(plan),
                               request_items=settings.request_items, concurrency=settings.concurrency,
                               wait_s=settings.encoder_wait_s)
    redis_url = os.environ.get(RESULTS_REDIS_ENV) or (plan.output.redis_url if plan.output.stream else None)
    redis_password_file = os.environ.get(RESULTS_REDIS_PASSWORD_ENV) or None
    results: list[PairResult] = []
    failures: list[PairFailure] = []
    try:
        provenances = encoders.model_provenance(plan.models, clients)
        for model in plan.models:
            provenance = provenances[model.id]
            embed = (raw_pixels_embedder if model.id == RAW_PIXELS_MODEL_ID
                     else service_embedder(clients[model.target], model, provenance))
            features_of = ModelFeatures(model, provenance, embed, store, settings.progress)
            embedded = []
            for dataset in datasets:
                clock = time.perf_counter()
                try:
                    features = features_of(dataset)
                    pair_input = probe_input(features_of, dataset, features, plan.protocol)
                except PairFailed as failed:  # reported; the other pairs still run
                    failures.append(failed.failure)
                    log.warning("no result for %s", failed.failure.line())
                    echo(f"{model.id} x {dataset.name}: NO RESULT: {failed.failure.reason}")
                    continue
                embedded.append((dataset, features, pair_input, time.perf_counter() - clock))
            clock = time.perf_counter()  # all fits of the model's datasets share the cores
            probes = run_probe_set([pair_input for _, _, pair_input, _ in embedded], plan.protocol,
                                   settings.probe_jobs)
            if probes:
                echo(f"{model.id}: probed {len(probes)} dataset(s) ({', '.join(plan.protocol.probes)}) in "
                     f"{time.perf_counter() - clock:.1f} s")
            for (dataset, features, _, seconds), pair_probes in zip(embedded, probes, strict=True):
                clock = time.perf_counter()
                result = evaluate_pair(features_of, dataset, features, plan, run_dir, pair_probes)
                results.append(result)
                publish_to_stream(redis_url, result, run_id=run_id, password_file=redis_password_file)
                echo(summary_line(result, features.reused_chunks, seconds + time.perf_counter() - clock))
    finally:
        for client in clients.values():
            client.close()
    run = RunInfo(run_id=run_id, plan_name=plan.name, started_at=started.isoformat(),
                  finished_at=datetime.now(UTC).isoformat(), protocol=plan.protocol)
    return _publish(plan, run_dir, run, datasets, results, failures)


def _publish(plan: Plan, run_dir: Path, run: RunInfo, datasets: list[Dataset], results: list[PairResult],
             failures: list[PairFailure]) -> RunOutcome:
    """The run's files (table.md, results.csv, results.json, the report) and its console table."""
    dataset_names = [d.name for d in datasets]
    kinds = {entry.name: entry.kind for entry in plan.datasets}
    extras = RunExtras(datasets=[summarize_dataset(d, kinds[d.name], plan.protocol) for d in datasets],
                       comparison=None if plan.compare is None else build_comparison(
                           plan.compare, {m.id: m.label for m in plan.models}, kinds),
                       failures=failures)
    write_run_files(run_dir, results, dataset_names, run, models=plan.models, extras=extras)
    write_report(run_dir, results, dataset_names, run, models=plan.models, extras=extras)
    return RunOutcome(run_dir, results, render_tables(results, dataset_names, models=plan.models, extras=extras),
                      failures)
