"""One Embed request, stage by stage: admit, hash, cache lookup, single-flight, decode and
preprocess, compute, store, respond.

Each stage is a method that takes the request's item records (items.ItemRecord, immutable) and
returns new ones; `run` calls them in that order. A bad item settles with its own code at the stage
that finds the fault and skips the rest; only admission refuses a whole request (`Rejected`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from medembed_decode import DecodeError, DecodeLimits
from medembed_decode.volume import SliceOptions
from medembed_proto import Provenance, item_code_name, volume_identity
from medembed_proto.v1 import encoder_pb2 as pb

from . import __version__
from .admission import Rejected, check_field_caps
from .batcher import ItemExpired, QueueFull
from .cache import CacheFront, FlightAbandoned, FlightOutcome, KeyScope, SingleFlight
from .config import Settings
from .decode_pool import DecodePool, DecodeTimeout
from .items import ITEM_CODES, ItemRecord, read_items
from .logs import event
from .metrics import EncoderMetrics
from .runtime import ModelRuntime
from .slices import SliceInputs, SliceVectors, stored_value

log = logging.getLogger(__name__)
MAX_FLIGHT_ROUNDS = 3
INLINE_HASH_BYTES = 256 * 1024  # below this, hashing on the loop costs less than the hop to a thread
Records = list[ItemRecord]
ByDigest = dict[str, ItemRecord]


class ModelRegistry:
    """Models this server hosts: loaded runtimes plus ids still loading."""

    def __init__(self, model_ids: list[str]) -> None:
        self.model_ids = model_ids
        self.runtimes: dict[str, ModelRuntime] = {}
        self.ready: set[str] = set()


@dataclass(frozen=True)
class Admitted:
    """An admitted request: the runtime and spec it goes to, its volume options (default when the
    request sets none) and its cache-key scope (whose identity includes the volume options)."""

    runtime: ModelRuntime
    spec: str
    scope: KeyScope
    volume: SliceOptions

    @property
    def sliced(self) -> bool:
        """True when the request set volume options: results carry slice rows and indices."""
        return not self.volume.is_default()

    @property
    def dim(self) -> int:
        """Length of this spec's vectors."""
        return self.runtime.encoder.spec_dims[self.spec]


