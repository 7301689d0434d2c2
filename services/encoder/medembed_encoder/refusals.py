"""Refused RPCs, summarised: one `rpc_rejected` line per interval with counts by method, code and
reason (plus one example message each), never a line per refusal — under overload that would be
thousands of lines a minute. Metrics keep the exact counts (`medembed_rejected_requests_total`)."""

from __future__ import annotations

import logging

import grpc

from medembed_proto.redact import shorten

from .logs import IntervalSummary
from .metrics import EncoderMetrics

log = logging.getLogger(__name__)
EXAMPLE_CHARS = 300


class RefusalLog:
    """Refused RPCs: each counted at once in `medembed_rejected_requests`, and logged as one
    `rpc_rejected` summary per `interval_s` seconds. Use it on the event loop (record schedules the
    flush there)."""

    def __init__(self, metrics: EncoderMetrics, interval_s: float) -> None:
        self._metrics = metrics
        self._summary = IntervalSummary(log, "rpc_rejected", "refusals", ("method", "code", "reason"), interval_s)

    def record(self, method: str, code: grpc.StatusCode, reason: str, message: str) -> None:
        """Count one refusal; the summary line follows within `interval_s`."""
        self._metrics.rejected.labels(method, code.name, reason).inc()
        self._summary.record((method, code.name, reason), example=shorten(message, EXAMPLE_CHARS))

    def flush(self) -> None:
        """Write the summary of the refusals since the last one (also called when the server stops)."""
        self._summary.flush()
