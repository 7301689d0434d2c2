"""The door of every Embed request: whole-request checks before any work (the only place a request
is refused), then the request converted once into an EmbedCall (request.py) that every later stage
reads instead of the wire message.

The string-field caps sit far below gRPC's message limit: no catalog id or spec comes near them, and a refusal
never quotes more than a bounded prefix of what was sent (status details travel in a trailer whose
whole limit is 8-16 KB; a 100,000-character model name quoted there used to turn INVALID_ARGUMENT
into the client's RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

import asyncio

import grpc

from medembed_decode.volume import SliceOptions
from medembed_proto.redact import shorten
from medembed_proto.v1 import encoder_pb2 as pb

from .config import Settings
from .registry import ModelRegistry
from .request import EmbedCall, item_inputs

FIELD_CAPS = {"model": 256, "spec": 128, "request_id": 256, "client_id": 256}
MAX_STATUS_CHARS = 1000


class Rejected(Exception):
    """The whole RPC is refused with this gRPC status; `reason` is its short name in logs and metrics."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(shorten(message, MAX_STATUS_CHARS))
        self.code = code
        self.reason = reason


def check_field_caps(request: pb.EmbedRequest) -> None:
    """INVALID_ARGUMENT naming the field and its cap, before anything quotes the field."""
    for name in ("model", "spec", "request_id"):
        length = len(getattr(request, name))
        if length > FIELD_CAPS[name]:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "field_too_long",
                           f"{name} is {length} characters; the cap is {FIELD_CAPS[name]}")
    cap = FIELD_CAPS["client_id"]
    for index, item in enumerate(request.items):
        if len(item.client_id) > cap:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "field_too_long",
                           f"items[{index}].client_id is {len(item.client_id)} characters; the cap is {cap}")


def admit(request: pb.EmbedRequest, registry: ModelRegistry, settings: Settings, *, draining: bool,
          time_remaining: float | None) -> EmbedCall:
    """The request as an EmbedCall once it passes the whole-request checks; raises Rejected with the
    gRPC status to return. `time_remaining`: seconds left of the caller's deadline (None: none);
    needs a running event loop (the deadline is kept in its time)."""
    check_field_caps(request)
    if draining:
        raise Rejected(grpc.StatusCode.UNAVAILABLE, "draining", "server is draining; retry on another replica")
    if request.model not in registry.model_ids:
        raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "unknown_model",
                       f"unknown model {request.model!r}; served: {registry.model_ids}")
    if request.model not in registry.ready:
        raise Rejected(grpc.StatusCode.UNAVAILABLE, "warming_up", f"model {request.model!r} is warming up")
    runtime = registry.runtimes[request.model]
    if not request.items:
        raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "no_items", "request has no items")
    if len(request.items) > settings.max_items_per_request:
        raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "too_many_items",
                       f"{len(request.items)} items exceeds max_items_per_request "
                       f"{settings.max_items_per_request}; split the request")
    items = item_inputs(request.items)
    # An item over max_image_bytes fails alone as too_large; it does not refuse the request.
    total_bytes = sum(len(item.data) for item in items if len(item.data) <= settings.max_image_bytes)
    if total_bytes > settings.max_request_bytes:
        raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "too_many_bytes",
                       f"{total_bytes} bytes of images exceeds max_request_bytes "
                       f"{settings.max_request_bytes}; split the request")
    try:
        spec = runtime.encoder.resolve_spec(request.spec)
    except KeyError as exc:
        raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "unknown_spec", str(exc.args[0])) from None
    volume = _volume_options(request)
    deadline = asyncio.get_running_loop().time() + time_remaining if time_remaining is not None else None
    return EmbedCall.from_pb(request, items, runtime, spec, volume, deadline)


def _volume_options(request: pb.EmbedRequest) -> SliceOptions:
    if not request.HasField("volume"):
        return SliceOptions()
    options = request.volume
    try:
        return SliceOptions.parse(options.slices, options.axis, options.window)
    except ValueError as exc:
        raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "bad_volume_options",
                       f"EmbedRequest.volume: {exc}") from None
