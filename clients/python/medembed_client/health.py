"""gRPC health check: `check_health(target)` is SERVING or not (used by the CLI and HEALTHCHECK)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check_health(target: str, service: str = "", timeout_s: float = 3.0) -> str:
    """The status name (SERVING, NOT_SERVING, ...) or the gRPC error code name when unreachable."""
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
