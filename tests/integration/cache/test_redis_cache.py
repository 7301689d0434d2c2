"""The vector cache against a real private redis-server and real encoder servers."""

from __future__ import annotations

import hashlib
import threading
import time

import numpy as np
import pytest

from helpers.images import png
from helpers.servers import start_server
from medembed_client import Client, RetryPolicy
from medembed_encoder.cache.keys import KeyScope

MODEL = "tiny-timm"
NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
def cached_server(private_redis, server_dir):
    server = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2)
    yield server
    server.stop()


def forwards(server) -> float:
    return server.metric("medembed_forward_items_total", model=MODEL)


def test_second_pass_is_all_hits_and_no_forwards(cached_server):
    images = [png(seed) for seed in range(24)]
    with Client(cached_server.target) as client:
        first = client.embed(images, MODEL)
        time.sleep(0.3)  # writes are pipelined in the background, off the response path
        computed = forwards(cached_server)
        second = client.embed(images, MODEL)
    assert not first.cache_hits.any() and computed == 24
    assert second.cache_hits.all()
    assert forwards(cached_server) == computed
    np.testing.assert_array_equal(first.vectors, second.vectors)
    assert cached_server.metric("medembed_cache_hits_total", model=MODEL) == 24


def test_skip_cache_bypasses_reads_but_still_writes(cached_server):
    images = [png(100 + seed) for seed in range(4)]
    with Client(cached_server.target) as client:
        client.embed(images, MODEL, skip_cache=True)
        time.sleep(0.3)
        again = client.embed(images, MODEL, skip_cache=True)
        assert not again.cache_hits.any()
        assert client.embed(images, MODEL).cache_hits.all()


def test_identical_items_are_computed_once(cached_server):
    image = png(7)
    with Client(cached_server.target, chunk_size=8, max_concurrency=4) as client:
        before = forwards(cached_server)
        result = client.embed([image] * 32, MODEL, skip_cache=True)  # 4 concurrent requests of 8 copies
    assert result.errors == {}
    assert forwards(cached_server) - before == 1
    assert cached_server.metric("medembed_singleflight_shared_items_total", model=MODEL) == 31
    assert np.all(result.vectors == result.vectors[0])


def test_corrupted_value_is_never_returned(cached_server, private_redis):
    image = png(55)
    with Client(cached_server.target) as client:
        model = next(m for m in client.list_models() if m.id == MODEL)
        identity = next(spec.vector_identity for spec in model.specs if spec.name == "default")
        key = KeyScope(MODEL, identity, "default").key(hashlib.sha256(image).hexdigest())  # the served identity
        private_redis.client().set(key, b"\x00" * 12)  # 3 floats: wrong length for this model
        result = client.embed([image], MODEL)
    assert not result.cache_hits[0]
    assert result.vectors.shape[1] == model.dim and np.isfinite(result.vectors).all()
    assert cached_server.metric("medembed_cache_errors_total", operation="get", reason="bad_length") == 1


def run_requests(target: str, stop: threading.Event, outcomes: list[str], seeds: range) -> None:
    with Client(target, retry=NO_RETRY, timeout_s=5) as client:
        index = 0
        while not stop.is_set():
            try:
                result = client.embed([png(seeds[index % len(seeds)])], MODEL)
                outcomes.append("hit" if result.cache_hits[0] else "miss")
            except Exception as exc:  # noqa: BLE001 - any failure is what the test looks for
                outcomes.append(f"error: {exc}")
            index += 1


