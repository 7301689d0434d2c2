"""EmbedStream: ordered responses and flow control that bounds what the server holds."""

from __future__ import annotations

import threading
import time

import grpc

from helpers.images import png
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc


def test_stream_answers_every_request_in_order(tiny_server):
    requests = [pb.EmbedRequest(model="tiny-clip", request_id=f"r{i}", items=[pb.Item(data=png(i * 10 + j))
                                                                             for j in range(3)])
                for i in range(12)]
    with grpc.insecure_channel(tiny_server.target) as channel:
        responses = list(pb_grpc.EncoderStub(channel).EmbedStream(iter(requests), timeout=60))
    assert [r.request_id for r in responses] == [f"r{i}" for i in range(12)]
    assert all(len(r.results) == 3 and r.dim == 32 for r in responses)
    assert all(item.status.code == pb.ITEM_CODE_OK for r in responses for item in r.results)


def test_slow_reader_slows_the_sender(tiny_server):
    """While the client reads nothing, the server stops working on the stream and stops pulling
    requests: it makes no progress during the pause, and fewer requests are consumed than offered,
    so nothing piles up in the server."""
    sent = 0
    lock = threading.Lock()
    # ~1.9 MB a request, 76 MB offered in all: far more than gRPC's transport windows hold.
    items = [pb.Item(data=png(i) + b"\0" * 230_000) for i in range(8)]

    def requests():
        nonlocal sent
        for i in range(40):
            with lock:
                sent += 1
            yield pb.EmbedRequest(model="tiny-timm", request_id=str(i), items=items)

    def items_answered() -> float:
        return tiny_server.metric("medembed_items_total", model="tiny-timm")

    # No BDP probing: the client's receive window stays at gRPC's 64 KB, as for a slow consumer.
    with grpc.insecure_channel(tiny_server.target, options=[("grpc.http2.bdp_probe", 0)]) as channel:
        stream = pb_grpc.EncoderStub(channel).EmbedStream(requests(), timeout=120)
        first = next(stream)
        time.sleep(1.5)  # a slow reader: by now the server is blocked on its unread responses
        answered_mid_pause = items_answered()
        time.sleep(1.5)
        answered_end_of_pause = items_answered()
        with lock:
            pulled_while_paused = sent
        rest = list(stream)
    assert first.request_id == "0"
    assert len(rest) == 39
    print("requests pulled while paused:", pulled_while_paused)
    assert answered_end_of_pause == answered_mid_pause  # no progress while nobody reads
    # How many requests the transport buffers depends on its window sizes (18-24 seen here), never
    # on how fast the server works: not all 40.
    assert pulled_while_paused < 32, pulled_while_paused
