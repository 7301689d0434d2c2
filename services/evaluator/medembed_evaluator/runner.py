"""Run a plan: every (model, dataset) pair embedded through the encoder service (or computed
locally for raw-pixels), stored for resume, probed with the study's protocol, then published."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import medembed_decode
from medembed_client import ChannelSecurity, Client, EmbedError, ModelInfo, RetryPolicy, security_from
from medembed_evaluator.analysis.bias import run_overlay_bias
from medembed_evaluator.analysis.pair import PairData, analyse_pair
from medembed_evaluator.baseline import summarize_dataset
from medembed_evaluator.comparison import build_comparison
from medembed_evaluator.datasets import Dataset, load_dataset
from medembed_evaluator.errors import DatasetError, EvaluatorError, PlanError, ProtocolError
from medembed_evaluator.feature_store import ChunkFeatures, DatasetFeatures, FeatureStore
from medembed_evaluator.pair_result import PairFailure, PairResult, RunExtras, RunInfo
from medembed_evaluator.paths import check_name, inside
from medembed_evaluator.plan import ModelSpec, Plan
from medembed_evaluator.probe import ProbeInput, ProbeResult, Protocol, run_probes, validate_for_protocol
from medembed_evaluator.publish import publish_to_stream, render_tables, write_report, write_run_files
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID, raw_pixel_vector, raw_pixels_provenance

log = logging.getLogger(__name__)
CHUNK_ITEMS = 128
RESULTS_REDIS_ENV = "MEDEMBED_RESULTS_REDIS_URL"
RESULTS_REDIS_PASSWORD_ENV = "MEDEMBED_RESULTS_REDIS_PASSWORD_FILE"
CALL_TIMEOUT_S = 300.0  # one chunk's call, retries included; longer when --encoder-wait asks for more
TRANSIENT_CODES = {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}


class EncoderUnavailable(EvaluatorError):
    """An encoder could not be reached within the wait; re-running continues where it stopped."""


class PairFailed(EvaluatorError):
    """One (model, dataset) pair gave no result; the run goes on with the other pairs."""

    def __init__(self, failure: PairFailure) -> None:
        super().__init__(failure.line())
        self.failure = failure


@dataclass(frozen=True)
class RunSettings:
    out_dir: Path
    data_root: Path
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
    run_dir: Path
    results: list[PairResult]
    table: str
    failures: list[PairFailure]


Embedder = Callable[[list[bytes]], ChunkFeatures]


def _load_datasets(plan: Plan, data_root: Path) -> list[Dataset]:
    """Every dataset of the plan, checked for the protocol; all problems reported together."""
    datasets, problems = [], []
    for spec in plan.datasets:
        try:
            dataset = load_dataset(spec, data_root)
            validate_for_protocol(dataset.labels(), dataset.class_names, plan.protocol)
        except EvaluatorError as error:
            problems.append(f"dataset '{spec.name}' ({spec.kind}): {error}")
            continue
        datasets.append(dataset)
    if len(problems) == 1:
        raise DatasetError(problems[0])
    if problems:
        raise DatasetError(f"{len(problems)} datasets cannot be used:\n  " + "\n  ".join(problems)
                           + f"\n(paths are relative to --data-root {data_root})")
    return datasets


def _retry_policy(wait_s: float) -> RetryPolicy:
    """Retry an encoder that is down, draining or overloaded for up to wait_s, then give up."""
    return RetryPolicy(max_elapsed_s=wait_s, initial_backoff_s=0.5, max_backoff_s=5.0)


def plan_security(plan: Plan) -> ChannelSecurity:
    """The plan's `security:` files, under the env vars (which win)."""
    return security_from(environ={**plan.security.as_env(), **os.environ})


