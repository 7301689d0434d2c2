"""Closed-loop load: N clients, each with its own connection, one image per request, each sending
its next request when the previous one answered. Used by bench/peers.py for medembed and by
bench/peers_triton.py for Triton, so both sides are driven by the same code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import numpy as np

Send = Callable[[bytes], Awaitable[None]]
OpenClient = Callable[[], AbstractAsyncContextManager[Send]]


async def closed_loop(open_client: OpenClient, images: list[bytes], clients: int) -> dict[str, Any]:
    """Every image sent once, client i taking images[i::clients]. Each client opens its
    connection and sends one warm-up request before the clock starts; returns images/s and
    request latency percentiles in ms."""
    barrier = asyncio.Barrier(clients + 1)
    latencies: list[float] = []

    async def one_client(share: list[bytes]) -> None:
        async with open_client() as send:
            try:
                await send(share[0])  # warm-up: connection, channel, first-call costs
            except BaseException:
                await barrier.abort()  # the others stop waiting; gather below raises this error
                raise
            await barrier.wait()
            for data in share:
                started = time.perf_counter()
                await send(data)
                latencies.append(time.perf_counter() - started)

    tasks = [asyncio.create_task(one_client(images[i::clients])) for i in range(clients)]
    try:
        await barrier.wait()
    except asyncio.BrokenBarrierError:
        pass  # a client failed its warm-up: gather raises its error
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return {"clients": clients, "images": len(images), "seconds": seconds, "img_s": len(images) / seconds,
            "p50_ms": float(p50), "p99_ms": float(p99)}
