"""Health, reflection, warm-up, startup failures and graceful drain on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from helpers.images import png
from helpers.servers import TEST_CATALOG, WAIT_FOR_BATCHES, free_port, start_server, wait_serving
from medembed_client import Client, EmbedError, RetryPolicy, check_health
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc


def test_health_per_model_and_overall(tiny_server):
    assert check_health(tiny_server.target) == "SERVING"
    assert check_health(tiny_server.target, "medembed.v1.Encoder") == "SERVING"
    assert check_health(tiny_server.target, "tiny-clip") == "SERVING"
    assert check_health(tiny_server.target, "not-a-model") == "NOT_FOUND"


def test_reflection_lists_the_encoder_service(tiny_server):
    with grpc.insecure_channel(tiny_server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert "medembed.v1.Encoder" in names and "grpc.health.v1.Health" in names


def test_not_serving_until_models_are_warm(server_dir):
    server = start_server("tiny-clip", server_dir, wait=False)
    try:
        statuses = []
        while server.process.poll() is None:
            status = check_health(server.target, timeout_s=0.5)
            statuses.append(status)
            if status == "SERVING":
                break
            time.sleep(0.02)
        assert statuses[-1] == "SERVING"
        assert any(s in ("NOT_SERVING", "UNAVAILABLE") for s in statuses[:-1])
    finally:
        server.stop()


def test_random_weights_need_the_explicit_flag():
    port = free_port()
    completed = subprocess.run(
        [sys.executable, "-m", "medembed_encoder.cli", "serve", "--models", "tiny-timm", "--catalog",
         str(TEST_CATALOG), "--port", str(port), "--metrics-port", str(free_port()), "--host", "127.0.0.1"],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    assert "--allow-random-weights" in completed.stderr + completed.stdout


def test_unknown_model_and_bad_settings_fail_at_start():
    for extra, fragment in ((["--models", "nope"], "unknown model id"),
                            (["--models", "tiny-timm", "--max-batch-size", "0"], "--max-batch-size")):
        completed = subprocess.run([sys.executable, "-m", "medembed_encoder.cli", "serve", "--catalog",
                                    str(TEST_CATALOG), *extra], capture_output=True, text=True, timeout=60)
        assert completed.returncode == 2
        assert fragment in completed.stderr


def test_sigterm_drains_in_flight_work_then_exits(server_dir):
    server = start_server("tiny-timm", server_dir, max_queue_delay_ms=1500, max_batch_size=64, env=WAIT_FOR_BATCHES)
    outcome = {}

    def slow_request():
        with grpc.insecure_channel(server.target) as channel:
            response = pb_grpc.EncoderStub(channel).Embed(
                pb.EmbedRequest(model="tiny-timm", items=[pb.Item(data=png(0))]), timeout=30)
            outcome["code"] = response.results[0].status.code

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.5)  # the item now waits in the batcher for up to 1.5 s
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert check_health(server.target) in ("NOT_SERVING", "UNAVAILABLE")
    with Client(server.target, retry=RetryPolicy(max_attempts=1)) as client, \
            pytest.raises(EmbedError, match="UNAVAILABLE"):  # new work is refused while draining
        client.embed([png(1)], "tiny-timm")
    worker.join(30)
    assert outcome.get("code") == pb.ITEM_CODE_OK
    assert server.process.wait(30) == 0
    assert '"drain_started"' in server.log() and '"server_stopped"' in server.log()


def test_server_started_by_env_vars(server_dir):
    port = free_port()
    env = {"MEDEMBED_MODELS": "tiny-clip", "MEDEMBED_PORT": str(port), "MEDEMBED_METRICS_PORT": str(free_port()),
           "MEDEMBED_HOST": "127.0.0.1", "MEDEMBED_CATALOG": str(TEST_CATALOG),
           "MEDEMBED_ALLOW_RANDOM_WEIGHTS": "1", "MEDEMBED_DEVICE": "cpu"}
    process = subprocess.Popen([sys.executable, "-m", "medembed_encoder.cli", "serve"], env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from helpers.servers import RunningServer

    server = RunningServer(process, port, int(env["MEDEMBED_METRICS_PORT"]), server_dir / "unused.log")
    try:
        server.log_path.write_text("")
        wait_serving(server)
        with Client(server.target) as client:
            assert [m.id for m in client.list_models()] == ["tiny-clip"]
    finally:
        server.stop()
