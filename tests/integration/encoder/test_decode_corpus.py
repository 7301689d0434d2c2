"""The decode rules through a real server: each corpus item gets the vector of its expected image
(the same vector as an 8-bit PNG of the pixels it must decode to), or its own item code; bad items
are warnings with a one-line reason in the JSON log; a slow decode fails alone with `timeout`."""

from __future__ import annotations

import json

import grpc
import numpy as np

from helpers.decode_corpus import CORPUS
from helpers.images import png, png_bytes
from helpers.servers import start_server
from medembed_client import Client
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc


def test_every_kind_gets_the_vector_of_its_expected_image_or_its_code(tiny_server):
    checked = [case for case in CORPUS if case.expected is not None]
    items = [case.data for case in CORPUS] + [png_bytes(case.expected) for case in checked]
    with Client(tiny_server.target) as client:
        result = client.embed(items, "tiny-timm")
    expected_row = {case.name: len(CORPUS) + n for n, case in enumerate(checked)}
    for row, case in enumerate(CORPUS):
        if case.expected is None:
            assert result.errors[row].code == case.code, (case.name, result.errors.get(row))
            assert case.message in result.errors[row].message, case.name
            continue
        assert row not in result.errors, (case.name, result.errors.get(row))
        np.testing.assert_allclose(result.vectors[row], result.vectors[expected_row[case.name]], atol=1e-5,
                                   err_msg=case.name)
    assert not set(result.errors) & set(expected_row.values())
    windows = [row for row, case in enumerate(CORPUS) if case.name in ("window maps to 0..255", "another window")]
    assert np.abs(result.vectors[windows[0]] - result.vectors[windows[1]]).max() > 1e-3


def test_bad_inputs_are_one_line_warnings_in_the_json_log(tiny_server):
    bad = [case for case in CORPUS if case.code == "decode_error"][:5]
    with Client(tiny_server.target) as client:
        client.embed([case.data for case in bad], "tiny-timm", skip_cache=True)
    lines = [json.loads(line) for line in tiny_server.log().splitlines() if line.startswith("{")]
    failed = [line for line in lines if line["event"] == "item_failed"]
    assert failed and all(line["level"] == "warning" and line["code"] for line in failed)
    assert all("\n" not in line["reason"] and "exc" not in line for line in failed)
    assert "Traceback" not in tiny_server.log()


def test_an_item_over_the_byte_cap_fails_alone_without_refusing_the_request(tiny_server):
    # The client knows the cap and never sends such an item; a raw request carrying one still
    # gets a response: max_image_bytes 1 MB, max_request_bytes 2 MB on this server.
    big = b"\x89PNG\r\n\x1a\n" + bytes(2_500_000)
    with grpc.insecure_channel(tiny_server.target, options=[("grpc.max_send_message_length", 2**25)]) as channel:
        response = pb_grpc.EncoderStub(channel).Embed(
            pb.EmbedRequest(model="tiny-timm", items=[pb.Item(data=png(1)), pb.Item(data=big)]), timeout=60)
    assert [r.status.code for r in response.results] == [pb.ITEM_CODE_OK, pb.ITEM_CODE_TOO_LARGE]
    assert "max_image_bytes = 1000000" in response.results[1].status.message


def test_client_keeps_every_good_vector_when_one_item_is_over_the_cap(tiny_server):
    big = png_bytes(np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8))
    assert len(big) > 1_000_000
    with Client(tiny_server.target) as client:
        result = client.embed([png(1), big, png(2), png(3)], "tiny-timm")
    assert list(result.errors) == [1] and result.errors[1].code == "too_large"
    assert "max_image_bytes = 1000000" in result.errors[1].message
    assert np.isfinite(result.vectors[[0, 2, 3]]).all() and np.isnan(result.vectors[1]).all()


def test_a_slow_decode_fails_alone_with_timeout_and_frees_its_worker(server_dir):
    slow = png_bytes(np.zeros((8000, 8000), np.uint8), filter_type=4)  # 76 KB, 64 M pixels to inflate and unfilter
    with start_server("tiny-timm", server_dir, decode_timeout_s=0.2, decode_workers=1) as server:
        with Client(server.target) as client:
            first = client.embed([png(1), slow, png(2)], "tiny-timm")
            after = client.embed([png(3), png(4)], "tiny-timm")
        assert list(first.errors) == [1] and first.errors[1].code == "timeout"
        assert "decode_timeout_s = 0.2" in first.errors[1].message
        assert after.errors == {}  # the one worker was replaced
        assert server.metric("medembed_decode_workers_replaced_total") == 1
