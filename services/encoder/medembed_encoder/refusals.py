"""Refused RPCs, summarised: one `rpc_rejected` line per interval with counts by method, code and
reason (plus one example message each), never a line per refusal — under overload that would be
thousands of lines a minute. Metrics keep the exact counts (`medembed_rejected_requests_total`)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import grpc

from medembed_client.redact import shorten

from .logs import event
from .metrics import EncoderMetrics

log = logging.getLogger(__name__)
EXAMPLE_CHARS = 300


class RefusalLog:
    """Refused RPCs: each counted at once in `medembed_rejected_requests`, and logged as one
    `rpc_rejected` summary per `interval_s` seconds. Use it on the event loop (record schedules the
    flush there)."""

    def __init__(self, metrics: EncoderMetrics, interval_s: float) -> None:
        self._metrics = metrics
        self._interval_s = interval_s
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._examples: dict[tuple[str, str, str], str] = {}
        self._flush_handle: asyncio.TimerHandle | None = None

    def record(self, method: str, code: grpc.StatusCode, reason: str, message: str) -> None:
        """Count one refusal; the summary line follows within `interval_s`."""
        key = (method, code.name, reason)
        self._metrics.rejected.labels(method, code.name, reason).inc()
        self._counts[key] += 1
        self._examples.setdefault(key, shorten(message, EXAMPLE_CHARS))
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self._interval_s, self.flush)

    def flush(self) -> None:
        """Write the summary of the refusals since the last one (also called when the server stops)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._counts:
            return
        refusals = [{"method": method, "code": code, "reason": reason, "count": count,
                     "example": self._examples[(method, code, reason)]}
                    for (method, code, reason), count in self._counts.most_common()]
        event(log, "rpc_rejected", logging.WARNING, interval_s=self._interval_s,
              total=sum(self._counts.values()), refusals=refusals)
        self._counts.clear()
        self._examples.clear()
