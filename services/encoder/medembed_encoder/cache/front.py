"""CacheFront: what the service talks to. It never fails or stalls an RPC: every backend call is
bounded by a timeout and guarded by a circuit breaker, and any problem only costs misses (counted
in metrics and logged when the breaker changes state). Every value is sealed before it is
stored and opened after it is read (mac.py): a value no configured secret vouches for — forged,
tampered, replayed under another key or identity, or raw — is a miss, counted
(`medembed_cache_errors_total{operation="get",reason="mac_failed"}`) and logged once per interval.
A value that passes but is not a vector of `dim` finite float32s — wrong length, NaN, inf — is a
miss and an error metric too. Either way the item is computed again and its fresh vector
overwrites the bad value."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np

from ..logs import IntervalSummary, event
from ..metrics import EncoderMetrics
from ..slices import SliceVectors, checked_slice_vectors, stored_value
from .backends import CacheBackend
from .breaker import CircuitBreaker
from .keys import KeyScope
from .mac import CacheSealer, Verdict

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_PENDING_WRITE_ITEMS = 20_000
MAC_LOG_INTERVAL_S = 10.0


def checked_vectors(values: dict[str, bytes], dim: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The stored values that are vectors of `dim` finite float32s, by digest, and why each other
    one cannot be one (`bad_length`, `non_finite`). Checked in one numpy pass over all of them."""
    problems = {digest: "bad_length" for digest, value in values.items() if len(value) != 4 * dim}
    sized = [digest for digest in values if digest not in problems]
    if not sized:
        return {}, problems
    # One read-only [N, dim] view: a served vector is never changed.
    block = np.frombuffer(b"".join(values[digest] for digest in sized), dtype="<f4").reshape(len(sized), dim)
    finite = np.isfinite(block).all(axis=1)  # NaN or inf: no model we serve outputs them for a valid image
    vectors = {}
    for digest, row, ok in zip(sized, block, finite, strict=True):
        if ok:
            vectors[digest] = row
        else:
            problems[digest] = "non_finite"
    return vectors, problems


