"""The gRPC servicer: admission, the per-request pipeline, and assembling results in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Executor

import grpc

from medembed_decode import DecodeError, DecodeLimits
from medembed_proto import Provenance, item_code_name
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

from . import __version__
from .admission import Rejected, check_field_caps
from .batcher import ItemExpired, QueueFull
from .cache import CacheFront, FlightAbandoned, FlightOutcome, KeyScope, SingleFlight
from .config import Settings
from .decode_pool import DecodePool, DecodeTimeout
from .items import ITEM_CODES, ItemOutcome, hash_items, preprocess
from .logs import event
from .metrics import EncoderMetrics
from .refusals import RefusalLog
from .runtime import ModelRuntime
from .versions import library_versions

log = logging.getLogger(__name__)
MAX_FLIGHT_ROUNDS = 3
# Outcomes that depend only on the bytes, so they hold for every identical item; a timeout or a
# failed forward belongs to one request, and followers must compute the item themselves.
SHAREABLE_CODES = {pb.ITEM_CODE_OK, pb.ITEM_CODE_DECODE_ERROR, pb.ITEM_CODE_UNSUPPORTED_FORMAT,
                   pb.ITEM_CODE_TOO_LARGE, pb.ITEM_CODE_TOO_SMALL}


def shareable(outcome: ItemOutcome) -> FlightOutcome | None:
    if outcome.code not in SHAREABLE_CODES:
        return None
    return FlightOutcome(outcome.code, outcome.message, outcome.vector)


class ModelRegistry:
    """Models this server hosts: loaded runtimes plus ids still loading."""

    def __init__(self, model_ids: list[str]) -> None:
        self.model_ids = model_ids
        self.runtimes: dict[str, ModelRuntime] = {}
        self.ready: set[str] = set()


class EncoderService(pb_grpc.EncoderServicer):
    def __init__(self, settings: Settings, registry: ModelRegistry, metrics: EncoderMetrics,
                 threads: Executor, decoder: DecodePool, cache: CacheFront, refusals: RefusalLog) -> None:
        self._settings = settings
        self._refusals = refusals
        self._cache = cache
        self._flights = SingleFlight()
        self._registry = registry
        self._metrics = metrics
        self._threads = threads
        self._decoder = decoder
        self._limits = DecodeLimits(settings.max_image_bytes, settings.max_pixels, settings.min_side,
                                    settings.max_aspect_ratio)
        self.draining = False
        self.in_flight = 0

    # -- admission -------------------------------------------------------------------------
    def _admit(self, request: pb.EmbedRequest) -> tuple[ModelRuntime, str]:
        check_field_caps(request)
        if self.draining:
            raise Rejected(grpc.StatusCode.UNAVAILABLE, "draining", "server is draining; retry on another replica")
        if request.model not in self._registry.model_ids:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "unknown_model",
                           f"unknown model {request.model!r}; served: {self._registry.model_ids}")
        if request.model not in self._registry.ready:
            raise Rejected(grpc.StatusCode.UNAVAILABLE, "warming_up", f"model {request.model!r} is warming up")
        runtime = self._registry.runtimes[request.model]
        if not request.items:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "no_items", "request has no items")
        if len(request.items) > self._settings.max_items_per_request:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "too_many_items",
                           f"{len(request.items)} items exceeds max_items_per_request "
                           f"{self._settings.max_items_per_request}; split the request")
        # An item over max_image_bytes fails alone as too_large; it does not refuse the request.
        total_bytes = sum(len(item.data) for item in request.items if len(item.data) <= self._limits.max_image_bytes)
        if total_bytes > self._settings.max_request_bytes:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "too_many_bytes",
                           f"{total_bytes} bytes of images exceeds max_request_bytes "
                           f"{self._settings.max_request_bytes}; split the request")
        try:
            spec = runtime.encoder.resolve_spec(request.spec)
        except KeyError as exc:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "unknown_spec", str(exc.args[0])) from None
        return runtime, spec

    # -- pipeline --------------------------------------------------------------------------
    async def _embed(self, request: pb.EmbedRequest, time_remaining: float | None,
                     wait_for_queue: bool = False, admitted: tuple[ModelRuntime, str] | None = None
                     ) -> pb.EmbedResponse:
        runtime, spec = admitted or self._admit(request)
        count = len(request.items)
        try:
            if wait_for_queue:
                await runtime.budget.reserve_when_free(count)
            else:
                runtime.budget.reserve(count)
        except QueueFull as exc:
            raise Rejected(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue_full", str(exc)) from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_remaining if time_remaining is not None else None
        encoder = runtime.encoder
        scope = KeyScope(runtime.model_id, runtime.vector_identities[spec], spec)
        try:
            outcomes = await loop.run_in_executor(self._threads, hash_items, list(request.items))
            if not request.skip_cache:
                await self._read_cache(scope, encoder.spec_dims[spec], outcomes)
            await self._compute_once(runtime, spec, scope, request, outcomes, deadline)
        finally:
            runtime.budget.release(count)
        for outcome in outcomes:
            self._metrics.items.labels(runtime.model_id, item_code_name(outcome.code)).inc()
            if outcome.code != pb.ITEM_CODE_OK:
                level = logging.ERROR if outcome.code == pb.ITEM_CODE_INTERNAL else logging.WARNING
                event(log, "item_failed", level, model=runtime.model_id, index=outcome.index,
                      code=item_code_name(outcome.code), reason=outcome.message, sha256=outcome.sha256[:16])
        return pb.EmbedResponse(
            model=runtime.model_id, dim=encoder.spec_dims[spec], request_id=request.request_id,
            results=[outcome.to_proto() for outcome in outcomes],
            provenance=Provenance(
                model_id=runtime.model_id, weights_digest=encoder.weights_digest,
                preprocess_digest=encoder.preprocess_digest, embedding_spec=spec,
                dtype=runtime.dtype_name, server_version=__version__, random_weights=encoder.random_weights,
                vector_identity=runtime.vector_identities[spec]).to_proto(),
        )

    async def _read_cache(self, scope: KeyScope, dim: int, outcomes: list[ItemOutcome]) -> None:
        digests = list(dict.fromkeys(o.sha256 for o in outcomes))
        hits = await self._cache.lookup(scope, digests, dim)
        for outcome in outcomes:
            if outcome.sha256 in hits:
                outcome.succeed(hits[outcome.sha256], cache_hit=True)

    async def _compute_once(self, runtime: ModelRuntime, spec: str, scope: KeyScope, request: pb.EmbedRequest,
                            outcomes: list[ItemOutcome], deadline: float | None) -> None:
        """Compute each distinct uncached image once, sharing it with identical items of this
        request and of concurrent requests (single-flight), then write it to the cache."""
        shared = self._metrics.singleflight_shared.labels(runtime.model_id)
        for _ in range(MAX_FLIGHT_ROUNDS):
            by_digest: dict[str, list[ItemOutcome]] = {}
            for outcome in outcomes:
                if not outcome.settled:
                    by_digest.setdefault(outcome.sha256, []).append(outcome)
            if not by_digest:
                return
            leading: dict[str, list[ItemOutcome]] = {}
            following: list[tuple[list[ItemOutcome], asyncio.Future[FlightOutcome]]] = []
            for digest, group in by_digest.items():
                flight = self._flights.join(scope.key(digest))
                if flight is None:
                    leading[digest] = group
                else:
                    following.append((group, flight))
            firsts = [group[0] for group in leading.values()]
            try:
                await self._decode(runtime, request, firsts)
                await self._compute(runtime, spec, request, firsts, deadline)
            finally:
                for digest, group in leading.items():
                    self._flights.land(scope.key(digest), shareable(group[0]))
            for group in leading.values():
                for outcome in group[1:]:
                    outcome.adopt(group[0])
                shared.inc(len(group) - 1)
            self._cache.store(scope, {d: g[0].vector for d, g in leading.items() if g[0].vector is not None})
            for group, flight in following:
                try:
                    result = await asyncio.shield(flight)
                except FlightAbandoned:
                    continue  # its leader gave up; compute it ourselves next round
                for outcome in group:
                    outcome.adopt(result)
                shared.inc(len(group))
        for outcome in outcomes:
            if not outcome.settled:
                outcome.fail(pb.ITEM_CODE_INTERNAL, "identical item kept failing in another request")

    async def _decode(self, runtime: ModelRuntime, request: pb.EmbedRequest, outcomes: list[ItemOutcome]) -> None:
        seconds = await asyncio.gather(*(self._decode_one(runtime, outcome, request.items[outcome.index].data)
                                         for outcome in outcomes))
        histogram = self._metrics.preprocess.labels(runtime.model_id)
        for value in seconds:
            histogram.observe(value)

    async def _decode_one(self, runtime: ModelRuntime, outcome: ItemOutcome, data: bytes) -> float:
        """Bytes to pixels in a decode process, then the model's preprocessing in a thread; a
        failure fails this item alone. Returns the seconds spent."""
        started = time.perf_counter()
        try:
            decoded = await self._decoder.decode(data, self._limits)
        except DecodeError as exc:
            outcome.fail(ITEM_CODES[exc.kind], str(exc))
        except DecodeTimeout as exc:
            self._metrics.decode_workers_replaced.inc()
            outcome.fail(pb.ITEM_CODE_TIMEOUT, str(exc))
        except Exception as exc:  # the pool itself failed: this item only
            outcome.fail(pb.ITEM_CODE_INTERNAL, f"decode failed: {type(exc).__name__}: {exc}")
        else:
            for note in decoded.notes:
                self._metrics.decode_fallbacks.labels(runtime.model_id).inc()
                event(log, "decode_fallback", logging.WARNING, model=runtime.model_id, index=outcome.index,
                      note=note, sha256=outcome.sha256[:16])
            await asyncio.get_running_loop().run_in_executor(self._threads, preprocess, outcome, decoded, runtime)
        return time.perf_counter() - started

    async def _compute(self, runtime: ModelRuntime, spec: str, request: pb.EmbedRequest,
                       outcomes: list[ItemOutcome], deadline: float | None) -> None:
        to_compute = [o for o in outcomes if not o.settled]
        if not to_compute:
            return
        futures = runtime.batcher(spec).submit([o.tensor for o in to_compute], deadline,
                                               bulk=request.priority == pb.PRIORITY_BULK)
        try:
            vectors = await asyncio.gather(*futures, return_exceptions=True)
        finally:
            for future in futures:
                future.cancel()  # no-op when done; otherwise the batcher drops the item unseen
        for outcome, vector in zip(to_compute, vectors, strict=True):
            if isinstance(vector, ItemExpired):
                outcome.fail(pb.ITEM_CODE_TIMEOUT, "deadline passed before the item was computed")
            elif isinstance(vector, BaseException):
                outcome.fail(pb.ITEM_CODE_INTERNAL, f"forward failed: {vector!r}")
            else:
                outcome.succeed(vector)

    # -- RPCs ------------------------------------------------------------------------------
    async def Embed(self, request: pb.EmbedRequest, context: grpc.aio.ServicerContext) -> pb.EmbedResponse:
        started = time.perf_counter()
        self.in_flight += 1
        code = grpc.StatusCode.OK
        try:
            return await self._embed(request, context.time_remaining())
        except Rejected as exc:
            code = exc.code
            self._refusals.record("Embed", exc.code, exc.reason, str(exc))
            await context.abort(exc.code, str(exc))
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            self.in_flight -= 1
            self._metrics.requests.labels("Embed", code.name).inc()
            self._metrics.request_duration.labels("Embed").observe(time.perf_counter() - started)

    async def EmbedStream(self, request_iterator: AsyncIterator[pb.EmbedRequest],
                          context: grpc.aio.ServicerContext) -> AsyncIterator[pb.EmbedResponse]:
        # At most stream_window requests are in flight; when the client reads slowly our yield
        # waits on gRPC flow control, so we stop reading requests and the sender slows down.
        # Draining: what was taken is answered, then the stream ends UNAVAILABLE, and the client
        # sends what is left to another replica (request_id says which were answered).
        started = time.perf_counter()
        self.in_flight += 1
        code = grpc.StatusCode.OK
        pending: deque[asyncio.Task[pb.EmbedResponse]] = deque()
        answered, left_unread = 0, False
        try:
            async for request in request_iterator:
                if self.draining:
                    left_unread = True
                    break
                admitted = self._admit(request)  # now, so a drain that starts later cannot refuse it
                pending.append(asyncio.ensure_future(self._embed(request, None, True, admitted)))
                if len(pending) >= self._settings.stream_window:
                    yield await pending.popleft()
                    answered += 1
            while pending:
                yield await pending.popleft()
                answered += 1
            if left_unread:
                raise Rejected(grpc.StatusCode.UNAVAILABLE, "draining",
                               f"server is draining: {answered} request(s) of this stream answered; send the "
                               "rest to another replica")
        except Rejected as exc:
            code = exc.code
            self._refusals.record("EmbedStream", exc.code, exc.reason, str(exc))
            await context.abort(exc.code, str(exc))
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            for task in pending:
                task.cancel()
            self.in_flight -= 1
            self._metrics.requests.labels("EmbedStream", code.name).inc()
            self._metrics.request_duration.labels("EmbedStream").observe(time.perf_counter() - started)

    async def ListModels(self, request: pb.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        models = []
        for model_id in self._registry.model_ids:
            runtime = self._registry.runtimes.get(model_id)
            if runtime is None:
                models.append(pb.ModelInfo(id=model_id, ready=False))
                continue
            encoder = runtime.encoder
            models.append(pb.ModelInfo(
                id=model_id, family=encoder.entry.family, dim=encoder.spec_dims[encoder.default_spec],
                input_size=encoder.input_size, default_spec=encoder.default_spec,
                specs=[pb.SpecInfo(name=name, dim=dim, vector_identity=runtime.vector_identities[name])
                       for name, dim in encoder.spec_dims.items()],
                ready=model_id in self._registry.ready, weights_digest=encoder.weights_digest,
                preprocess_digest=encoder.preprocess_digest, random_weights=encoder.random_weights,
                library_versions=library_versions(encoder.entry.family)))
        self._metrics.requests.labels("ListModels", "OK").inc()
        limits = pb.ServerLimits(max_items_per_request=self._settings.max_items_per_request,
                                 max_request_bytes=self._settings.max_request_bytes,
                                 max_image_bytes=self._settings.max_image_bytes)
        return pb.ListModelsResponse(models=models, server_version=__version__, limits=limits)
