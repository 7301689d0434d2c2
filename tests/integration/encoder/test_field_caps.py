"""String fields are capped at admission: INVALID_ARGUMENT naming the field and its cap, never
retried by the client, and never a long line in the server's log."""

from __future__ import annotations

import time

import grpc
import pytest

from helpers.images import png
from medembed_client import Client, EmbedError
from medembed_encoder.admission import FIELD_CAPS
from medembed_encoder.logs import MAX_FIELD_CHARS
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc


def test_a_100k_character_model_name_is_invalid_argument_and_not_retried(tiny_server):
    """It used to come back RESOURCE_EXHAUSTED: the refusal quoted the whole name in the status
    trailer, over the client's 16 KB metadata limit, and the client retried it."""
    before = tiny_server.metric("medembed_requests_total", method="Embed", code="INVALID_ARGUMENT")
    with Client(tiny_server.target, timeout_s=30) as client, pytest.raises(EmbedError) as caught:
        client.embed([png(0)], "x" * 100_000)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert f"cap is {FIELD_CAPS['model']}" in caught.value.message and "100000 characters" in caught.value.message
    assert tiny_server.metric("medembed_requests_total", method="Embed", code="INVALID_ARGUMENT") - before == 1


@pytest.mark.parametrize(("field", "request_fields"), [
    ("spec", {"spec": "s" * (FIELD_CAPS["spec"] + 1)}),
    ("request_id", {"request_id": "r" * (FIELD_CAPS["request_id"] + 1)}),
    ("items[1].client_id", {"items": [pb.Item(data=png(0)), pb.Item(data=png(1), client_id="c" * 10_000)]}),
])
def test_each_capped_field_is_named_with_its_cap(tiny_server, field, request_fields):
    request = pb.EmbedRequest(**{"model": "tiny-timm", "items": [pb.Item(data=png(0))], **request_fields})
    with grpc.insecure_channel(tiny_server.target) as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.EncoderStub(channel).Embed(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field} is ") and "the cap is" in caught.value.details()


def test_fields_at_their_caps_are_fine(tiny_server):
    request = pb.EmbedRequest(model="tiny-timm", request_id="r" * FIELD_CAPS["request_id"],
                              items=[pb.Item(data=png(0), client_id="c" * FIELD_CAPS["client_id"])])
    with grpc.insecure_channel(tiny_server.target) as channel:
        response = pb_grpc.EncoderStub(channel).Embed(request, timeout=30)
    assert response.request_id == request.request_id and response.results[0].client_id == "c" * 256
    assert response.results[0].status.code == pb.ITEM_CODE_OK


def test_an_unknown_model_within_the_cap_is_named(tiny_server):
    with Client(tiny_server.target, timeout_s=30) as client, pytest.raises(EmbedError) as caught:
        client.embed([png(0)], "m" * FIELD_CAPS["model"])
    assert caught.value.code == "INVALID_ARGUMENT" and "unknown model" in caught.value.message


def test_no_log_line_quotes_a_huge_field(tiny_server):
    """After the refusals above (and in any order of tests): every line stays short."""
    with Client(tiny_server.target, timeout_s=30) as client, pytest.raises(EmbedError):
        client.embed([png(0)], "y" * 100_000)
    give_up = time.monotonic() + 30  # the refusal summary comes within refusal_log_interval_s (10 s)
    while '"field_too_long"' not in tiny_server.log():
        assert time.monotonic() < give_up, "no rpc_rejected summary line"
        time.sleep(0.2)
    longest = max(len(line) for line in tiny_server.log().splitlines())
    assert longest < 20 * MAX_FIELD_CHARS, longest
    assert "y" * (MAX_FIELD_CHARS + 1) not in tiny_server.log()
