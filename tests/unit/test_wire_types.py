"""The typed values read off the wire (medembed_proto, medembed_client.models) carry every field of
their proto message, and the item-code names have one definition that the decode kinds agree with."""

import dataclasses

import pytest

from medembed_client import ModelInfo, ServerLimits, SpecInfo
from medembed_client.models import UnknownSpec
from medembed_decode import DecodeErrorKind
from medembed_proto import ITEM_ERROR_NAMES, Provenance, item_code, item_code_name
from medembed_proto.v1 import encoder_pb2 as pb


def _proto_fields(message: type) -> set[str]:
    return {f.name for f in message.DESCRIPTOR.fields}


@pytest.mark.parametrize(("typed", "message"), [(ModelInfo, pb.ModelInfo), (SpecInfo, pb.SpecInfo),
                                                (ServerLimits, pb.ServerLimits), (Provenance, pb.Provenance)])
def test_typed_values_carry_every_field_of_their_message(typed, message):
    assert {f.name for f in dataclasses.fields(typed)} == _proto_fields(message), \
        f"{typed.__name__} and {message.DESCRIPTOR.full_name} differ: a field was added to the proto"


def test_model_info_from_proto_reads_every_field():
    message = pb.ModelInfo(id="m", family="timm", dim=8, input_size=224, default_spec="default",
                           specs=[pb.SpecInfo(name="default", dim=8, vector_identity="a"),
                                  pb.SpecInfo(name="pre_projection", dim=16, vector_identity="b")],
                           ready=True, weights_digest="w", preprocess_digest="p", random_weights=True,
                           library_versions={"torch": "2.14.1", "timm": "1.0"})
    info = ModelInfo.from_proto(message)
    assert info == ModelInfo("m", "timm", 8, 224, "default", (SpecInfo("default", 8, "a"),
                                                             SpecInfo("pre_projection", 16, "b")),
                             True, "w", "p", True, {"timm": "1.0", "torch": "2.14.1"})
    assert type(info.library_versions) is dict and isinstance(info.specs, tuple)
    assert info.spec() == info.spec("default") and info.spec("pre_projection").dim == 16
    assert info.spec("nope") is None
    hash(info)  # frozen and hashable, library_versions aside
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.dim = 9
    assert ModelInfo.from_proto(pb.ModelInfo(id="loading")) == ModelInfo("loading")


def test_model_info_resolves_the_default_spec_and_names_its_specs_for_an_unknown_one():
    info = ModelInfo("m", default_spec="default", specs=(SpecInfo("default", 8, "a"), SpecInfo("pre_projection", 16)))
    assert info.spec_info() == info.spec_info("default") == SpecInfo("default", 8, "a")
    assert info.spec_info("pre_projection").dim == 16
    with pytest.raises(UnknownSpec, match=r"^model 'm' has no spec 'nope'; specs: \['default', 'pre_projection'\]$"):
        info.spec_info("nope")
    with pytest.raises(UnknownSpec, match="no spec 'default'"):
        ModelInfo("loading", default_spec="default").spec_info()


def test_server_limits_from_proto():
    limits = pb.ServerLimits(max_items_per_request=64, max_request_bytes=2**24, max_image_bytes=2**20)
    assert ServerLimits.from_proto(limits) == ServerLimits(64, 2**24, 2**20)
    assert ServerLimits.from_proto(pb.ServerLimits()) == ServerLimits()


def test_provenance_round_trips_through_the_wire():
    provenance = Provenance("m", "w", "p", "default", "float32", "0.1.0", "id", True)
    assert Provenance.from_proto(provenance.to_proto()) == provenance
    assert provenance.identity() == ("m", "id", "default")
    assert Provenance("m", "w", "p", "s", "float32", "0").identity() == ("m", "w|p", "s")


def test_item_code_names_round_trip_and_name_every_failure():
    assert ITEM_ERROR_NAMES == ("decode_error", "unsupported_format", "too_large", "too_small", "timeout",
                                "internal", "not_cached")
    for name in (*ITEM_ERROR_NAMES, "ok"):
        assert item_code_name(item_code(name)) == name
    assert item_code("too_large") == pb.ITEM_CODE_TOO_LARGE
    with pytest.raises(ValueError, match="no item code named 'bogus'"):
        item_code("bogus")
    with pytest.raises(ValueError):
        item_code_name(99)


def test_decode_error_kinds_are_item_code_names_and_the_server_maps_them_so():
    from medembed_encoder.items import ITEM_CODES

    assert set(ITEM_CODES) == set(DecodeErrorKind)
    for kind, code in ITEM_CODES.items():
        assert item_code_name(code) == kind.value
