"""Refusals under overload: exact counts in metrics, one summary line per interval in the log."""

from __future__ import annotations

import asyncio
import json
import logging

import grpc

from medembed_encoder.logs import JsonLineFormatter
from medembed_encoder.metrics import EncoderMetrics
from medembed_encoder.refusals import RefusalLog


def test_ten_thousand_refusals_make_one_line_with_counts_by_code_and_reason(caplog):
    metrics = EncoderMetrics()

    async def storm() -> None:
        refusals = RefusalLog(metrics, interval_s=0.2)
        for i in range(10_000):
            refusals.record("Embed", grpc.StatusCode.RESOURCE_EXHAUSTED, "queue_full", f"queue full ({i})")
        for _ in range(3):
            refusals.record("EmbedStream", grpc.StatusCode.UNAVAILABLE, "draining", "server is draining")
        await asyncio.sleep(0.5)
        refusals.record("Embed", grpc.StatusCode.UNAUTHENTICATED, "missing_token", "no token")
        refusals.flush()

    caplog.set_level(logging.INFO, logger="medembed_encoder.refusals")
    asyncio.run(storm())
    lines = [JsonLineFormatter().format(r) for r in caplog.records if r.getMessage() == "rpc_rejected"]
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["total"] == 10_003
    assert [(r["code"], r["reason"], r["count"]) for r in first["refusals"]] == [
        ("RESOURCE_EXHAUSTED", "queue_full", 10_000), ("UNAVAILABLE", "draining", 3)]
    assert first["refusals"][0]["example"] == "queue full (0)"
    assert second["total"] == 1 and second["refusals"][0]["reason"] == "missing_token"
    assert metrics.rejected.labels("Embed", "RESOURCE_EXHAUSTED", "queue_full")._value.get() == 10_000
    assert sum(len(line) for line in lines) < 2000
