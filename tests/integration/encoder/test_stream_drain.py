"""A replica drained mid-stream behind a two-replica round_robin target: the drained server answers
what it had taken and ends the stream; embed_stream sends the rest to the other replica. Every
item is answered once, in order, with the single-server vectors, and the call does not fail."""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time

import numpy as np

from helpers.images import png
from helpers.servers import WAIT_FOR_BATCHES, start_server
from medembed_client import Client

MODEL = "tiny-timm"
ITEMS = 320


def test_drain_mid_stream_loses_no_item_and_answers_each_once(tiny_server, server_dir, caplog):
    # Each batch waits out a 200 ms window (even on an idle model), so the stream runs for seconds:
    # long enough to drain.
    replicas = [start_server(MODEL, server_dir, max_queue_delay_ms=200, max_batch_size=64, env=WAIT_FOR_BATCHES)
                for _ in range(2)]
    images = [png(3000 + seed) for seed in range(ITEMS)]
    try:
        with Client(tiny_server.target) as single:
            expected = single.embed(images, MODEL).vectors
        target = f"ipv4:127.0.0.1:{replicas[0].port},127.0.0.1:{replicas[1].port}"
        outcome: dict[str, object] = {}

        def bulk() -> None:
            try:
                with Client(target, chunk_size=4) as client:
                    outcome["result"] = client.embed_stream(images, MODEL)
            except Exception as exc:  # reported below
                outcome["error"] = exc

        caplog.set_level(logging.INFO, logger="medembed_client.stream")
        worker = threading.Thread(target=bulk)
        worker.start()
        give_up = time.monotonic() + 120
        while True:  # the replica the stream went to is the one that computes
            busy = [r for r in replicas if r.metric("medembed_forward_items_total", model=MODEL) > 0]
            if busy or time.monotonic() > give_up:
                break
            time.sleep(0.05)
        assert busy, "no replica got the stream"
        drained, other = busy[0], next(r for r in replicas if r is not busy[0])
        drained.process.send_signal(signal.SIGTERM)
        assert drained.process.wait(60) == 0
        worker.join(180)
        assert not worker.is_alive() and "error" not in outcome, outcome.get("error")

        result = outcome["result"]
        assert result.errors == {}
        assert result.content_sha256 == [hashlib.sha256(image).hexdigest() for image in images]  # in order
        np.testing.assert_allclose(result.vectors, expected, atol=1e-6)
        assert other.metric("medembed_forward_items_total", model=MODEL) > 0  # the rest went there
        assert '"drain_started"' in drained.log() and '"EmbedStream"' in drained.log()
        assert "request(s) of this stream answered" in drained.log()
        resent = [r.getMessage() for r in caplog.records if "unanswered request(s) again" in r.getMessage()]
        assert resent, "the client never had to resend: the drain did not happen mid-stream"
        print(*resent, sep="\n")
    finally:
        for replica in replicas:
            replica.stop()
