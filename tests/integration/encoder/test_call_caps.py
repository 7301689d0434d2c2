"""What a call may cost before any work, against real servers on loopback: a call without a token is
refused from its metadata (its body never read: the server's memory stays flat), and the caps on
RPCs at once and request bytes in flight refuse with RESOURCE_EXHAUSTED before a message is parsed.

Memory is the server process's peak resident set (VmHWM in /proc/PID/status, reset through
/proc/PID/clear_refs; proc(5)); the body of the oversized call is 120 MiB, so reading it would
grow the server by at least that much."""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import grpc
import pytest

from helpers.servers import start_server
from medembed_client import check_health
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

MODEL = "tiny-timm"
TOKEN = "caps-token-0123456789abcdef"
BIG = 120 * 2**20
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for VmRSS")


def status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # kB
    raise AssertionError(f"no {field} line")


def wait_for(condition, seconds: float = 30.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "condition not met in time"
        time.sleep(0.05)


def embed_code(target: str, request: pb.EmbedRequest, token: str | None = None) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with grpc.insecure_channel(target) as channel:
        try:
            pb_grpc.EncoderStub(channel).Embed(request, timeout=60, metadata=metadata)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    server = start_server(MODEL, tmp_path_factory.mktemp("caps-token"), env={"MEDEMBED_TOKENS": TOKEN})
    yield server
    server.stop()


def test_an_unauthenticated_oversized_call_is_refused_without_reading_its_body(token_server):
    oversized = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=bytes(BIG))])
    small = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=b"\x89PNG")])
    assert embed_code(token_server.target, small) == grpc.StatusCode.UNAUTHENTICATED  # first-call costs paid
    pid = token_server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) starts again from now
    before = status_bytes(pid, "VmRSS")
    codes: queue.Queue[grpc.StatusCode] = queue.Queue()
    threads = [threading.Thread(target=lambda: codes.put(embed_code(token_server.target, oversized)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grown = status_bytes(pid, "VmHWM") - before
    assert [codes.get_nowait() for _ in range(4)] == [grpc.StatusCode.UNAUTHENTICATED] * 4
    # Reading even one body would grow the server by 120 MiB (main grew by ~670 MiB for these four);
    # what grows is gRPC's per-stream receive window, a few MiB.
    assert grown < 60 * 2**20, f"server grew by {grown / 2**20:.1f} MiB"
    assert token_server.metric("medembed_rejected_requests_total", code="UNAUTHENTICATED",
                               reason="missing_token") == 5


def test_unauthenticated_streams_are_refused_before_reading_too(token_server):
    with grpc.insecure_channel(token_server.target) as channel:
        responses = pb_grpc.EncoderStub(channel).EmbedStream(
            iter([pb.EmbedRequest(model=MODEL, items=[pb.Item(data=bytes(8 * 2**20))])]), timeout=60)
        with pytest.raises(grpc.RpcError) as caught:
            list(responses)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_valid_token_still_gets_its_request_read(token_server):
    request = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=b"not an image")])
    with grpc.insecure_channel(token_server.target) as channel:
        response = pb_grpc.EncoderStub(channel).Embed(request, timeout=60,
                                                      metadata=(("authorization", f"Bearer {TOKEN}"),))
    assert response.results[0].status.code != pb.ITEM_CODE_OK  # read, decoded, failed alone


class HeldStream:
    """An EmbedStream that has sent one request and stays open: with stream_window > 1 the server
    holds that request (its slot and its bytes) until the stream is closed."""

    def __init__(self, target: str, request: pb.EmbedRequest) -> None:
        self._close = threading.Event()
        self._channel = grpc.insecure_channel(target)
        self.responses = pb_grpc.EncoderStub(self._channel).EmbedStream(self._requests(request), timeout=60)

    def _requests(self, request: pb.EmbedRequest):
        yield request
        self._close.wait(60)

    def close(self) -> list[pb.EmbedResponse]:
        self._close.set()
        try:
            return list(self.responses)
        finally:
            self._channel.close()


def test_rpcs_beyond_the_cap_are_resource_exhausted_and_health_still_answers(server_dir):
    server = start_server(MODEL, server_dir, max_concurrent_rpcs=1, stream_window=4)
    try:
        before = server.metric("medembed_items_total", model=MODEL)
        held = HeldStream(server.target, pb.EmbedRequest(model=MODEL, items=[pb.Item(data=b"not an image")]))
        wait_for(lambda: server.metric("medembed_items_total", model=MODEL) > before)  # the stream is in
        small = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=b"not an image either")])
        assert embed_code(server.target, small) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert check_health(server.target) == "SERVING"  # health has slots of its own
        assert server.metric("medembed_rejected_requests_total", code="RESOURCE_EXHAUSTED",
                             reason="concurrent_rpcs") == 1
        assert len(held.close()) == 1
        assert embed_code(server.target, small) == grpc.StatusCode.OK
    finally:
        server.stop()


def test_request_bytes_beyond_the_cap_are_dropped_unparsed_and_resource_exhausted(server_dir):
    cap = 4 * 2**20
    server = start_server(MODEL, server_dir, max_request_bytes=cap, max_image_bytes=cap,
                          max_inflight_request_bytes=cap, stream_window=4)
    try:
        before = server.metric("medembed_items_total", model=MODEL)
        held = HeldStream(server.target, pb.EmbedRequest(model=MODEL, items=[pb.Item(data=os.urandom(3 * 2**20))]))
        wait_for(lambda: server.metric("medembed_items_total", model=MODEL) > before)  # 3 MiB held
        second = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=os.urandom(2 * 2**20))])
        assert embed_code(server.target, second) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert server.metric("medembed_rejected_requests_total", code="RESOURCE_EXHAUSTED",
                             reason="request_bytes") == 1
        assert len(held.close()) == 1  # its bytes are given back with its response
        assert embed_code(server.target, second) == grpc.StatusCode.OK
        # Alone, a message over the cap still goes through (nothing else is held): no livelock. Its
        # item is over max_image_bytes and fails alone; the RPC is answered.
        alone = pb.EmbedRequest(model=MODEL, items=[pb.Item(data=os.urandom(cap + 2**19))])
        assert embed_code(server.target, alone) == grpc.StatusCode.OK
    finally:
        server.stop()


def test_the_open_health_service_answers_and_refuses_outsized_requests(token_server):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(token_server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service=MODEL), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service=MODEL), timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING  # Watch streams, without a token
        watch.cancel()
        with pytest.raises(grpc.RpcError) as caught:
            health.Check(health_pb2.HealthCheckRequest(service="x" * 2**20), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert token_server.metric("medembed_rejected_requests_total", reason="message_too_large") == 1