class CacheFront:
    """The cache in front of `backend` (None: caching off). Every backend call is bounded by `timeout_s`
    seconds and the circuit breaker; a failure is a miss, counted in `metrics`, never an error.
    `sealer` seals and opens the values (default: no secret, values unauthenticated); refused
    values are summarised in the log once per `mac_log_interval_s` seconds."""

    def __init__(self, backend: CacheBackend | None, metrics: EncoderMetrics, timeout_s: float,
                 breaker: CircuitBreaker | None = None, sealer: CacheSealer | None = None,
                 mac_log_interval_s: float = MAC_LOG_INTERVAL_S) -> None:
        self.backend = backend
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._breaker = breaker or CircuitBreaker()
        self.sealer = sealer or CacheSealer(None)
        self._mac_log = IntervalSummary(
            log, "cache_values_rejected", "rejected", ("model", "verdict"), mac_log_interval_s,
            backend=self.description, meaning="values no configured cache MAC secret vouches for (forged, tampered, "
            "replayed or written without the secret): served as misses and overwritten")
        self._pending_writes: set[asyncio.Task[None]] = set()
        self._pending_items = 0
        metrics.cache_circuit_open.set(0)

    @property
    def enabled(self) -> bool:
        """False when caching is off (`--cache-url none`)."""
        return self.backend is not None

    @property
    def description(self) -> str:
        """The backend's name for logs: `redis`, `disk`, or `none` when caching is off."""
        return self.backend.name if self.backend is not None else "none"

    async def _guarded(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        if not self._breaker.allow():
            self._metrics.cache_errors.labels(operation, "circuit_open").inc()
            return None
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(call(), self._timeout_s)
        except Exception as exc:  # timeouts, connection errors, disk errors: all only cost misses
            was_open = self._breaker.is_open
            self._breaker.record_failure()
            self._metrics.cache_errors.labels(operation, type(exc).__name__).inc()
            if self._breaker.is_open and not was_open:
                self._metrics.cache_circuit_open.set(1)
                event(log, "cache_circuit_opened", logging.WARNING, backend=self.description, operation=operation,
                      error=repr(exc))
            return None
        finally:
            self._metrics.cache_operation_seconds.labels(operation).observe(time.perf_counter() - started)
        if self._breaker.is_open:
            self._metrics.cache_circuit_open.set(0)
            event(log, "cache_circuit_closed", backend=self.description)
        self._breaker.record_success()
        return result

    async def lookup(self, scope: KeyScope, digests: list[str], dim: int,
                     volume: bool = False) -> dict[str, np.ndarray] | dict[str, SliceVectors]:
        """One MGET for the distinct digests; returns the valid hits by digest: [dim] vectors, or
        with `volume` (a request with volume options) SliceVectors."""
        if self.backend is None or not digests:
            return {}
        backend = self.backend
        values = await self._guarded("get", lambda: backend.get_many([scope.key(d) for d in digests]))
        stored = {digest: value for digest, value in zip(digests, values or [None] * len(digests), strict=True)
                  if value is not None}
        payloads, resealed = self._opened(scope, stored)
        hits, problems = checked_slice_vectors(payloads, dim) if volume else checked_vectors(payloads, dim)
        for problem in problems.values():  # never hand out a vector we cannot vouch for; the fresh one overwrites it
            self._metrics.cache_errors.labels("get", problem).inc()
        self._metrics.cache_hits.labels(scope.model_id).inc(len(hits))
        self._metrics.cache_misses.labels(scope.model_id).inc(len(digests) - len(hits))
        # Vouched for by the previous secret (rotation): sealed again under the current one, so
        # they stay hits once the previous secret's grace period ends.
        self.store(scope, {digest: stored_value(hits[digest]) for digest in resealed if digest in hits})
        return hits

    def _opened(self, scope: KeyScope, stored: dict[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
        """The payloads a configured secret vouches for, by digest, and the digests vouched for by the
        previous secret only; every other value is counted, logged (summarised) and left out."""
        payloads: dict[str, bytes] = {}
        resealed: list[str] = []
        for digest, value in stored.items():
            opened = self.sealer.open(scope.key(digest), scope.vector_identity, value)
            if opened.payload is not None:
                payloads[digest] = opened.payload
                if opened.verdict is Verdict.PREVIOUS:
                    resealed.append(digest)
                continue
            self._metrics.cache_errors.labels("get", "mac_failed").inc()
            self._mac_log.record((scope.model_id, opened.verdict.value))
        return payloads, resealed

    def store(self, scope: KeyScope, vectors: dict[str, np.ndarray]) -> None:
        """Pipelined SET EX in the background, off the response path; dropped (and counted) when
        the write backlog is full. `vectors`: the float32 value per digest ([dim], or a volume
        result's SliceVectors.packed())."""
        if self.backend is None or not vectors:
            return
        if self._pending_items + len(vectors) > MAX_PENDING_WRITE_ITEMS:
            self._metrics.cache_errors.labels("set", "backlog_full").inc(len(vectors))
            return
        entries = {}
        for digest, vector in vectors.items():
            key = scope.key(digest)
            entries[key] = self.sealer.seal(key, scope.vector_identity, np.asarray(vector, dtype="<f4").tobytes())
        backend = self.backend
        self._pending_items += len(entries)

        async def write() -> None:
            try:
                await self._guarded("set", lambda: backend.set_many(entries))
            finally:
                self._pending_items -= len(entries)

        task = asyncio.get_running_loop().create_task(write())
        self._pending_writes.add(task)
        task.add_done_callback(self._pending_writes.discard)

    async def close(self) -> None:
        """Wait up to 2 s for the background writes, then close the backend."""
        self._mac_log.flush()
        if self._pending_writes:
            await asyncio.wait(self._pending_writes, timeout=2.0)
        if self.backend is not None:
            await self.backend.close()
