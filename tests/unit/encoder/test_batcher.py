import asyncio
import threading

import numpy as np
import pytest

from medembed_encoder.batcher import BatchLimits, DynamicBatcher, ItemExpired, QueueBudget, QueueFull
from medembed_encoder.metrics import EncoderMetrics


class RecordingForward:
    """A forward that records each batch it is given (the spec and the thread it ran on too)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.specs: set[str] = set()
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def __call__(self, payloads, spec):
        self.batches.append(list(payloads))
        self.specs.add(spec)
        self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and self.fail_on in payloads:
            raise RuntimeError("boom")
        return np.array([[p, p] for p in payloads], dtype=np.float32)


def make(forward, max_batch=4, delay=0.05, executor=None, workers=1, spec="cls"):
    from concurrent.futures import ThreadPoolExecutor

    metrics = EncoderMetrics()
    batcher = DynamicBatcher("m", spec, forward, executor or ThreadPoolExecutor(workers, "fwd"),
                             BatchLimits(max_batch, delay, 100), metrics, workers=workers)
    return batcher, metrics


class GatedForward(RecordingForward):
    """A forward that holds each batch until released, counting how many run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, payloads, spec):
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            self.release.wait(5)
            return super().__call__(payloads, spec)
        finally:
            with self._lock:
                self.running -= 1


async def test_an_idle_batcher_starts_at_once_and_a_busy_one_lets_the_batch_fill():
    forward = GatedForward()
    batcher, _ = make(forward, max_batch=8, delay=0.2)
    batcher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = batcher.submit([1], None, bulk=False)
    await asyncio.sleep(0.05)
    assert forward.running == 1  # started long before the 0.2 s queue delay
    later = [batcher.submit([n], None, bulk=False) for n in (2, 3)]
    forward.release.set()
    await asyncio.gather(*first, *(f for futures in later for f in futures))
    assert forward.batches == [[1], [2, 3]]  # 2 and 3 waited together while 1 computed
    assert loop.time() - started < 2.0
    await batcher.stop()


async def test_batches_compute_concurrently_up_to_the_worker_count():
    forward = GatedForward()
    batcher, _ = make(forward, max_batch=2, delay=0.0, workers=2)
    batcher.start()
    futures = batcher.submit([1, 2, 3, 4, 5, 6], None, bulk=False)
    await asyncio.sleep(0.1)
    assert forward.running == 2  # two batches at once, the third waits for a free worker
    forward.release.set()
    results = await asyncio.gather(*futures)
    assert [r[0] for r in results] == [1, 2, 3, 4, 5, 6]
    assert forward.most_running == 2
    assert sorted(map(sorted, forward.batches)) == [[1, 2], [3, 4], [5, 6]]
    await batcher.stop()


async def test_items_of_concurrent_requests_coalesce_and_big_requests_split():
    forward = RecordingForward()
    batcher, _ = make(forward, max_batch=4, delay=0.05)
    batcher.start()
    first = batcher.submit([1], None, bulk=False)
    second = batcher.submit([2, 3], None, bulk=False)
    big = batcher.submit([10, 11, 12, 13, 14, 15], None, bulk=False)
    results = await asyncio.gather(*first, *second, *big)
    assert [r[0] for r in results] == [1, 2, 3, 10, 11, 12, 13, 14, 15]
    assert all(len(b) <= 4 for b in forward.batches)
    assert forward.batches[0] == [1, 2, 3, 10]
    assert forward.threads == {"fwd_0"}  # never on the event loop's thread
    await batcher.stop()


async def test_every_batch_is_computed_for_the_batchers_own_spec():
    forward = RecordingForward()
    batcher, _ = make(forward, max_batch=2, delay=0.01, spec="patch_mean")
    batcher.start()
    await asyncio.gather(*batcher.submit([1, 2, 3], None, bulk=False))
    assert forward.specs == {"patch_mean"}
    assert len(forward.batches) == 2
    await batcher.stop()


async def test_waits_at_most_the_queue_delay_for_a_partial_batch():
    forward = RecordingForward()
    batcher, _ = make(forward, max_batch=64, delay=0.05)
    batcher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*batcher.submit([1], None, bulk=False))
    assert loop.time() - started < 2.0  # not blocked waiting for 63 more items
    assert forward.batches == [[1]]
    await batcher.stop()


async def test_expired_and_cancelled_items_are_dropped_before_compute():
    forward = RecordingForward()
    batcher, metrics = make(forward, max_batch=8, delay=0.1)
    loop = asyncio.get_running_loop()
    expired = batcher.submit([1], loop.time() - 0.001, bulk=False)  # an idle batcher starts at once
    cancelled = batcher.submit([2], None, bulk=False)
    kept = batcher.submit([3], None, bulk=False)
    cancelled[0].cancel()
    batcher.start()
    assert (await kept[0])[0] == 3
    with pytest.raises(ItemExpired):
        await expired[0]
    assert forward.batches == [[3]]
    assert metrics.items_dropped.labels("m", "expired")._value.get() == 1
    assert metrics.items_dropped.labels("m", "cancelled")._value.get() == 1
    await batcher.stop()


async def test_online_first_but_bulk_is_never_starved():
    forward = RecordingForward()
    batcher, _ = make(forward, max_batch=4, delay=0.01)
    bulk = batcher.submit([100, 101, 102], None, bulk=True)
    online = batcher.submit(list(range(12)), None, bulk=False)
    batcher.start()
    await asyncio.gather(*bulk, *online)
    assert forward.batches[0] == [0, 1, 2, 100]  # three online slots, one kept for bulk
    assert all(any(p >= 100 for p in b) for b in forward.batches[:3])


async def test_a_failing_forward_fails_its_items_only():
    forward = RecordingForward(fail_on=2)
    batcher, _ = make(forward, max_batch=2, delay=0.01)
    batcher.start()
    results = await asyncio.gather(*batcher.submit([1, 2, 3], None, bulk=False), return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], RuntimeError)
    assert results[2][0] == 3
    assert not batcher.stalled(60)
    await batcher.stop()


async def test_queue_budget_refuses_or_waits():
    budget = QueueBudget("m", 4, EncoderMetrics())
    budget.reserve(3)
    with pytest.raises(QueueFull):
        budget.reserve(2)
    waiter = asyncio.ensure_future(budget.reserve_when_free(2))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    budget.release(3)
    await asyncio.wait_for(waiter, 1)
    assert budget.in_queue == 2
    with pytest.raises(QueueFull):
        await budget.reserve_when_free(5)
