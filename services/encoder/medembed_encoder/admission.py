"""Admission checks that hold for any request, before any work: caps on its string fields.

The caps sit far below gRPC's message limit: no catalog id or spec comes near them, and a refusal
never quotes more than a bounded prefix of what was sent (status details travel in a trailer whose
whole limit is 8-16 KB; a 100,000-character model name quoted there used to turn INVALID_ARGUMENT
into the client's RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

import grpc

from medembed_proto.redact import shorten
from medembed_proto.v1 import encoder_pb2 as pb

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
