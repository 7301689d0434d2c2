import asyncio
import time

import numpy as np

from medembed_encoder.cache.backends import DiskBackend
from medembed_encoder.cache.breaker import CircuitBreaker
from medembed_encoder.cache.front import CacheFront
from medembed_encoder.cache.keys import KeyScope
from medembed_encoder.cache.singleflight import FlightAbandoned, FlightOutcome, SingleFlight
from medembed_encoder.metrics import EncoderMetrics

SCOPE = KeyScope("m", "sha256:v", "default")


def test_every_part_of_the_scope_changes_the_key():
    base = SCOPE.key("abc")
    assert base == "medembed:v1:m:sha256:v:default:abc"
    variants = [KeyScope("m2", "sha256:v", "default"), KeyScope("m", "sha256:v2", "default"),
                KeyScope("m", "sha256:v", "pre")]
    assert len({v.key("abc") for v in variants} | {base, SCOPE.key("abd")}) == 5


def test_breaker_opens_after_failures_and_closes_after_a_good_trial():
    breaker = CircuitBreaker(failures_to_open=2, cooldown_s=0.05)
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.is_open and not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow()  # one trial
    assert not breaker.allow()  # and only one
    breaker.record_success()
    assert not breaker.is_open and breaker.allow()


class FailingBackend:
    name = "failing"

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    async def get_many(self, keys):
        self.calls += 1
        await asyncio.sleep(self.delay)
        raise ConnectionError("down")

    async def set_many(self, entries):
        raise ConnectionError("down")

    async def close(self):
        return None


async def test_a_failing_or_slow_backend_only_costs_misses():
    metrics = EncoderMetrics()
    slow = CacheFront(FailingBackend(delay=5), metrics, timeout_s=0.05)
    started = time.perf_counter()
    assert await slow.lookup(SCOPE, ["a", "b"], 4) == {}
    assert time.perf_counter() - started < 1
    failing = FailingBackend()
    front = CacheFront(failing, metrics, timeout_s=0.05, breaker=CircuitBreaker(2, 60))
    for _ in range(5):
        assert await front.lookup(SCOPE, ["a"], 4) == {}
    assert failing.calls == 2  # the breaker stopped calling it
    assert metrics.cache_circuit_open._value.get() == 1
    front.store(SCOPE, {"a": np.zeros(4, np.float32)})  # never raises
    await front.close()


async def test_disk_backend_round_trip_and_length_check(tmp_path):
    front = CacheFront(DiskBackend(tmp_path, ttl_s=3600), EncoderMetrics(), timeout_s=2)
    vector = np.arange(4, dtype=np.float32)
    front.store(SCOPE, {"abc": vector})
    await front.close()
    hits = await front.lookup(SCOPE, ["abc", "missing"], 4)
    np.testing.assert_array_equal(hits["abc"], vector)
    assert await front.lookup(SCOPE, ["abc"], 8) == {}  # wrong length for dim 8: a miss


async def test_single_flight_leader_and_followers():
    flights = SingleFlight()
    assert flights.join("k") is None  # leader
    follower = flights.join("k")
    assert follower is not None and flights.in_flight == 1
    flights.land("k", FlightOutcome(1, "", np.ones(2)))
    assert (await follower).vector.tolist() == [1, 1]
    assert flights.join("k") is None  # a new flight after landing
    abandoned = flights.join("k")
    flights.land("k", None)
    try:
        await abandoned
        raise AssertionError("expected FlightAbandoned")
    except FlightAbandoned:
        pass
