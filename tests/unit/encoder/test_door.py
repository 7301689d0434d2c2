"""The door: admission.admit checks an EmbedRequest and converts it once into a typed EmbedCall;
request.to_response builds the wire answer back from the settled records."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
import torch

from helpers.servers import TEST_CATALOG
from medembed_decode.volume import SliceOptions
from medembed_encoder.admission import Rejected, admit
from medembed_encoder.batcher import BatchLimits
from medembed_encoder.catalog import load_catalog
from medembed_encoder.config import Settings
from medembed_encoder.families import load_encoder
from medembed_encoder.items import ItemInput, read_items
from medembed_encoder.metrics import EncoderMetrics
from medembed_encoder.registry import ModelRegistry
from medembed_encoder.request import to_response
from medembed_encoder.runtime import ModelRuntime
from medembed_proto.v1 import encoder_pb2 as pb

CPU = torch.device("cpu")
DIGEST = "AB" * 32


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    encoder = load_encoder(load_catalog(TEST_CATALOG)["tiny-timm"], CPU, allow_random_weights=True)
    runtime = ModelRuntime(encoder, CPU, torch.float32, BatchLimits(4, 0.005, 100), EncoderMetrics())
    registry = ModelRegistry(["tiny-timm", "still-loading"])
    registry.runtimes["tiny-timm"] = runtime
    registry.ready.add("tiny-timm")
    return registry


def request(**fields) -> pb.EmbedRequest:
    fields.setdefault("model", "tiny-timm")
    fields.setdefault("items", [pb.Item(data=b"png", client_id="a"), pb.Item(content_sha256=DIGEST, client_id="b")])
    return pb.EmbedRequest(**fields)


def refusal(registry: ModelRegistry, message: pb.EmbedRequest, draining: bool = False, **settings) -> Rejected:
    with pytest.raises(Rejected) as caught:
        admit(message, registry, Settings(**settings), draining=draining, time_remaining=None)
    return caught.value


async def test_the_request_becomes_a_typed_call_with_its_items_read_once(registry):
    call = admit(request(request_id="r-1", priority=pb.PRIORITY_BULK, skip_cache=True), registry, Settings(),
                 draining=False, time_remaining=None)
    runtime = registry.runtimes["tiny-timm"]
    assert call.runtime is runtime
    assert call.spec == runtime.encoder.default_spec  # resolved at the door: never the empty name
    assert (call.request_id, call.bulk, call.skip_cache, call.deadline) == ("r-1", True, True, None)
    assert call.items == (ItemInput(0, "a", b"png", ""), ItemInput(1, "b", b"", DIGEST.lower()))
    assert call.payload_bytes == 3
    assert not call.sliced and call.volume == SliceOptions()
    assert call.scope.key("d") == f"medembed:v1:tiny-timm:{runtime.vector_identities[call.spec]}:{call.spec}:d"
    assert call.dim == runtime.encoder.spec_dims[call.spec]


async def test_the_deadline_is_kept_in_event_loop_time(registry):
    before = asyncio.get_running_loop().time()
    call = admit(request(), registry, Settings(), draining=False, time_remaining=2.5)
    assert before + 2.5 <= call.deadline <= asyncio.get_running_loop().time() + 2.5


async def test_volume_options_change_the_call_and_its_cache_scope(registry):
    plain = admit(request(), registry, Settings(), draining=False, time_remaining=None)
    sliced = admit(request(volume=pb.VolumeOptions(slices="mean")), registry, Settings(), draining=False,
                   time_remaining=None)
    assert sliced.sliced and sliced.volume.pooled
    assert sliced.scope.vector_identity != plain.scope.vector_identity


async def test_refusals_name_what_to_fix_in_the_order_the_door_checks(registry):
    assert refusal(registry, request(model="x" * 300), draining=True).reason == "field_too_long"
    assert refusal(registry, request(), draining=True).code == grpc.StatusCode.UNAVAILABLE
    assert refusal(registry, request(model="nope")).reason == "unknown_model"
    assert refusal(registry, request(model="still-loading")).reason == "warming_up"
    assert refusal(registry, request(items=[])).reason == "no_items"
    assert refusal(registry, request(), max_items_per_request=1).reason == "too_many_items"
    too_many_bytes = refusal(registry, request(), max_request_bytes=2)
    assert (too_many_bytes.reason, str(too_many_bytes)) == (
        "too_many_bytes", "3 bytes of images exceeds max_request_bytes 2; split the request")
    assert refusal(registry, request(spec="nope")).reason == "unknown_spec"
    bad_volume = refusal(registry, request(volume=pb.VolumeOptions(slices="bogus")))
    assert bad_volume.reason == "bad_volume_options" and str(bad_volume).startswith("EmbedRequest.volume: ")


async def test_an_item_over_max_image_bytes_fails_alone_and_does_not_count_toward_the_request(registry):
    call = admit(request(), registry, Settings(max_image_bytes=2, max_request_bytes=0), draining=False,
                 time_remaining=None)
    assert len(call.items) == 2


async def test_the_response_is_built_from_the_call_and_its_records_in_request_order(registry):
    call = admit(request(request_id="r-2"), registry, Settings(), draining=False, time_remaining=None)
    records = read_items(call.items, digest_lookup=True)
    vector = np.arange(call.dim, dtype=np.float32)
    records = [records[0].succeeded(vector), records[1].failed(pb.ITEM_CODE_NOT_CACHED, "send the bytes")]
    response = to_response(call, records)
    assert (response.model, response.dim, response.request_id) == ("tiny-timm", call.dim, "r-2")
    assert response.provenance.embedding_spec == call.spec
    assert response.provenance.vector_identity == call.scope.vector_identity
    assert [(r.index, r.client_id, r.status.code) for r in response.results] == [
        (0, "a", pb.ITEM_CODE_OK), (1, "b", pb.ITEM_CODE_NOT_CACHED)]
    assert np.array_equal(np.frombuffer(response.results[0].vector, dtype="<f4"), vector)
    assert response.results[1].content_sha256 == DIGEST.lower()