def test_redis_killed_mid_stream_costs_misses_then_recovers(cached_server, private_redis):
    seeds = range(200, 210)
    with Client(cached_server.target) as client:
        client.embed([png(s) for s in seeds], MODEL)  # warm the cache
    stop, outcomes = threading.Event(), []
    worker = threading.Thread(target=run_requests, args=(cached_server.target, stop, outcomes, seeds))
    worker.start()
    time.sleep(1.0)
    private_redis.kill()
    killed_at = len(outcomes)
    time.sleep(2.0)
    stop.set()
    worker.join(30)
    assert not [o for o in outcomes if o.startswith("error")]
    assert "hit" in outcomes[:killed_at]
    assert outcomes[killed_at + 3:] and set(outcomes[killed_at + 3:]) == {"miss"}
    assert cached_server.metric("medembed_cache_circuit_open") == 1

    private_redis.start()  # same port, empty: the encoder reconnects by itself
    with Client(cached_server.target) as client:
        hits_back = False
        for _ in range(40):  # until the breaker's cooldown lets a trial through
            client.embed([png(300)], MODEL)
            time.sleep(0.2)
            if client.embed([png(300)], MODEL).cache_hits[0]:
                hits_back = True
                break
    assert hits_back
    assert cached_server.metric("medembed_cache_circuit_open") == 0


def test_paused_redis_never_stalls_requests(cached_server, private_redis):
    seeds = range(400, 405)
    with Client(cached_server.target) as client:
        client.embed([png(s) for s in seeds], MODEL)
    private_redis.pause()
    try:
        # Each request must finish well inside a deadline of cache timeout (0.1 s) + compute:
        # a server that waited on the frozen Redis would miss it.
        with Client(cached_server.target, retry=NO_RETRY, timeout_s=3) as client:
            results = [client.embed([png(s)], MODEL) for s in list(seeds) * 2]
        assert all(not r.errors and not r.cache_hits[0] for r in results)
    finally:
        private_redis.resume()
    with Client(cached_server.target) as client:
        hits_back = False
        for _ in range(40):
            if client.embed([png(seeds[0])], MODEL).cache_hits[0]:
                hits_back = True
                break
            time.sleep(0.2)
    assert hits_back


def test_two_servers_share_one_redis(cached_server, private_redis, server_dir):
    other = start_server(MODEL, server_dir, cache_url=private_redis.url)
    try:
        images = [png(500 + s) for s in range(6)]
        with Client(cached_server.target) as client:
            first = client.embed(images, MODEL)
        time.sleep(0.3)
        with Client(other.target) as client:
            second = client.embed(images, MODEL)
        assert second.cache_hits.all()
        assert other.metric("medembed_forward_items_total", model=MODEL) == 0
        np.testing.assert_array_equal(first.vectors, second.vectors)
    finally:
        other.stop()


def test_different_weights_never_share_vectors(private_redis, server_dir):
    """Two catalog ids of the same architecture with other seeds: same image, other key."""
    first = start_server("tiny-timm", server_dir, cache_url=private_redis.url)
    second = start_server("tiny-timm-seed1", server_dir, cache_url=private_redis.url)
    try:
        image = png(900)
        with Client(first.target) as client:
            a = client.embed([image], "tiny-timm")
        time.sleep(0.3)
        with Client(second.target) as client:
            b = client.embed([image], "tiny-timm-seed1")
        assert not b.cache_hits[0]
        assert a.provenance.weights_digest != b.provenance.weights_digest
        assert a.provenance.vector_identity != b.provenance.vector_identity
        assert not np.allclose(a.vectors, b.vectors)
        keys = sorted(k.decode() for k in private_redis.client().keys("medembed:v1:*"))
        assert len(keys) == 2 and keys[0].split(":")[-1] == keys[1].split(":")[-1]
    finally:
        first.stop()
        second.stop()


def test_on_disk_cache_is_the_default_and_survives_a_restart(server_dir, tmp_path):
    cache_dir = tmp_path / "vectors"
    images = [png(700 + s) for s in range(5)]
    server = start_server(MODEL, server_dir, env={"MEDEMBED_CACHE_URL": ""}, cache_dir=cache_dir)
    try:
        with Client(server.target) as client:
            first = client.embed(images, MODEL)
        time.sleep(0.3)
    finally:
        server.stop()
    assert '"cache": "disk"' in server.log()
    restarted = start_server(MODEL, server_dir, env={"MEDEMBED_CACHE_URL": ""}, cache_dir=cache_dir)
    try:
        with Client(restarted.target) as client:
            second = client.embed(images, MODEL)
        assert second.cache_hits.all()
        np.testing.assert_array_equal(first.vectors, second.vectors)
    finally:
        restarted.stop()
