"""A private redis-server in a local subprocess, for benchmarks and tests of the Redis cache."""

from __future__ import annotations

import signal
import subprocess
import time

import redis

from .launcher import free_port


class LocalRedis:
    """A private redis-server on a free loopback port that a caller may kill, pause and restart.

    No persistence, 64 MB with allkeys-lru eviction. Needs `redis-server` on PATH.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "LocalRedis":
        """Start it and wait until it answers PING; raises RuntimeError when it does not within 10 s
        (FileNotFoundError without redis-server)."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        give_up = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > give_up or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def client(self) -> redis.Redis:
        """A redis-py client with a 2 s socket timeout."""
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, but nothing ever answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Resume it if paused, then terminate it and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)
