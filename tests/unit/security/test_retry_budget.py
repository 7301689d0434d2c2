"""The client's retry budget is the call's deadline, not a count of tries."""

from __future__ import annotations

import asyncio

import grpc

from medembed_client.retry import RetryBudget, RetryPolicy, is_retryable

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
FAST = RetryPolicy(initial_backoff_s=0.005, max_backoff_s=0.01)


async def tries_until_refused(budget: RetryBudget, code: grpc.StatusCode = UNAVAILABLE, details: str = "") -> int:
    while await budget.retry_after(code, details):
        pass
    return budget.attempts


def test_retries_go_on_until_the_deadline_not_a_fixed_count():
    budget = RetryBudget(FAST, timeout_s=0.6)
    attempts = asyncio.run(tries_until_refused(budget))
    assert attempts > 20  # the old policy stopped after 8 tries whatever the deadline
    assert budget.remaining() < 0.2  # it stopped because the time was used up


def test_a_cap_on_tries_is_still_possible():
    assert asyncio.run(tries_until_refused(RetryBudget(RetryPolicy(max_attempts=1), 60))) == 1
    assert asyncio.run(tries_until_refused(RetryBudget(RetryPolicy(max_attempts=3, initial_backoff_s=0.001), 60))) == 3


def test_max_elapsed_stops_before_the_deadline():
    budget = RetryBudget(RetryPolicy(max_elapsed_s=0.2, initial_backoff_s=0.005, max_backoff_s=0.01), timeout_s=60)
    asyncio.run(tries_until_refused(budget))
    assert budget.remaining() > 50


def test_errors_that_retrying_cannot_cure_end_at_once():
    for code, details in ((grpc.StatusCode.INVALID_ARGUMENT, "model is 100000 characters; the cap is 256"),
                          (grpc.StatusCode.UNAUTHENTICATED, ""),
                          (grpc.StatusCode.RESOURCE_EXHAUSTED, "received metadata size exceeds hard limit"),
                          (grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5 vs. 4)")):
        assert not is_retryable(code, details)
        assert asyncio.run(tries_until_refused(RetryBudget(FAST, 60), code, details)) == 1
    assert is_retryable(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue is full (64 items)")
