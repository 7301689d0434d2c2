"""Digest-first lookups against a real private redis-server: an item sent as its sha256 alone is
answered from the cache or `not_cached`, and the client sends only the bytes of the misses."""

from __future__ import annotations

import hashlib
import time

import grpc
import numpy as np
import pytest

from helpers.images import png
from helpers.servers import start_server
from medembed_client import Client
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

MODEL = "tiny-timm"


@pytest.fixture
def cached_server(private_redis, server_dir):
    server = start_server(MODEL, server_dir, cache_url=private_redis.url, max_queue_delay_ms=2)
    yield server
    server.stop()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embed(server, items: list[pb.Item]) -> pb.EmbedResponse:
    with grpc.insecure_channel(server.target) as channel:
        return pb_grpc.EncoderStub(channel).Embed(pb.EmbedRequest(model=MODEL, items=items), timeout=30)


def test_a_digest_alone_is_answered_from_the_cache_or_not_cached(cached_server):
    cached, absent = png(1), png(2)
    with Client(cached_server.target, digest_first=False) as client:
        expected = client.embed([cached], MODEL).vectors[0]
        assert client.server_limits().digest_lookup
    time.sleep(0.3)  # the SET is pipelined in the background
    response = embed(cached_server, [pb.Item(content_sha256=sha256(cached), client_id="a"),
                                     pb.Item(content_sha256=sha256(absent).upper()),
                                     pb.Item(content_sha256="not-a-digest"),
                                     pb.Item(data=cached, content_sha256=sha256(absent))])
    hit, miss, malformed, mismatched = response.results
    assert hit.status.code == pb.ITEM_CODE_OK and hit.cache_hit and hit.client_id == "a"
    np.testing.assert_array_equal(np.frombuffer(hit.vector, "<f4"), expected)
    assert miss.status.code == pb.ITEM_CODE_NOT_CACHED and miss.content_sha256 == sha256(absent)
    assert "send the image bytes" in miss.status.message
    assert malformed.status.code == pb.ITEM_CODE_DECODE_ERROR and "64 hexadecimal" in malformed.status.message
    assert mismatched.status.code == pb.ITEM_CODE_DECODE_ERROR and "does not match" in mismatched.status.message
    assert cached_server.metric("medembed_forward_items_total", model=MODEL) == 1


def test_the_client_sends_only_the_misses_and_keeps_order(cached_server):
    images = [png(seed) for seed in range(10, 22)]
    with Client(cached_server.target, digest_first=False) as plain:
        expected = plain.embed(images, MODEL).vectors
    time.sleep(0.3)
    fresh = [png(seed) for seed in range(100, 104)]
    mixed = [fresh[0], images[0], fresh[1], images[5], fresh[2], fresh[3], images[11], b"not an image"]
    decodes_before = cached_server.metric("medembed_preprocess_seconds_count", model=MODEL)
    with Client(cached_server.target) as client:
        result = client.embed(mixed, MODEL)
        with Client(cached_server.target, digest_first=False) as plain:
            reference = plain.embed(mixed, MODEL, skip_cache=True)
    assert list(result.cache_hits) == [False, True, False, True, False, False, True, False]
    np.testing.assert_array_equal(result.vectors[[1, 3, 6]], expected[[0, 5, 11]])
    np.testing.assert_allclose(result.vectors[:7], reference.vectors[:7], atol=1e-6)
    assert set(result.errors) == {7} and result.errors[7].code == "unsupported_format"
    assert result.content_sha256 == [sha256(data) for data in mixed]
    # The three cached images were never decoded: only the 4 fresh images and the bad one were
    # sent with bytes (then all 8 again by the skip_cache reference call).
    assert cached_server.metric("medembed_preprocess_seconds_count", model=MODEL) - decodes_before == 5 + 8


def test_without_digest_lookup_the_server_says_so_and_the_client_sends_bytes(private_redis, server_dir):
    server = start_server(MODEL, server_dir, cache_url=private_redis.url, env={"MEDEMBED_DIGEST_LOOKUP": "0"})
    try:
        image = png(7)
        with Client(server.target) as client:
            first = client.embed([image], MODEL)
            assert client.server_limits().digest_lookup is False
            time.sleep(0.3)
            second = client.embed([image], MODEL)
        assert first.errors == {} and second.cache_hits.all()
        refused = embed(server, [pb.Item(content_sha256=sha256(image))]).results[0]
        assert refused.status.code == pb.ITEM_CODE_NOT_CACHED and "--no-digest-lookup" in refused.status.message
    finally:
        server.stop()
