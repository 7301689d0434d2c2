"""Cache storage backends: Redis (shared by replicas) and an on-disk directory (one machine).

Backends only move bytes; CacheFront (front.py) owns timeouts, breaker, metrics and validation.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


class CacheBackend(Protocol):
    """A cache storage: moves bytes by key, many keys a call. A backend raises what its storage raises;
    CacheFront turns every such error into misses."""

    name: str

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The value of each key, in the order of `keys`; None where there is none (or it expired)."""

    async def set_many(self, entries: dict[str, bytes]) -> None:
        """Store every key -> value entry, to expire after the backend's TTL."""

    async def close(self) -> None:
        """Release the backend's connections or files."""


class RedisBackend:
    """One MGET in, one pipelined batch of SET EX out. No retries: a slow Redis costs misses."""

    name = "redis"

    def __init__(self, url: str, timeout_s: float, ttl_s: int, password: str | None = None) -> None:
        self._ttl_s = ttl_s
        # A password in the URL wins over `password` (redis-py); the URL of a deployment carries
        # none, the password comes from a secret file (cache_password_file).
        extra = {"password": password} if password is not None else {}
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False, max_connections=64, **extra)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """One MGET: each key's value in order, None where Redis has none. A slow or failed call raises
        redis-py's errors (redis.exceptions.TimeoutError, ConnectionError)."""
        return await self._client.mget(list(keys))

    async def set_many(self, entries: dict[str, bytes]) -> None:
        """One non-transactional pipeline of `SET key value EX ttl_s`, one per entry."""
        async with self._client.pipeline(transaction=False) as pipe:
            for key, value in entries.items():
                pipe.set(key, value, ex=self._ttl_s)
            await pipe.execute()

    async def close(self) -> None:
        """Close the Redis client and its connection pool."""
        await self._client.aclose()


class DiskBackend:
    """Files named by the sha256 of the key, written atomically; expired by modification time."""

    name = "disk"

    def __init__(self, directory: Path, ttl_s: int) -> None:
        self.directory = directory
        self._ttl_s = ttl_s
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.directory / name[:2] / name

    def _read_all(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.time()
        values: list[bytes | None] = []
        for key in keys:
            path = self._path(key)
            try:
                fresh = now - path.stat().st_mtime <= self._ttl_s
                values.append(path.read_bytes() if fresh else None)
            except FileNotFoundError:
                values.append(None)
        return values

    def _write_all(self, entries: dict[str, bytes]) -> None:
        for key, value in entries.items():
            path = self._path(key)
            path.parent.mkdir(exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(value)
            temporary.replace(path)  # atomic: a reader never sees half a vector

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's file contents in order, read in a worker thread; None where the file is missing or
        older than `ttl_s` seconds (by modification time). Other OSErrors propagate."""
        return await asyncio.to_thread(self._read_all, keys)

    async def set_many(self, entries: dict[str, bytes]) -> None:
        """Write each value to its key's file in a worker thread (a temporary file, then an atomic rename)."""
        await asyncio.to_thread(self._write_all, entries)

    async def close(self) -> None:
        """Nothing to release: every read and write opens and closes its own file."""
        return None
