"""Which failures are worth retrying, and for how long: a time budget, not a count.

An overloaded server answers RESOURCE_EXHAUSTED and a draining or restarting one UNAVAILABLE; both
pass. A call keeps trying, with full-jitter exponential backoff, until its deadline (the client's
`timeout_s`), so a healthy server that is working off its queue never sees a client give up early.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import grpc

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
# RESOURCE_EXHAUSTED from gRPC's own message or metadata size limits: sending again cannot help.
_SIZE_LIMIT_MARKERS = ("larger than max", "metadata size exceeds")
_MIN_ATTEMPT_S = 0.05  # less time than this left: not worth another try


@dataclass(frozen=True)
class RetryPolicy:
    """How a call retries RESOURCE_EXHAUSTED and UNAVAILABLE: backoff from `initial_backoff_s`,
    times `multiplier` per try, capped at `max_backoff_s` (seconds, full jitter)."""

    max_attempts: int | None = None
    """None: as many tries as fit before the deadline; 1 = no retry (tests, latency-bound callers)."""
    max_elapsed_s: float | None = None
    """Stop retrying this long after the first try, even when the deadline is later (None: deadline)."""
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    multiplier: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before try number `attempt + 1`, in seconds."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** min(attempt, 64))
        return random.uniform(ceiling / 2, ceiling)


def is_retryable(code: grpc.StatusCode, details: str) -> bool:
    """True for UNAVAILABLE and RESOURCE_EXHAUSTED, except gRPC's own message-size refusals."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and any(m in (details or "") for m in _SIZE_LIMIT_MARKERS):
        return False
    return code in RETRYABLE


class RetryBudget:
    """The time left to one call, across its tries."""

    def __init__(self, policy: RetryPolicy, timeout_s: float) -> None:
        self.policy = policy
        self.started = time.monotonic()
        self.deadline = self.started + timeout_s
        self.attempts = 0

    def remaining(self) -> float:
        """Seconds left before the call's deadline, never negative."""
        return max(0.0, self.deadline - time.monotonic())

    def elapsed(self) -> float:
        """Seconds since the first try."""
        return time.monotonic() - self.started

    async def retry_after(self, code: grpc.StatusCode, details: str) -> bool:
        """After a failed try: sleep the backoff and return True, or False when the call must fail
        (not retryable, out of tries, or out of time)."""
        self.attempts += 1
        policy = self.policy
        if not is_retryable(code, details):
            return False
        if policy.max_attempts is not None and self.attempts >= policy.max_attempts:
            return False
        limit = self.remaining()
        if policy.max_elapsed_s is not None:
            limit = min(limit, policy.max_elapsed_s - self.elapsed())
        if limit < 2 * _MIN_ATTEMPT_S:
            return False
        await asyncio.sleep(min(policy.backoff(self.attempts - 1), limit - _MIN_ATTEMPT_S))
        return True

    def summary(self) -> str:
        """`after N tries over S s` when it retried, for error messages; empty otherwise."""
        return f"after {self.attempts} tries over {self.elapsed():.1f} s" if self.attempts > 1 else ""
