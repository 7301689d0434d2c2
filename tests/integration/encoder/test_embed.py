"""Embed over a real gRPC server: vectors, per-item errors, caps and RPC-level statuses."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import numpy as np
import pytest
import torch

from helpers.images import encode, png, png_with_claimed_size, random_image
from helpers.servers import TEST_CATALOG, WAIT_FOR_BATCHES
from medembed_client import AsyncClient, Client, ModelInfo, RetryPolicy, ServerLimits
from medembed_decode import DecodeLimits, decode_image
from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import load_encoder
from medembed_proto.v1 import encoder_pb2 as pb
from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

NO_RETRY = RetryPolicy(max_attempts=1)


def in_process_vectors(model_id: str, images: list[bytes]) -> np.ndarray:
    encoder = load_encoder(load_catalog(TEST_CATALOG)[model_id], torch.device("cpu"), allow_random_weights=True)
    limits = DecodeLimits(2**30, 10**9, 1)
    batch = torch.stack([encoder.preprocess(decode_image(data, limits)) for data in images])
    with torch.inference_mode():
        return encoder.specs[encoder.default_spec](batch).numpy()


@pytest.mark.parametrize("model_id", ["tiny-clip", "tiny-timm"])
def test_vectors_equal_an_in_process_forward(tiny_server, model_id):
    images = [png(seed) for seed in range(10)]
    with Client(tiny_server.target) as client:
        result = client.embed(images, model_id)
    expected = in_process_vectors(model_id, images)
    assert result.errors == {}
    assert result.vectors.shape == expected.shape
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
    assert result.provenance.model_id == model_id
    assert result.provenance.weights_digest.startswith("sha256:")
    assert result.provenance.embedding_spec == "default"
    assert result.provenance.dtype == "float32"
    assert result.content_sha256[0] == hashlib.sha256(images[0]).hexdigest()


def test_bad_items_fail_alone(tiny_server):
    good = png(1)
    items = {
        "empty": b"",
        "truncated png": good[: len(good) // 2],
        "text file": b"hello, this is not an image\n" * 10,
        "30000x30000 header": png_with_claimed_size(30000, 30000),
        "1x1 image": encode(random_image(0, size=1)),
        "over per-image byte cap": b"\x89PNG\r\n\x1a\n" + b"\0" * 1_100_000,
    }
    expected_codes = {"empty": "decode_error", "truncated png": "decode_error", "text file": "unsupported_format",
                      "30000x30000 header": "too_large", "1x1 image": "too_small",
                      "over per-image byte cap": "too_large"}
    for name, data in items.items():
        with Client(tiny_server.target) as client:
            result = client.embed([good, data, good], "tiny-timm")
        assert set(result.errors) == {1}, name
        assert result.errors[1].code == expected_codes[name], (name, result.errors[1])
        assert result.errors[1].message, name
        assert np.isfinite(result.vectors[[0, 2]]).all(), name
        assert np.isnan(result.vectors[1]).all(), name
        np.testing.assert_array_equal(result.vectors[0], result.vectors[2])
    with Client(tiny_server.target) as client:  # still serving
        assert client.embed([good], "tiny-clip").errors == {}


def test_formats_and_bit_depths_are_accepted(tiny_server):
    gray16 = np.random.default_rng(0).integers(0, 4096, (40, 40), dtype=np.uint16)
    images = [encode(random_image(1), "JPEG"), encode(random_image(2), "TIFF"), encode(random_image(3), "BMP"),
              encode(random_image(4), "WEBP"), encode(random_image(5, mode="L")), gray16,
              random_image(6), np.zeros((30, 30, 3), dtype=np.uint8)]
    with Client(tiny_server.target) as client:
        result = client.embed(images, "tiny-timm")
    assert result.errors == {}
    assert np.isfinite(result.vectors).all()


@pytest.mark.parametrize(("request_kwargs", "code", "fragment"), [
    ({"model": "no-such-model"}, grpc.StatusCode.INVALID_ARGUMENT, "unknown model"),
    ({"count": 17}, grpc.StatusCode.INVALID_ARGUMENT, "max_items_per_request"),
    ({"count": 3, "size": 700_000}, grpc.StatusCode.INVALID_ARGUMENT, "max_request_bytes"),
    ({"spec": "no-such-spec"}, grpc.StatusCode.INVALID_ARGUMENT, "no spec"),
    ({"count": 0}, grpc.StatusCode.INVALID_ARGUMENT, "no items"),
])
def test_rpc_level_rejections_are_clear(tiny_server, request_kwargs, code, fragment):
    count, size = request_kwargs.get("count", 1), request_kwargs.get("size", 0)
    items = [pb.Item(data=png(i) + b"\0" * size) for i in range(count)]
    request = pb.EmbedRequest(model=request_kwargs.get("model", "tiny-timm"), items=items,
                              spec=request_kwargs.get("spec", ""))
    with grpc.insecure_channel(tiny_server.target) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.EncoderStub(channel).Embed(request, timeout=30)
        assert caught.value.code() == code
        assert fragment in caught.value.details()
        # the next request works
        response = pb_grpc.EncoderStub(channel).Embed(pb.EmbedRequest(model="tiny-timm", items=[pb.Item(data=png(0))]))
        assert response.results[0].status.code == pb.ITEM_CODE_OK


def test_client_sizes_requests_to_the_server_caps(tiny_server):
    images = [png(seed) for seed in range(40)] + [png(99) + b"\0" * 900_000] * 3  # caps: 16 items, 2 MB
    before = tiny_server.metric("medembed_requests_total", method="Embed", code="OK")
    with Client(tiny_server.target, chunk_size=64) as client:
        result = client.embed(images, "tiny-timm")
    assert result.vectors.shape[0] == 43
    assert result.errors == {}
    # 16 + 16 small items, 8 small + two 0.9 MB (under the 2 MB cap), then the last 0.9 MB item
    assert tiny_server.metric("medembed_requests_total", method="Embed", code="OK") - before == 4


def test_deadline_shorter_than_queue_delay(server_dir):
    from helpers.servers import start_server

    # An idle model starts at once; with start_when_idle off the lone item waits the whole delay.
    server = start_server("tiny-timm", server_dir, max_queue_delay_ms=1500, max_batch_size=64,
                          env=WAIT_FOR_BATCHES)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.EncoderStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Embed(pb.EmbedRequest(model="tiny-timm", items=[pb.Item(data=png(0))]), timeout=0.3)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            response = stub.Embed(pb.EmbedRequest(model="tiny-timm", items=[pb.Item(data=png(1))]), timeout=30)
            assert response.results[0].status.code == pb.ITEM_CODE_OK
        dropped = server.metric("medembed_items_dropped_total", model="tiny-timm")
        assert dropped == 1  # the expired (or cancelled) item never reached a forward
        assert server.metric("medembed_forward_items_total", model="tiny-timm") == 1
    finally:
        server.stop()


def test_concurrent_single_image_requests_are_batched(server_dir):
    from helpers.servers import WAIT_FOR_BATCHES, start_server

    # A batch waits up to 2 s to fill (not started at once by an idle model): with the tiny model's
    # millisecond forwards, a loaded machine otherwise delivers the 32 requests one batch each.
    server = start_server("tiny-timm", server_dir, max_queue_delay_ms=2000, max_batch_size=32, env=WAIT_FOR_BATCHES)
    try:
        async def fire() -> list[int]:
            async with AsyncClient(server.target) as client:
                results = await asyncio.gather(*(client.embed([png(i)], "tiny-timm") for i in range(32)))
            return [len(r.errors) for r in results]

        assert asyncio.run(fire()) == [0] * 32
        batches = server.metric("medembed_batch_size_count", model="tiny-timm")
        items = server.metric("medembed_batch_size_sum", model="tiny-timm")
        assert items == 32
        assert batches < 32  # so some batch held more than one request's item
        assert items / batches > 1
    finally:
        server.stop()


def test_queue_full_is_resource_exhausted_and_retried(server_dir):
    from helpers.servers import start_server

    server = start_server("tiny-timm", server_dir, max_queue_delay_ms=400, max_batch_size=64, max_queue_items=8,
                          max_items_per_request=8, env=WAIT_FOR_BATCHES)  # items wait out the window: the queue fills
    try:
        async def fire(retry: RetryPolicy) -> list[str]:
            async with AsyncClient(server.target, retry=retry) as client:
                outcomes = await asyncio.gather(*(client.embed([png(i)] * 8, "tiny-timm") for i in range(4)),
                                                return_exceptions=True)
            return [type(o).__name__ if isinstance(o, Exception) else "ok" for o in outcomes]

        without_retry = asyncio.run(fire(NO_RETRY))
        assert "EmbedError" in without_retry and "ok" in without_retry
        assert server.metric("medembed_requests_total", method="Embed", code="RESOURCE_EXHAUSTED") >= 1
        assert asyncio.run(fire(RetryPolicy(max_attempts=20, initial_backoff_s=0.2))) == ["ok"] * 4
    finally:
        server.stop()


def test_list_models_reports_dims_specs_and_readiness(tiny_server):
    with Client(tiny_server.target) as client:
        models = {m.id: m for m in client.list_models()}
        limits = client.server_limits()
    assert all(isinstance(m, ModelInfo) for m in models.values())
    assert limits == ServerLimits(max_items_per_request=16, max_request_bytes=2_000_000, max_image_bytes=1_000_000)
    assert set(models) == {"tiny-clip", "tiny-timm"}
    assert models["tiny-clip"].dim == 32 and models["tiny-clip"].family == "open_clip"
    assert models["tiny-clip"].input_size == 32
    assert models["tiny-timm"].input_size == 64
    assert all(m.ready and m.random_weights and m.weights_digest.startswith("sha256:") for m in models.values())
    assert [s.name for s in models["tiny-clip"].specs] == ["default", "pre_projection"]
    assert models["tiny-clip"].spec("pre_projection").dim == models["tiny-clip"].specs[1].dim
    assert {"python", "torch"} <= set(models["tiny-clip"].library_versions)
