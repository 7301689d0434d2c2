"""Dynamic batching: items of all concurrent requests coalesce into batches for one forward.

A batch starts when it is full (max_batch_size), when its oldest item has waited
max_queue_delay_ms, or at once when no batch of this model is computing (waiting would only leave
the device idle). Up to `workers` batches compute at the same time, each in one of the model's
forward threads (on a CPU, two forwards of one intra-op thread each beat one forward over two
threads). Items whose deadline passed or whose caller went away are dropped before compute. Online
items go first, but every batch keeps a quarter of its slots for waiting bulk items, so bulk work
is never starved. The event loop only moves items around.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .logs import event
from .metrics import EncoderMetrics

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """Admitting the items would exceed max_queue_items."""


class ItemExpired(Exception):
    """The item's deadline passed before it was computed."""


@dataclass(frozen=True)
class BatchLimits:
    """How big a batch may grow, how long an item may wait for one, how many items may queue."""

    max_batch_size: int
    max_queue_delay_s: float
    max_queue_items: int
    start_when_idle: bool = True  # no batch computing: start at once rather than wait to fill


class QueueBudget:
    """Items admitted to one model and not yet finished, across all its batchers."""

    def __init__(self, model_id: str, limit: int, metrics: EncoderMetrics) -> None:
        self.model_id = model_id
        self.limit = limit
        self.in_queue = 0
        self._gauge = metrics.queue_depth.labels(model_id)
        self._freed = asyncio.Condition()

    def reserve(self, count: int) -> None:
        """Admit `count` items; raises QueueFull when they would take the model past `limit`."""
        if self.in_queue + count > self.limit:
            raise QueueFull(f"model {self.model_id!r} queue is full ({self.in_queue}/{self.limit} items)")
        self.in_queue += count
        self._gauge.set(self.in_queue)

    async def reserve_when_free(self, count: int) -> None:
        """For streams: wait for room instead of failing (backpressure, not errors)."""
        if count > self.limit:
            raise QueueFull(f"{count} items can never fit model {self.model_id!r}'s queue of {self.limit}")
        async with self._freed:
            await self._freed.wait_for(lambda: self.in_queue + count <= self.limit)
            self.reserve(count)

    def release(self, count: int) -> None:
        """Give back the room of `count` finished items and wake the streams waiting for it (needs a running
        event loop)."""
        self.in_queue -= count
        self._gauge.set(self.in_queue)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._freed:
            self._freed.notify_all()


@dataclass
class PendingItem:
    """One item waiting for a batch: what the forward takes, and where its vector goes."""

    payload: Any
    future: asyncio.Future[np.ndarray]
    deadline: float | None  # event-loop time
    bulk: bool
    enqueued_at: float = field(default_factory=time.perf_counter)


