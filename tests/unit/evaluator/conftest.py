"""Shared fixtures, among them a private redis-server per test that needs one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.redis_server import PrivateRedis


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private redis-server on a free loopback port, without persistence; killed afterwards."""
    server = PrivateRedis().start()
    try:
        yield server.url
    finally:
        server.stop()
