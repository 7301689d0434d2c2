"""One Embed request, stage by stage: admit, hash, cache lookup, single-flight, decode and
preprocess, compute, store, respond.

The door (`admit`, admission.py) checks the request and converts it once into a typed, immutable
`request.EmbedCall`; every later stage reads only that and the request's item records
(items.ItemRecord, immutable), each returning new records; `to_response` builds the wire answer
at the end. `run` calls the stages in order. A bad item settles with its own code at the stage
that finds the fault and skips the rest; only admission refuses a whole request (`Rejected`).
The stages that want their own parts live beside this module: cache_stage.py (lookup, store),
flights.py (single-flight), model_inputs.py (decode and preprocess).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager

import grpc

from medembed_decode import DecodeLimits
from medembed_proto import item_code_name
from medembed_proto.v1 import encoder_pb2 as pb

from .admission import Rejected, admit
from .batcher import ItemExpired, QueueFull
from .cache import CacheFront
from .cache_stage import CacheStage
from .config import Settings
from .decode_pool import DecodePool
from .flights import ItemFlights, settle, unsettled_by_digest
from .items import ByDigest, ItemRecord, Records, read_items
from .logs import event
from .metrics import EncoderMetrics
from .model_inputs import ModelInputs
from .registry import ModelRegistry
from .request import EmbedCall, to_response
from .runtime import ModelRuntime
from .slices import SliceInputs, SliceVectors

log = logging.getLogger(__name__)
MAX_FLIGHT_ROUNDS = 3
INLINE_HASH_BYTES = 256 * 1024  # below this, hashing on the loop costs less than the hop to a thread


class EmbedPipeline:
    """The Embed stages over shared parts: models, decode processes, preprocessing threads, cache."""

    def __init__(self, settings: Settings, registry: ModelRegistry, metrics: EncoderMetrics,
                 threads: Executor, decoder: DecodePool, cache: CacheFront) -> None:
        self._settings = settings
        self._registry = registry
        self._metrics = metrics
        self._threads = threads
        self._cache = CacheStage(cache)
        self._flights = ItemFlights()
        limits = DecodeLimits(settings.max_image_bytes, settings.max_pixels, settings.min_side,
                              settings.max_aspect_ratio, settings.max_volume_bytes, settings.max_volume_voxels,
                              settings.max_volume_slices, settings.max_archive_members)
        self._inputs = ModelInputs(decoder, threads, limits, metrics)
        self.draining = False

    @property
    def digest_lookup(self) -> bool:
        """Whether items may carry only their digest (on, and there is a cache to answer them)."""
        return self._settings.digest_lookup and self._cache.enabled

    async def run(self, call: EmbedCall, *, wait_for_queue: bool = False) -> pb.EmbedResponse:
        """All stages after the door for one admitted request. Raises Rejected (a full queue); every
        other fault settles its item with a code."""
        async with self._queue_room(call.runtime, len(call.items), wait_for_queue):
            records = await self.hash(call)
            records = await self._cache.look_up(call, records)
            records = await self.compute_once(call, records)
        self.account(call, records)
        return to_response(call, records)

    # -- admit (the door) ------------------------------------------------------------------
    def admit(self, request: pb.EmbedRequest, time_remaining: float | None = None) -> EmbedCall:
        """The request as an EmbedCall after the whole-request checks (admission.admit); raises
        Rejected with the gRPC status to return. `time_remaining`: seconds left of the caller's deadline."""
        return admit(request, self._registry, self._settings, draining=self.draining, time_remaining=time_remaining)

    # -- hash ------------------------------------------------------------------------------
    async def hash(self, call: EmbedCall) -> Records:
        """One record per item with its content digest; big payloads are hashed off the event loop."""
        if call.payload_bytes < INLINE_HASH_BYTES:
            return read_items(call.items, self.digest_lookup)
        return await asyncio.get_running_loop().run_in_executor(self._threads, read_items, call.items,
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

    # -- single-flight, decode and preprocess, compute, store ------------------------------
    async def compute_once(self, call: EmbedCall, records: Records) -> Records:
        """Each distinct unsettled image is computed once, shared with identical items of this
        request and of concurrent requests (single-flight), and stored."""
        shared = self._metrics.singleflight_shared.labels(call.runtime.model_id)
        for _ in range(MAX_FLIGHT_ROUNDS):
            pending = unsettled_by_digest(records)
            if not pending:
                return records
            leading, following = self._flights.join(call.scope, pending)
            computed: ByDigest = {}
            try:
                computed = await self._inputs.prepare(call, leading)
                computed = await self.compute(call, computed)
            finally:
                self._flights.land(call.scope, leading, computed)
            self._cache.store(call, computed)
            records, count = settle(records, {d: r.outcome() for d, r in computed.items()})
            shared.inc(count - len(computed))
            records, count = settle(records, await self._flights.follow(following))
            shared.inc(count)
        return [r if r.settled else r.failed(pb.ITEM_CODE_INTERNAL, "identical item kept failing in another request")
                for r in records]

    @staticmethod
    async def compute(call: EmbedCall, records: ByDigest) -> ByDigest:
        """The preprocessed items through the model's batcher (ModelRuntime.submit)."""
        ready = {digest: record for digest, record in records.items() if not record.settled}
        if not ready:
            return records
        # Under volume options an item is several inputs (its slices): all go to the batcher at once.
        inputs = [r.tensor.tensors if call.sliced else (r.tensor,) for r in ready.values()]
        futures = call.runtime.submit([t for item in inputs for t in item], call.spec, call.deadline, bulk=call.bulk)
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

    # -- account (then respond: request.to_response) ---------------------------------------
    def account(self, call: EmbedCall, records: Sequence[ItemRecord]) -> None:
        """Per-item metrics, and one log line per failed item (not_cached is an answer, not a fault)."""
        model_id = call.runtime.model_id
        for code, count in Counter(record.code for record in records).items():
            self._metrics.items.labels(model_id, item_code_name(code)).inc(count)
        for record in records:
            if record.code not in (pb.ITEM_CODE_OK, pb.ITEM_CODE_NOT_CACHED):
                level = logging.ERROR if record.code == pb.ITEM_CODE_INTERNAL else logging.WARNING
                event(log, "item_failed", level, model=model_id, index=record.index,
                      code=item_code_name(record.code), reason=record.message, sha256=record.sha256[:16])


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