class EmbedPipeline:
    """The Embed stages over shared parts: models, decode processes, preprocessing threads, cache."""

    def __init__(self, settings: Settings, registry: ModelRegistry, metrics: EncoderMetrics,
                 threads: Executor, decoder: DecodePool, cache: CacheFront) -> None:
        self._settings = settings
        self._registry = registry
        self._metrics = metrics
        self._threads = threads
        self._decoder = decoder
        self._cache = cache
        self._flights = SingleFlight()
        self._limits = DecodeLimits(settings.max_image_bytes, settings.max_pixels, settings.min_side,
                                    settings.max_aspect_ratio, settings.max_volume_bytes, settings.max_volume_voxels,
                                    settings.max_volume_slices, settings.max_archive_members)
        self.draining = False

    @property
    def digest_lookup(self) -> bool:
        """Whether items may carry only their digest (on, and there is a cache to answer them)."""
        return self._settings.digest_lookup and self._cache.enabled

    async def run(self, request: pb.EmbedRequest, time_remaining: float | None, *,
                  wait_for_queue: bool = False, admitted: Admitted | None = None) -> pb.EmbedResponse:
        """All stages for one request. Raises Rejected (admission or a full queue); every other
        fault settles its item with a code. `time_remaining`: seconds left of the caller's deadline."""
        admitted = admitted or self.admit(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_remaining if time_remaining is not None else None
        async with self._queue_room(admitted.runtime, len(request.items), wait_for_queue):
            records = await self.hash(request)
            records = await self.look_up_cache(admitted, request, records)
            records = await self.compute_once(admitted, request, records, deadline)
        self.account(admitted, records)
        return self.respond(admitted, request, records)

    # -- admit -----------------------------------------------------------------------------
    def admit(self, request: pb.EmbedRequest) -> Admitted:
        """Whole-request checks before any work; raises Rejected with the gRPC status to return."""
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
        volume = self._volume_options(request)
        identity = volume_identity(runtime.vector_identities[spec], volume.identity())
        return Admitted(runtime, spec, KeyScope(runtime.model_id, identity, spec), volume)

    @staticmethod
    def _volume_options(request: pb.EmbedRequest) -> SliceOptions:
        if not request.HasField("volume"):
            return SliceOptions()
        options = request.volume
        try:
            return SliceOptions.parse(options.slices, options.axis, options.window)
        except ValueError as exc:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "bad_volume_options",
                           f"EmbedRequest.volume: {exc}") from None

    # -- hash ------------------------------------------------------------------------------
    async def hash(self, request: pb.EmbedRequest) -> Records:
        """One record per item with its content digest; big payloads are hashed off the event loop."""
        if sum(len(item.data) for item in request.items) < INLINE_HASH_BYTES:
            return read_items(request.items, self.digest_lookup)
        return await asyncio.get_running_loop().run_in_executor(self._threads, read_items, request.items,
                                                                self.digest_lookup)

    @asynccontextmanager
    async def _queue_room(self, runtime: ModelRuntime, count: int, wait: bool) -> AsyncIterator[None]:
        try:
            if wait:
                await runtime.budget.reserve_when_free(count)
            else:
                runtime.budget.reserve(count)
        except QueueFull as exc:
            raise Rejected(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue_full", str(exc)) from None
        try:
            yield
        finally:
            runtime.budget.release(count)

    # -- cache lookup ----------------------------------------------------------------------
    async def look_up_cache(self, admitted: Admitted, request: pb.EmbedRequest, records: Records) -> Records:
        """One MGET for the request's distinct digests; hits settle. A digest-only item that
        misses settles as not_cached: the client sends its bytes next."""
        hits = {}
        if not request.skip_cache:
            digests = list(dict.fromkeys(r.sha256 for r in records if not r.settled))
            hits = await self._cache.lookup(admitted.scope, digests, admitted.dim, volume=admitted.sliced)
        settled = []
        for record in records:
            if record.settled:
                settled.append(record)
            elif record.sha256 in hits:
                settled.append(record.succeeded(hits[record.sha256], cache_hit=True))
            elif record.digest_only:
                settled.append(record.failed(pb.ITEM_CODE_NOT_CACHED, "not in the cache; send the image bytes"))
            else:
                settled.append(record)
        return settled

    # -- single-flight ---------------------------------------------------------------------
    async def compute_once(self, admitted: Admitted, request: pb.EmbedRequest, records: Records,
                           deadline: float | None) -> Records:
        """Each distinct unsettled image is computed once, shared with identical items of this
        request and of concurrent requests (single-flight), and stored."""
        shared = self._metrics.singleflight_shared.labels(admitted.runtime.model_id)
        for _ in range(MAX_FLIGHT_ROUNDS):
            pending: ByDigest = {}
            for record in records:
                if not record.settled:
                    pending.setdefault(record.sha256, record)
            if not pending:
                return records
            leading, following = self._join_flights(admitted.scope, pending)
            computed: ByDigest = {}
            try:
                computed = await self.decode_and_preprocess(admitted, leading)
                computed = await self.compute(admitted, request, computed, deadline)
            finally:
                for digest in leading:
                    outcome = computed.get(digest)
                    self._flights.land(admitted.scope.key(digest), outcome.shareable() if outcome else None)
            self.store(admitted, computed)
            records, count = settle(records, {d: r.outcome() for d, r in computed.items()})
            shared.inc(count - len(computed))
            records, count = settle(records, await self._follow(following))
            shared.inc(count)
        return [r if r.settled else r.failed(pb.ITEM_CODE_INTERNAL, "identical item kept failing in another request")
                for r in records]

    def _join_flights(self, scope: KeyScope, pending: ByDigest) -> tuple[ByDigest, dict[str, asyncio.Future]]:
        leading: ByDigest = {}
        following: dict[str, asyncio.Future[FlightOutcome]] = {}
        for digest, record in pending.items():
            flight = self._flights.join(scope.key(digest))
            if flight is None:
                leading[digest] = record
            else:
                following[digest] = flight
        return leading, following

    @staticmethod
    async def _follow(following: dict[str, asyncio.Future[FlightOutcome]]) -> dict[str, FlightOutcome]:
        outcomes = {}
        for digest, flight in following.items():
            try:
                outcomes[digest] = await asyncio.shield(flight)
            except FlightAbandoned:
                continue  # its leader gave up; computed by this request next round
        return outcomes

    # -- decode and preprocess -------------------------------------------------------------
    async def decode_and_preprocess(self, admitted: Admitted, leading: ByDigest) -> ByDigest:
        """Bytes to pixels in a decode process, then the model's preprocessing in a thread (every
        chosen slice's, under volume options)."""
        records = await asyncio.gather(*(self._decode_one(admitted, record) for record in leading.values()))
        return dict(zip(leading, records, strict=True))

    async def _decode_one(self, admitted: Admitted, record: ItemRecord) -> ItemRecord:
        started = time.perf_counter()
        try:
            return await self._item_to_inputs(admitted, record)
        finally:
            self._metrics.preprocess.labels(admitted.runtime.model_id).observe(time.perf_counter() - started)

    async def _item_to_inputs(self, admitted: Admitted, record: ItemRecord) -> ItemRecord:
        runtime = admitted.runtime
        try:
            if admitted.sliced:
                slices = await self._decoder.decode_slices(record.data, admitted.volume, self._limits)
                images, notes = slices.images, slices.notes + tuple(n for image in slices.images for n in image.notes)
            else:
                decoded = await self._decoder.decode(record.data, self._limits)
                images, notes = (decoded,), decoded.notes
        except DecodeError as exc:
            return record.failed(ITEM_CODES[exc.kind], str(exc))
        except DecodeTimeout as exc:
            self._metrics.decode_workers_replaced.inc()
            return record.failed(pb.ITEM_CODE_TIMEOUT, str(exc))
        except Exception as exc:  # the pool itself failed: this item only
            return record.failed(pb.ITEM_CODE_INTERNAL, f"decode failed: {type(exc).__name__}: {exc}")
        for note in notes:
            self._metrics.decode_fallbacks.labels(runtime.model_id).inc()
            event(log, "decode_fallback", logging.WARNING, model=runtime.model_id, index=record.index,
                  note=note, sha256=record.sha256[:16])
        loop = asyncio.get_running_loop()
        try:
            tensors = await asyncio.gather(*(loop.run_in_executor(self._threads, runtime.preprocess, image.image())
                                             for image in images))
        except Exception as exc:  # a preprocessing bug must fail this item only
            return record.failed(pb.ITEM_CODE_INTERNAL, f"preprocessing failed: {type(exc).__name__}: {exc}")
        if not admitted.sliced:
            return record.preprocessed(tensors[0])
        return record.preprocessed(SliceInputs(tuple(tensors), slices.slice_indices, slices.slice_count,
                                               admitted.volume.pooled))

    # -- compute ---------------------------------------------------------------------------
    async def compute(self, admitted: Admitted, request: pb.EmbedRequest, records: ByDigest,
                      deadline: float | None) -> ByDigest:
        """The preprocessed items through the model's batcher (ModelRuntime.submit)."""
        ready = {digest: record for digest, record in records.items() if not record.settled}
        if not ready:
            return records
        # Under volume options an item is several inputs (its slices): all go to the batcher at once.
        inputs = [r.tensor.tensors if admitted.sliced else (r.tensor,) for r in ready.values()]
        futures = admitted.runtime.submit([t for item in inputs for t in item], admitted.spec, deadline,
                                          bulk=request.priority == pb.PRIORITY_BULK)
        try:
            vectors = await asyncio.gather(*futures, return_exceptions=True)
        finally:
            for future in futures:
                future.cancel()  # no-op when done; otherwise the batcher drops the item unseen
        computed = dict(records)
        start = 0
        for (digest, record), item in zip(ready.items(), inputs, strict=True):
            outputs, start = vectors[start:start + len(item)], start + len(item)
            computed[digest] = _computed(record, outputs)
        return computed

    # -- store -----------------------------------------------------------------------------
    def store(self, admitted: Admitted, computed: ByDigest) -> None:
        """Fresh vectors to the cache, in the background (never delays the response)."""
        fresh = {digest: stored_value(r.vector) for digest, r in computed.items() if r.vector is not None}
        self._cache.store(admitted.scope, fresh)

    # -- respond ---------------------------------------------------------------------------
    def account(self, admitted: Admitted, records: Sequence[ItemRecord]) -> None:
        """Per-item metrics, and one log line per failed item (not_cached is an answer, not a fault)."""
        model_id = admitted.runtime.model_id
        for code, count in Counter(record.code for record in records).items():
            self._metrics.items.labels(model_id, item_code_name(code)).inc(count)
        for record in records:
            if record.code not in (pb.ITEM_CODE_OK, pb.ITEM_CODE_NOT_CACHED):
                level = logging.ERROR if record.code == pb.ITEM_CODE_INTERNAL else logging.WARNING
                event(log, "item_failed", level, model=model_id, index=record.index,
                      code=item_code_name(record.code), reason=record.message, sha256=record.sha256[:16])

    @staticmethod
    def respond(admitted: Admitted, request: pb.EmbedRequest, records: Sequence[ItemRecord]) -> pb.EmbedResponse:
        """Results in request order with the provenance of every vector."""
        runtime, encoder = admitted.runtime, admitted.runtime.encoder
        response = pb.EmbedResponse(
            model=runtime.model_id, dim=admitted.dim, request_id=request.request_id,
            provenance=Provenance(
                model_id=runtime.model_id, weights_digest=encoder.weights_digest,
                preprocess_digest=encoder.preprocess_digest, embedding_spec=admitted.spec,
                dtype=runtime.dtype_name, server_version=__version__, random_weights=encoder.random_weights,
                vector_identity=admitted.scope.vector_identity, volume=admitted.volume.identity()).to_proto(),
        )
        for record in records:  # results.add: a third of the time of building each ItemResult apart
            record.add_to(response.results)
        return response


def _computed(record: ItemRecord, outputs: Sequence[object]) -> ItemRecord:
    """The item settled from its inputs' forward outputs: the first failure fails it; otherwise its
    [dim] vector, or under volume options its SliceVectors."""
    for output in outputs:
        if isinstance(output, ItemExpired):
            return record.failed(pb.ITEM_CODE_TIMEOUT, "deadline passed before the item was computed")
        if isinstance(output, BaseException):
            return record.failed(pb.ITEM_CODE_INTERNAL, f"forward failed: {output!r}")
    if isinstance(record.tensor, SliceInputs):
        return record.succeeded(SliceVectors.from_slice_vectors(record.tensor, list(outputs)))
    return record.succeeded(outputs[0])


def settle(records: Records, outcomes: dict[str, FlightOutcome]) -> tuple[Records, int]:
    """Unsettled records whose digest has an outcome take it; returns the records and how many took one."""
    taken = 0
    settled = []
    for record in records:
        outcome = None if record.settled else outcomes.get(record.sha256)
        if outcome is None:
            settled.append(record)
        else:
            settled.append(record.adopting(outcome))
            taken += 1
    return settled, taken
