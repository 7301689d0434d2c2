"""64 default Clients against a queue of 64 items: the server refuses most requests
(RESOURCE_EXHAUSTED), every client keeps retrying until its deadline, and every call completes with
the right vectors. Refusals are logged as one summary line per interval, so the log stays small.

MEDEMBED_TEST_OVERLOAD_S sets how long the storm lasts (default 15 s; the issue's figure is 60).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from helpers.images import png
from helpers.servers import start_server
from medembed_client import Client

MODEL = "tiny-timm"
CLIENTS = 64
QUEUE_ITEMS = 64
ITEMS_PER_CALL = 8
POOL = 32
STORM_S = float(os.environ.get("MEDEMBED_TEST_OVERLOAD_S", "15"))
LOG_LIMIT_BYTES = 32 * 1024  # for the whole storm, whatever its length: about 1 KB per summary line


def test_64_clients_against_a_queue_of_64_all_complete_with_right_vectors(tiny_server, server_dir):
    images = [png(7000 + seed) for seed in range(POOL)]
    with Client(tiny_server.target) as single:
        expected = single.embed(images, MODEL).vectors
    server = start_server(MODEL, server_dir, max_queue_items=QUEUE_ITEMS, max_items_per_request=16,
                          max_queue_delay_ms=5, max_batch_size=32)
    try:
        log_before = server.log_path.stat().st_size
        calls, failures, wrong = [0] * CLIENTS, [0] * CLIENTS, [0] * CLIENTS
        errors: list[str] = []
        stop = threading.Event()

        def run(slot: int) -> None:
            with Client(server.target, chunk_size=ITEMS_PER_CALL) as client:  # default retry and timeout
                call = 0
                while not stop.is_set():
                    rows = [(slot * 3 + call * 5 + k) % POOL for k in range(ITEMS_PER_CALL)]
                    call += 1
                    try:
                        result = client.embed([images[row] for row in rows], MODEL)
                    except Exception as exc:  # counted; the assertion below reports them
                        failures[slot] += 1
                        errors.append(repr(exc))
                        continue
                    calls[slot] += 1
                    if result.errors or not np.allclose(result.vectors, expected[rows], atol=1e-5):
                        wrong[slot] += 1

        workers = [threading.Thread(target=run, args=(slot,)) for slot in range(CLIENTS)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        time.sleep(STORM_S)
        stop.set()
        for worker in workers:
            worker.join(300)  # a call in its retry loop finishes before its client stops
        seconds = time.monotonic() - started
        refused = server.metric("medembed_rejected_requests_total", code="RESOURCE_EXHAUSTED")
        server.stop()
        storm_log = server.log_path.stat().st_size - log_before

        print(f"{CLIENTS} clients, {seconds:.0f} s: {sum(calls)} calls completed, {sum(failures)} failed, "
              f"{sum(wrong)} with wrong vectors; {refused:.0f} requests refused (RESOURCE_EXHAUSTED); "
              f"server log grew {storm_log} bytes")
        assert not any(worker.is_alive() for worker in workers)
        assert sum(failures) == 0, errors[:3]
        assert sum(wrong) == 0
        assert all(count > 0 for count in calls), calls  # every client got through, none starved out
        assert refused > CLIENTS, "the server was not overloaded: the test proves nothing"
        assert storm_log < LOG_LIMIT_BYTES, storm_log
        assert server.log().count('"rpc_rejected"') <= seconds / 10 + 2  # one summary per 10 s interval
    finally:
        server.stop()
