"""Two encoder replicas behind one client target with round_robin: both get work, results equal a
single server's, and killing one mid-run loses no item (the client retries on the other)."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np

from helpers.images import png
from helpers.servers import WAIT_FOR_BATCHES, start_server
from medembed_client import Client, RetryPolicy

MODEL = "tiny-timm"


def test_round_robin_spreads_work_and_survives_a_replica_loss(tiny_server, server_dir):
    # Each request waits out a 100 ms batching window (even on an idle model), so the run below
    # lasts seconds.
    first = start_server(MODEL, server_dir, max_queue_delay_ms=100, max_batch_size=64, env=WAIT_FOR_BATCHES)
    second = start_server(MODEL, server_dir, max_queue_delay_ms=100, max_batch_size=64, env=WAIT_FOR_BATCHES)
    try:
        target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
        images = [png(seed) for seed in range(64)]
        with Client(tiny_server.target) as single:
            expected = single.embed(images, MODEL).vectors
        with Client(target, chunk_size=4, max_concurrency=2) as client:
            spread = client.embed(images, MODEL)
        np.testing.assert_allclose(spread.vectors, expected, atol=1e-6)
        assert first.metric("medembed_forward_items_total", model=MODEL) > 0
        assert second.metric("medembed_forward_items_total", model=MODEL) > 0

        many = [png(1000 + seed) for seed in range(240)]
        result: dict[str, object] = {}

        def embed_many() -> None:
            with Client(target, chunk_size=4, max_concurrency=2,
                        retry=RetryPolicy(max_attempts=10, initial_backoff_s=0.05)) as client:
                result["value"] = client.embed(many, MODEL)

        worker = threading.Thread(target=embed_many)
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive()  # the replica dies mid-run
        first.stop(signal.SIGKILL)
        worker.join(120)
        embedded = result["value"]
        assert embedded.errors == {}
        assert np.isfinite(embedded.vectors).all() and embedded.vectors.shape[0] == 240
        with Client(tiny_server.target) as single:
            np.testing.assert_allclose(embedded.vectors, single.embed(many, MODEL).vectors, atol=1e-6)
    finally:
        first.stop()
        second.stop()
