"""gRPC health check: `check_health(target)` is SERVING or not (used by the CLI, the container
HEALTHCHECK and the encoder's local launcher)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .security import PLAINTEXT, ChannelSecurity, sync_channel


def check_health(target: str, service: str = "", timeout_s: float = 3.0,
                 security: ChannelSecurity = PLAINTEXT) -> str:
    """The status name (SERVING, NOT_SERVING, ...) or the gRPC error code name when unreachable
    (UNAVAILABLE also when TLS does not match: a plaintext client at a TLS port, or an unknown CA)."""
    with sync_channel(target, security) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            # typeshed's HealthStub declares no methods (protoc's code sets them in __init__)
            response = stub.Check(  # type: ignore[attr-defined]
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s, metadata=security.metadata())
        except grpc.RpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