class DynamicBatcher:
    """Coalesces the items of one (model, spec) into batches and runs `forward(payloads, spec)` on each.

    `forward(payloads, spec) -> [len(payloads), dim]` runs in `executor`, at most `workers` at a time
    (the executor should have that many threads).
    """

    def __init__(self, model_id: str, spec: str, forward: Callable[[Sequence[Any], str], np.ndarray],
                 executor: Executor, limits: BatchLimits, metrics: EncoderMetrics, workers: int = 1) -> None:
        self.model_id = model_id
        self.spec = spec
        self._forward = forward
        self._executor = executor
        self._limits = limits
        self._metrics = metrics
        self._online: deque[PendingItem] = deque()
        self._bulk: deque[PendingItem] = deque()
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._free_workers = asyncio.Semaphore(workers)
        self._computing: set[asyncio.Task[None]] = set()
        self.last_progress = time.monotonic()

    def start(self) -> asyncio.Task[None]:
        """Start the batching loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.model_id}")
        return self._task

    async def stop(self) -> None:
        """Stop the loop and abandon the batches computing (their threads finish unobserved)."""
        tasks = [t for t in (self._task, *self._computing) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def waiting(self) -> int:
        """Items queued (online and bulk) and not yet taken into a batch."""
        return len(self._online) + len(self._bulk)

    def submit(self, payloads: Sequence[Any], deadline: float | None, bulk: bool) -> list[asyncio.Future[np.ndarray]]:
        """Queue items; each future gets its [dim] vector, ItemExpired, or the forward's exception.
        `deadline` is in event-loop time (None: none); cancelling a future drops its item."""
        loop = asyncio.get_running_loop()
        if not self.waiting:
            self.last_progress = time.monotonic()  # the stall clock starts when work arrives
        queue = self._bulk if bulk else self._online
        futures = []
        for payload in payloads:
            future: asyncio.Future[np.ndarray] = loop.create_future()
            queue.append(PendingItem(payload, future, deadline, bulk))
            futures.append(future)
        self._arrived.set()
        return futures

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.waiting:
                self._arrived.clear()
                await self._arrived.wait()
            await self._free_workers.acquire()
            if self._computing or not self._limits.start_when_idle:  # let the batch fill, up to the delay
                await self._wait_for_batch()
            batch = self._take_batch(loop.time())
            if not batch:
                self._free_workers.release()
                continue
            task = loop.create_task(self._compute(loop, batch))
            self._computing.add(task)
            task.add_done_callback(self._computed)

    def _computed(self, task: asyncio.Task[None]) -> None:
        self._computing.discard(task)
        self._free_workers.release()

    async def _wait_for_batch(self) -> None:
        if not self.waiting:
            return
        oldest = min(queue[0].enqueued_at for queue in (self._online, self._bulk) if queue)
        while self.waiting < self._limits.max_batch_size:
            remaining = oldest + self._limits.max_queue_delay_s - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self, now: float) -> list[PendingItem]:
        size = self._limits.max_batch_size
        bulk_share = max(1, size // 4) if self._bulk else 0
        batch: list[PendingItem] = []
        self._take_from(self._online, size - min(bulk_share, len(self._bulk)), now, batch)
        self._take_from(self._bulk, size - len(batch), now, batch)
        self._take_from(self._online, size - len(batch), now, batch)
        return batch

    def _take_from(self, queue: deque[PendingItem], count: int, now: float, batch: list[PendingItem]) -> None:
        taken = 0
        while queue and taken < count:
            item = queue.popleft()
            if item.future.done():  # the caller was cancelled and gave up on it
                self._metrics.items_dropped.labels(self.model_id, "cancelled").inc()
                continue
            if item.deadline is not None and now >= item.deadline:
                self._metrics.items_dropped.labels(self.model_id, "expired").inc()
                item.future.set_exception(ItemExpired("deadline passed before compute"))
                continue
            batch.append(item)
            taken += 1

    async def _compute(self, loop: asyncio.AbstractEventLoop, batch: list[PendingItem]) -> None:
        started = time.perf_counter()
        for item in batch:
            self._metrics.queue_wait.labels(self.model_id).observe(started - item.enqueued_at)
        self._metrics.batch_size.labels(self.model_id).observe(len(batch))
        try:
            vectors = await loop.run_in_executor(self._executor, self._forward, [i.payload for i in batch], self.spec)
        except Exception as exc:  # one failed forward fails its items, never the batcher
            event(log, "batch_failed", logging.ERROR, model=self.model_id, size=len(batch), error=repr(exc))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        else:
            self._metrics.forward_items.labels(self.model_id).inc(len(batch))
            for item, vector in zip(batch, vectors, strict=True):
                if not item.future.done():
                    item.future.set_result(vector)
        finally:
            self._metrics.inference.labels(self.model_id).observe(time.perf_counter() - started)
            self.last_progress = time.monotonic()

    def stalled(self, stall_seconds: float) -> bool:
        """Items are waiting yet no batch finished for stall_seconds, or the loop died."""
        if self._task is not None and self._task.done():
            return True
        return self.waiting > 0 and time.monotonic() - self.last_progress > stall_seconds
