"""A private redis-server for tests: the same launcher benchmarks use."""

from medembed_encoder.testing import LocalRedis as PrivateRedis

__all__ = ["PrivateRedis"]