def _model_provenance(plan_models: list[ModelSpec], clients: dict[str, Client]) -> dict[str, dict[str, Any]]:
    """Provenance of every model before any embedding: unknown models fail the run at start."""
    provenance = {RAW_PIXELS_MODEL_ID: raw_pixels_provenance()}
    served: dict[str, dict[str, ModelInfo]] = {}
    for target, client in clients.items():
        try:
            served[target] = {info.id: info for info in client.list_models()}
        except EmbedError as exc:
            raise EncoderUnavailable(f"no encoder answers at {target} ({exc.code}) within --encoder-wait: is it "
                                     "running? Start it with `medembed-encoder serve --models ID,...`, or point "
                                     "the plan's `encoders:` (or --encoder NAME=HOST:PORT) at it") from None
    for model in plan_models:
        if model.id == RAW_PIXELS_MODEL_ID:
            continue
        info = served[model.target].get(model.id)
        if info is None:
            raise PlanError(f"model {model.id!r} is not served by {model.target}; it serves "
                            f"{sorted(served[model.target])}")
        spec = model.spec or info.default_spec
        if spec not in {s.name for s in info.specs}:
            raise PlanError(f"model {model.id!r} has no spec {spec!r}; specs: {[s.name for s in info.specs]}")
        identity = next(s.vector_identity for s in info.specs if s.name == spec)
        provenance[model.id] = {"model_id": model.id, "weights_digest": info.weights_digest,
                                "preprocess_digest": info.preprocess_digest, "embedding_spec": spec,
                                "vector_identity": identity, "random_weights": info.random_weights,
                                "library_versions": dict(sorted(info.library_versions.items()))}
        if info.random_weights:
            log.warning("%s is served with random weights by %s: its row measures an untrained network",
                        model.id, model.target)
    return provenance


def _raw_pixels_embedder(images: list[bytes]) -> ChunkFeatures:
    """Every failure is the item's own: a bomb or a corrupt file fails alone, as in the encoder."""
    vectors = np.full((len(images), 1024), np.nan, dtype=np.float32)
    errors = {}
    for row, data in enumerate(images):
        try:
            vectors[row] = raw_pixel_vector(data)
        except medembed_decode.DecodeError as exc:
            errors[row] = {"code": exc.kind.value, "message": str(exc)}
        except Exception as exc:  # a decoder bug: this item only, said as such
            errors[row] = {"code": "internal", "message": f"raw-pixels failed: {type(exc).__name__}: {exc}"}
    return ChunkFeatures(vectors, errors)


def _service_embedder(client: Client, model: ModelSpec, expected: dict[str, Any]) -> Embedder:
    def embed(images: list[bytes]) -> ChunkFeatures:
        result = client.embed(images, model.id, spec=model.spec, priority="bulk")
        got = result.provenance
        if got is not None and (got.weights_digest, got.preprocess_digest, got.vector_identity) != (
                expected["weights_digest"], expected["preprocess_digest"], expected.get("vector_identity", "")):
            raise EvaluatorError(f"model {model.id!r} changed what shapes its vectors mid-run (vector identity "
                                 f"{expected.get('vector_identity')} -> {got.vector_identity}); start the run again")
        errors = {row: {"code": e.code, "message": e.message} for row, e in result.errors.items()}
        return ChunkFeatures(result.vectors, errors)
    return embed


@dataclass(frozen=True)
class ModelFeatures:
    """Features of any dataset under one model, through the feature store: computed once, resumable."""

    model: ModelSpec
    provenance: dict[str, Any]
    embed: Embedder
    store: FeatureStore
    progress: bool

    def __call__(self, dataset: Dataset) -> DatasetFeatures:
        bar = tqdm(total=len(dataset.samples), desc=f"{self.model.id} x {dataset.name}", unit="img",
                   disable=not self.progress)
        try:
            return _stored_features(self.store, dataset, self.provenance, self.embed, bar)
        except EmbedError as exc:
            where = f"{self.model.id} on {dataset.name}: encoder {self.model.target}"
            if exc.code not in TRANSIENT_CODES:
                raise PairFailed(PairFailure(self.model.id, _label(self.model, self.provenance), dataset.name,
                                             f"encoder {self.model.target} refused it: {exc}",
                                             n_items=len(dataset.samples))) from None
            raise EncoderUnavailable(f"{where} failed after retries ({exc}); finished chunks are stored: "
                                     "run the same command again to continue") from None
        finally:
            bar.close()


