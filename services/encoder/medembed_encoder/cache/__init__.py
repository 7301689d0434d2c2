"""The vector cache: content-addressed keys, Redis or on-disk storage, single-flight."""

from __future__ import annotations

import os
from pathlib import Path

from medembed_client.redact import redact, register_secret

from ..config import ConfigError, Settings
from ..metrics import EncoderMetrics
from .backends import DiskBackend, RedisBackend
from .front import CacheFront
from .keys import KeyScope
from .singleflight import FlightAbandoned, FlightOutcome, SingleFlight

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
DISK_TIMEOUT_S = 2.0


def default_cache_dir() -> Path:
    """The on-disk cache folder: `$XDG_CACHE_HOME/medembed/vectors`, else `~/.cache/medembed/vectors`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "medembed" / "vectors"


def redis_password(settings: Settings) -> str | None:
    """The password in `cache_password_file` (first line), or None to use the URL's own."""
    if not settings.cache_password_file:
        return None
    try:
        password = Path(settings.cache_password_file).read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise ConfigError(f"cache_password_file {settings.cache_password_file}: cannot read a password ({exc})") \
            from None
    register_secret(password)
    return password


def build_cache(settings: Settings, metrics: EncoderMetrics) -> CacheFront:
    """`MEDEMBED_CACHE_URL`: redis://... or rediss://... (shared), empty (on-disk, one machine) or `none`."""
    url = settings.cache_url.strip()
    if url.lower() == "none":
        return CacheFront(None, metrics, 0)
    if url.startswith(REDIS_SCHEMES):
        backend = RedisBackend(url, settings.cache_timeout_s, settings.cache_ttl_s, redis_password(settings))
        return CacheFront(backend, metrics, settings.cache_timeout_s)
    if url:
        raise ConfigError(redact(f"--cache-url (MEDEMBED_CACHE_URL) must be redis://..., rediss://..., unix://..., "
                                 f"'none' or empty (an on-disk cache), got {url!r}"))
    directory = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    return CacheFront(DiskBackend(directory, settings.cache_ttl_s), metrics, DISK_TIMEOUT_S)


__all__ = ["CacheFront", "FlightAbandoned", "FlightOutcome", "KeyScope", "SingleFlight", "build_cache"]
