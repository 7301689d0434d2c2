"""Run a plan: every (model, dataset) pair embedded through the encoder service (or computed
locally for raw-pixels), stored for resume, probed with the study's protocol, then published."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from medembed_client import Client, EmbedError, RetryPolicy
from medembed_client.v1 import encoder_pb2 as pb
from medembed_evaluator.analysis.bias import run_overlay_bias
from medembed_evaluator.analysis.pair import PairData, analyse_pair
from medembed_evaluator.datasets import Dataset, load_dataset
from medembed_evaluator.errors import DecodeError, EvaluatorError, PlanError
from medembed_evaluator.feature_store import ChunkFeatures, DatasetFeatures, FeatureStore
from medembed_evaluator.pair_result import PairResult, RunInfo
from medembed_evaluator.plan import ModelSpec, Plan
from medembed_evaluator.probe import ProbeInput, ProbeResult, run_probes, validate_for_protocol
from medembed_evaluator.publish import publish_to_stream, render_tables, write_report, write_run_files
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID, raw_pixel_vector, raw_pixels_provenance

log = logging.getLogger(__name__)
CHUNK_ITEMS = 128
RESULTS_REDIS_ENV = "MEDEMBED_RESULTS_REDIS_URL"
TRANSIENT_CODES = {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}


class EncoderUnavailable(EvaluatorError):
    """An encoder could not be reached within the wait; re-running continues where it stopped."""


@dataclass(frozen=True)
class RunSettings:
    out_dir: Path
    data_root: Path
    encoder_wait_s: float = 120.0  # how long to wait for an encoder that is down or restarting
    concurrency: int = 4
    request_items: int = 32
    progress: bool = True
    run_id: str = ""
    probe_jobs: int = 0  # worker processes for the probe's fits; 0 = one per core (memory permitting)


@dataclass
class RunOutcome:
    run_dir: Path
    results: list[PairResult]
    table: str


Embedder = Callable[[list[bytes]], ChunkFeatures]


def _load_datasets(plan: Plan, data_root: Path) -> list[Dataset]:
    datasets = []
    for spec in plan.datasets:
        dataset = load_dataset(spec, data_root)
        validate_for_protocol(dataset.labels(), dataset.class_names, plan.protocol)
        datasets.append(dataset)
    return datasets


def _retry_policy(wait_s: float) -> RetryPolicy:
    attempts = max(2, int(wait_s / 5.0) + 4)  # backoff grows to 5 s per try
    return RetryPolicy(max_attempts=attempts, initial_backoff_s=0.5, max_backoff_s=5.0)


def _model_provenance(plan_models: list[ModelSpec], clients: dict[str, Client]) -> dict[str, dict[str, str]]:
    """Provenance of every model before any embedding: unknown models fail the run at start."""
    provenance = {RAW_PIXELS_MODEL_ID: raw_pixels_provenance()}
    served: dict[str, dict[str, pb.ModelInfo]] = {}
    for target, client in clients.items():
        try:
            served[target] = {info.id: info for info in client.list_models()}
        except EmbedError as exc:
            raise EncoderUnavailable(f"encoder {target} unreachable: {exc}") from None
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
        provenance[model.id] = {"model_id": model.id, "weights_digest": info.weights_digest,
                                "preprocess_digest": info.preprocess_digest, "embedding_spec": spec,
                                "random_weights": str(info.random_weights).lower()}
        if info.random_weights:
            log.warning("%s is served with random weights by %s: its row measures an untrained network",
                        model.id, model.target)
    return provenance


def _raw_pixels_embedder(images: list[bytes]) -> ChunkFeatures:
    vectors = np.full((len(images), 1024), np.nan, dtype=np.float32)
    errors = {}
    for row, data in enumerate(images):
        try:
            vectors[row] = raw_pixel_vector(data)
        except DecodeError as exc:
            errors[row] = {"code": "decode_error", "message": str(exc)}
    return ChunkFeatures(vectors, errors)


def _service_embedder(client: Client, model: ModelSpec, expected: dict[str, str]) -> Embedder:
    def embed(images: list[bytes]) -> ChunkFeatures:
        result = client.embed(images, model.id, spec=model.spec, priority="bulk")
        got = result.provenance
        if got is not None and (got.weights_digest, got.preprocess_digest) != (
                expected["weights_digest"], expected["preprocess_digest"]):
            raise EvaluatorError(f"model {model.id!r} changed weights or preprocessing mid-run "
                                 f"({expected['weights_digest']} -> {got.weights_digest}); start the run again")
        errors = {row: {"code": e.code, "message": e.message} for row, e in result.errors.items()}
        return ChunkFeatures(result.vectors, errors)
    return embed


@dataclass(frozen=True)
class ModelFeatures:
    """Features of any dataset under one model, through the feature store: computed once, resumable."""

    model: ModelSpec
    provenance: dict[str, str]
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
                raise EvaluatorError(f"{where} refused: {exc}") from None
            raise EncoderUnavailable(f"{where} failed after retries ({exc}); finished chunks are stored: "
                                     "run the same command again to continue") from None
        finally:
            bar.close()


def _stored_features(store: FeatureStore, dataset: Dataset, provenance: dict[str, str], embed: Embedder,
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


def _probe_input(model: ModelSpec, dataset: Dataset, features: DatasetFeatures) -> ProbeInput:
    """The pair's usable features and labels (failed items excluded); run_probes checks the labels."""
    errors, ok = features.errors, features.usable
    if errors:
        log.warning("%s on %s: %d item(s) failed and are excluded: %s", model.id, dataset.name, len(errors),
                    sorted({e["code"] for e in errors.values()}))
    return ProbeInput(features.vectors[ok], dataset.labels()[ok], dataset.class_names)


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


