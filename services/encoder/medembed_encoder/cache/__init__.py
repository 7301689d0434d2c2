"""The vector cache: content-addressed keys, Redis or on-disk storage, single-flight."""

from __future__ import annotations

import os
import time
from pathlib import Path

from medembed_proto.redact import redact, register_secret

from ..config import ConfigError, Settings, described, env_var, flag
from ..metrics import EncoderMetrics
from .backends import DiskBackend, RedisBackend
from .front import CacheFront
from .keys import KeyScope
from .mac import MIN_SECRET_BYTES, CacheSealer
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


def _mac_secret(settings: Settings, name: str) -> bytes | None:
    """The secret of setting `name` (`cache_mac_key`, `cache_mac_previous_key`): the first line of its
    `_file` setting, else its env-only setting, else None. Raises ConfigError for an unreadable file
    or a secret under MIN_SECRET_BYTES bytes, naming the setting."""
    path = getattr(settings, f"{name}_file")
    source = described(f"{name}_file") if path else env_var(name)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source} {path}: cannot read the secret ({exc})") from None
        secret = lines[0].strip() if lines else ""
    else:
        secret = getattr(settings, name).strip()
    if not secret:
        if path:
            raise ConfigError(f"{source} {path} is empty: write a secret of {MIN_SECRET_BYTES}+ characters "
                              "(`make secrets`, or `openssl rand -hex 32`)")
        return None
    register_secret(secret)
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"{source}: the secret has {len(secret.encode())} bytes, fewer than {MIN_SECRET_BYTES}; "
                          "make one with `openssl rand -hex 32` (or `make secrets`)")
    return secret.encode()


def cache_sealer(settings: Settings) -> CacheSealer:
    """The sealer of cache values from the cache MAC settings: the current secret, and the previous one
    accepted for reads for `cache_mac_grace_s` seconds from now. Raises ConfigError for a bad secret."""
    secret = _mac_secret(settings, "cache_mac_key")
    previous = _mac_secret(settings, "cache_mac_previous_key")
    if previous is not None and secret is None:
        raise ConfigError(f"{described('cache_mac_previous_key_file')} is for a rotation: set the new secret in "
                          f"{described('cache_mac_key_file')} too")
    return CacheSealer(secret, previous, time.monotonic() + settings.cache_mac_grace_s)


def build_cache(settings: Settings, metrics: EncoderMetrics) -> CacheFront:
    """`MEDEMBED_CACHE_URL`: redis://... or rediss://... (shared), empty (on-disk, one machine) or `none`.
    Values are sealed with the cache MAC secret when one is configured (cache_sealer)."""
    url = settings.cache_url.strip()
    if url.lower() == "none":
        return CacheFront(None, metrics, 0)
    sealer = cache_sealer(settings)
    interval = settings.refusal_log_interval_s
    if url.startswith(REDIS_SCHEMES):
        backend = RedisBackend(url, settings.cache_timeout_s, settings.cache_ttl_s, redis_password(settings))
        return CacheFront(backend, metrics, settings.cache_timeout_s, sealer=sealer, mac_log_interval_s=interval)
    if url:
        raise ConfigError(redact(f"--cache-url (MEDEMBED_CACHE_URL) must be redis://..., rediss://..., unix://..., "
                                 f"'none' or empty (an on-disk cache), got {url!r}"))
    directory = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    try:
        backend = DiskBackend(directory, settings.cache_ttl_s)
    except OSError as exc:
        raise ConfigError(f"{described('cache_dir')} {directory}: cannot make it a private folder (0700) of this "
                          f"user ({exc.strerror or exc}); pick another with {flag('cache_dir')}") from None
    return CacheFront(backend, metrics, DISK_TIMEOUT_S, sealer=sealer, mac_log_interval_s=interval)


__all__ = ["CacheFront", "CacheSealer", "FlightAbandoned", "FlightOutcome", "KeyScope", "SingleFlight", "build_cache",
           "cache_sealer"]
