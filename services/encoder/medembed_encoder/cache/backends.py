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
from redis.asyncio.connection import ConnectionPool, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


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
        # What redis-py's from_url does, except that `password` (from cache_password_file) wins
        # over a password in the URL, as --help says; from_url lets the URL win.
        options: dict[str, object] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
                                      "retry": Retry(NoBackoff(), 0), "retry_on_timeout": False,
                                      "max_connections": 64, **parse_url(url)}
        if password is not None:
            options["password"] = password
        self._client = redis.Redis.from_pool(ConnectionPool(**options))

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
    """Files named by the sha256 of the key, written atomically; expired by modification time.

    Private to the user running the server: the folder and its subfolders are 0700, the files 0600
    (an existing folder is tightened at start). Raises OSError when the folder cannot be made or
    tightened (e.g. it belongs to another user)."""

    name = "disk"

    def __init__(self, directory: Path, ttl_s: int) -> None:
        self.directory = directory
        self._ttl_s = ttl_s
        directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        directory.chmod(PRIVATE_DIR)  # mkdir's mode is masked by the umask, and a folder may predate this rule

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
            if not path.parent.is_dir():
                path.parent.mkdir(exist_ok=True, mode=PRIVATE_DIR)
                path.parent.chmod(PRIVATE_DIR)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            # O_EXCL|O_NOFOLLOW: never write through a planted file or link; 0600 from the first byte.
            temporary.unlink(missing_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(value)
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