def _stored_features(store: FeatureStore, dataset: Dataset, provenance: dict[str, Any], embed: Embedder,
                     bar: tqdm) -> DatasetFeatures:
    """All vectors of a pair, stored chunk by chunk."""
    directory = store.pair_dir(provenance, dataset.content_hash())
    parts, errors, reused = [], {}, 0
    for index, start in enumerate(range(0, len(dataset.samples), CHUNK_ITEMS)):
        samples = dataset.samples[start:start + CHUNK_ITEMS]
        chunk = store.load_chunk(directory, index, len(samples))
        if chunk is None:
            chunk = embed([sample.load_bytes() for sample in samples])
            store.save_chunk(directory, index, chunk, provenance)
        else:
            reused += 1
        bar.update(len(samples))
        parts.append(chunk.vectors)
        errors.update({start + row: error for row, error in chunk.errors.items()})
    return DatasetFeatures(np.concatenate(parts), errors, reused)


def _probe_input(features_of: ModelFeatures, dataset: Dataset, features: DatasetFeatures,
                 protocol: Protocol) -> ProbeInput:
    """The pair's usable features and labels (failed items excluded); PairFailed when what is left
    cannot go through the protocol's splits."""
    model, errors, ok = features_of.model, features.errors, features.usable
    if errors:
        log.warning("%s on %s: %d item(s) failed and are excluded: %s", model.id, dataset.name, len(errors),
                    sorted({e["code"] for e in errors.values()}))
    labels = dataset.labels()[ok]
    try:
        validate_for_protocol(labels, dataset.class_names, protocol)
    except ProtocolError as exc:
        raise PairFailed(_failure(model.id, _label(model, features_of.provenance), dataset, errors, str(exc))) from None
    return ProbeInput(features.vectors[ok], labels, dataset.class_names)


def _evaluate_pair(features_of: ModelFeatures, dataset: Dataset, features: DatasetFeatures, plan: Plan,
                   run_dir: Path, probe: ProbeResult) -> PairResult:
    """The pair's probe result with whatever analysis the plan asks for, all from its stored features."""
    model, errors, ok = features_of.model, features.errors, features.usable
    labels = dataset.labels()[ok]
    analysis = bias = None
    if plan.analysis is not None:
        pair = PairData(model.label, dataset.name, features.vectors[ok], labels, dataset.class_names,
                        [sample.metadata for sample, keep in zip(dataset.samples, ok, strict=True) if keep])
        analysis = analyse_pair(pair, plan.analysis, plan.protocol, run_dir)
        bias_spec = plan.analysis.bias
        if bias_spec is not None and bias_spec.applies_to(dataset.name, model.id, model.label):
            bias = run_overlay_bias(dataset, features.vectors, ok, bias_spec, plan.protocol, plan.analysis.seed,
                                    features_of, run_dir)
    return PairResult(
        model_id=model.id, model_label=_label(model, features_of.provenance), group=model.group,
        dataset=dataset.name, n=int(ok.sum()),
        class_counts=dataset.class_counts(), content_hash=dataset.content_hash(), provenance=features_of.provenance,
        probe=probe, n_failed=len(errors), failed_keys=[dataset.samples[row].key for row in sorted(errors)],
        analysis=analysis, bias=bias)


def _failure(model_id: str, label: str, dataset: Dataset, errors: dict[int, dict[str, str]],
             problem: str) -> PairFailure:
    """Why a pair's features cannot be probed, naming the item errors behind it."""
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


def _label(model: ModelSpec, provenance: dict[str, Any]) -> str:
    """A row served without its real weights says so in the table, whatever the plan calls it."""
    if provenance.get("random_weights") is True and "random" not in model.label.lower():
        return f"{model.label} [random weights]"
    return model.label


def _summary(result: PairResult, reused: int, seconds: float) -> str:
    line = (f"{result.model_id} x {result.dataset}: accuracy {result.probe.accuracy.mean:.3f}, "
            f"macro F1 {result.probe.macro_f1.mean:.3f} (n={result.n}, failed {result.n_failed}, "
            f"{reused} stored chunk(s) reused, {seconds:.1f} s)")
    separability = result.analysis.separability if result.analysis else None
    if separability is not None:
        line += f"; silhouette {separability.silhouette:.3f}, kNN {separability.knn_mean:.3f}"
    if result.bias is not None:
        flips = ", ".join(f"{c.condition} {c.flip_rate:.2f}" for c in result.bias.conditions)
        line += f"; overlay flip rate {flips}"
    return line


