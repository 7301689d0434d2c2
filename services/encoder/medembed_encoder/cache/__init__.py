"""The vector cache: content-addressed keys, Redis or on-disk storage, single-flight."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import ConfigError, Settings
from ..metrics import EncoderMetrics
from .backends import DiskBackend, RedisBackend
from .front import CacheFront
from .keys import KeyScope
from .singleflight import FlightAbandoned, FlightOutcome, SingleFlight

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
DISK_TIMEOUT_S = 2.0


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "medembed" / "vectors"


def build_cache(settings: Settings, metrics: EncoderMetrics) -> CacheFront:
    """`MEDEMBED_CACHE_URL`: redis://... (shared), empty (on-disk, one machine) or `none`."""
    url = settings.cache_url.strip()
    if url.lower() == "none":
        return CacheFront(None, metrics, 0)
    if url.startswith(REDIS_SCHEMES):
        return CacheFront(RedisBackend(url, settings.cache_timeout_s, settings.cache_ttl_s), metrics,
                          settings.cache_timeout_s)
    if url:
        raise ConfigError(f"--cache-url (MEDEMBED_CACHE_URL) must be redis://..., rediss://..., unix://..., "
                          f"'none' or empty (an on-disk cache), got {url!r}")
    directory = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    return CacheFront(DiskBackend(directory, settings.cache_ttl_s), metrics, DISK_TIMEOUT_S)


__all__ = ["CacheFront", "FlightAbandoned", "FlightOutcome", "KeyScope", "SingleFlight", "build_cache"]
