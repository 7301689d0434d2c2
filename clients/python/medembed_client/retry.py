"""Which failures are worth retrying, and how long to wait between tries."""

from __future__ import annotations

import random
from dataclasses import dataclass

import grpc

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    multiplier: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before try number `attempt + 1`."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** attempt)
        return random.uniform(ceiling / 2, ceiling)


def is_retryable(code: grpc.StatusCode, details: str) -> bool:
    # A message over gRPC's size limit is RESOURCE_EXHAUSTED too, but sending it again cannot help.
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in (details or ""):
        return False
    return code in RETRYABLE