def run_plan(plan: Plan, settings: RunSettings, echo: Callable[[str], None] = print) -> RunOutcome:
    started = datetime.now(UTC)
    run_id = check_name(settings.run_id, "--run-id") if settings.run_id else f"{started:%Y%m%d-%H%M%S}-{plan.name}"
    run_dir = inside(settings.out_dir, settings.out_dir / run_id, "run folder")
    datasets = _load_datasets(plan, settings.data_root)  # every dataset problem surfaces before any work
    store = FeatureStore(settings.out_dir / "features")
    targets = sorted({m.target for m in plan.models if m.target})
    security = settings.security or plan_security(plan)
    clients = {t: Client(t, chunk_size=settings.request_items, max_concurrency=settings.concurrency,
                         retry=_retry_policy(settings.encoder_wait_s), security=security,
                         timeout_s=max(CALL_TIMEOUT_S, settings.encoder_wait_s + 60)) for t in targets}
    redis_url = os.environ.get(RESULTS_REDIS_ENV) or (plan.output.redis_url if plan.output.stream else None)
    redis_password_file = os.environ.get(RESULTS_REDIS_PASSWORD_ENV) or None
    results: list[PairResult] = []
    failures: list[PairFailure] = []
    try:
        provenance = _model_provenance(plan.models, clients)
        for model in plan.models:
            embed = (_raw_pixels_embedder if model.id == RAW_PIXELS_MODEL_ID
                     else _service_embedder(clients[model.target], model, provenance[model.id]))
            features_of = ModelFeatures(model, provenance[model.id], embed, store, settings.progress)
            embedded = []
            for dataset in datasets:
                clock = time.perf_counter()
                try:
                    features = features_of(dataset)
                    probe_input = _probe_input(features_of, dataset, features, plan.protocol)
                except PairFailed as failed:  # reported; the other pairs still run
                    failures.append(failed.failure)
                    log.warning("no result for %s", failed.failure.line())
                    echo(f"{model.id} x {dataset.name}: NO RESULT: {failed.failure.reason}")
                    continue
                embedded.append((dataset, features, probe_input, time.perf_counter() - clock))
            clock = time.perf_counter()  # all fits of the model's datasets share the cores
            probes = run_probes([probe_input for _, _, probe_input, _ in embedded], plan.protocol,
                                settings.probe_jobs)
            if probes:
                echo(f"{model.id}: probed {len(probes)} dataset(s) in {time.perf_counter() - clock:.1f} s")
            for (dataset, features, _, seconds), probe in zip(embedded, probes, strict=True):
                clock = time.perf_counter()
                result = _evaluate_pair(features_of, dataset, features, plan, run_dir, probe)
                results.append(result)
                publish_to_stream(redis_url, result, run_id=run_id, password_file=redis_password_file)
                echo(_summary(result, features.reused_chunks, seconds + time.perf_counter() - clock))
    finally:
        for client in clients.values():
            client.close()
    run = RunInfo(run_id=run_id, plan_name=plan.name, started_at=started.isoformat(),
                  finished_at=datetime.now(UTC).isoformat(), protocol=plan.protocol)
    dataset_names = [d.name for d in datasets]
    kinds = {spec.name: spec.kind for spec in plan.datasets}
    extras = RunExtras(datasets=[summarize_dataset(d, kinds[d.name], plan.protocol) for d in datasets],
                       comparison=None if plan.compare is None else build_comparison(
                           plan.compare, {m.id: m.label for m in plan.models}, kinds),
                       failures=failures)
    write_run_files(run_dir, results, dataset_names, run, models=plan.models, extras=extras)
    write_report(run_dir, results, dataset_names, run, models=plan.models, extras=extras)
    return RunOutcome(run_dir, results, render_tables(results, dataset_names, models=plan.models, extras=extras),
                      failures)