def _label(model: ModelSpec, provenance: dict[str, str]) -> str:
    """A row served without its real weights says so in the table, whatever the plan calls it."""
    if provenance.get("random_weights") == "true" and "random" not in model.label.lower():
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
    run_id = settings.run_id or f"{started:%Y%m%d-%H%M%S}-{plan.name}"
    datasets = _load_datasets(plan, settings.data_root)  # every dataset problem surfaces before any work
    store = FeatureStore(settings.out_dir / "features")
    targets = sorted({m.target for m in plan.models if m.target})
    clients = {t: Client(t, chunk_size=settings.request_items, max_concurrency=settings.concurrency,
                         retry=_retry_policy(settings.encoder_wait_s)) for t in targets}
    redis_url = os.environ.get(RESULTS_REDIS_ENV) or (plan.output.redis_url if plan.output.stream else None)
    run_dir = settings.out_dir / run_id
    results: list[PairResult] = []
    try:
        provenance = _model_provenance(plan.models, clients)
        for model in plan.models:
            embed = (_raw_pixels_embedder if model.id == RAW_PIXELS_MODEL_ID
                     else _service_embedder(clients[model.target], model, provenance[model.id]))
            features_of = ModelFeatures(model, provenance[model.id], embed, store, settings.progress)
            embedded = []
            for dataset in datasets:
                clock = time.perf_counter()
                embedded.append((dataset, features_of(dataset), time.perf_counter() - clock))
            clock = time.perf_counter()  # all fits of the model's datasets share the cores
            probes = run_probes([_probe_input(model, d, f) for d, f, _ in embedded], plan.protocol,
                                settings.probe_jobs)
            echo(f"{model.id}: probed {len(probes)} dataset(s) in {time.perf_counter() - clock:.1f} s")
            for (dataset, features, seconds), probe in zip(embedded, probes, strict=True):
                clock = time.perf_counter()
                result = _evaluate_pair(features_of, dataset, features, plan, run_dir, probe)
                results.append(result)
                publish_to_stream(redis_url, result, run_id=run_id)
                echo(_summary(result, features.reused_chunks, seconds + time.perf_counter() - clock))
    finally:
        for client in clients.values():
            client.close()
    run = RunInfo(run_id=run_id, plan_name=plan.name, started_at=started.isoformat(),
                  finished_at=datetime.now(UTC).isoformat(), protocol=plan.protocol)
    dataset_names = [d.name for d in datasets]
    write_run_files(run_dir, results, dataset_names, run, models=plan.models)
    write_report(run_dir, results, dataset_names, run, models=plan.models)
    return RunOutcome(run_dir, results, render_tables(results, dataset_names, models=plan.models))
