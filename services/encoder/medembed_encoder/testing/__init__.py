"""Processes to test and benchmark against: an encoder server and a private redis-server, each a
local subprocess on free loopback ports (used by the tests, bench/ and `make bench`; never by the
server itself)."""

from .launcher import LocalEncoder, free_port, start_local_encoder
from .local_redis import LocalRedis

__all__ = ["LocalEncoder", "LocalRedis", "free_port", "start_local_encoder"]
