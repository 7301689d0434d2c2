"""Server settings from command-line flags and `MEDEMBED_*` environment variables.

Every setting has one name; the env var is `MEDEMBED_` + the upper-cased name. Flags win over
env vars, env vars over defaults. Invalid values stop the server at start with a clear message.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from pathlib import Path

ENV_PREFIX = "MEDEMBED_"


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...] = ()
    host: str = "[::]"
    port: int = 50051
    metrics_port: int = 9464
    catalog: str = ""  # extra catalog YAML merged over the built-in one
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    allow_random_weights: bool = False
    max_batch_size: int = 32
    max_queue_delay_ms: float = 5.0
    max_queue_items: int = 2048
    max_items_per_request: int = 256
    max_image_bytes: int = 32 * 2**20
    max_request_bytes: int = 64 * 2**20
    max_pixels: int = 80_000_000
    min_side: int = 8
    decode_threads: int = 0  # 0 = one per CPU core
    stream_window: int = 4  # EmbedStream requests in flight per stream
    drain_seconds: float = 20.0
    stall_seconds: float = 120.0
    max_connection_age_s: float = 0.0  # 0 = unlimited; >0 lets load balancers rebalance
    cache_url: str = ""  # "" = on-disk cache, "none", or redis://...
    cache_dir: str = ""
    cache_ttl_s: int = 30 * 24 * 3600
    cache_timeout_s: float = 0.1  # per Redis call; a slower Redis costs misses, never latency
    log_level: str = "info"

    def validate(self) -> "Settings":
        if not self.models:
            raise ConfigError("no models: pass --models ID[,ID...] or set MEDEMBED_MODELS")
        positive = ("max_batch_size", "max_queue_items", "max_items_per_request", "max_image_bytes",
                    "max_request_bytes", "max_pixels", "min_side", "stream_window")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_queue_delay_ms < 0:
            raise ConfigError(f"max_queue_delay_ms must be >= 0, got {self.max_queue_delay_ms}")
        if self.max_queue_items < self.max_items_per_request:
            raise ConfigError("max_queue_items must be >= max_items_per_request, or no full request fits")
        if self.dtype not in ("auto", "float32", "float16", "bfloat16"):
            raise ConfigError(f"dtype must be auto|float32|float16|bfloat16, got {self.dtype!r}")
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device must be auto|cpu|cuda[:N], got {self.device!r}")
        if self.catalog and not Path(self.catalog).is_file():
            raise ConfigError(f"catalog file not found: {self.catalog}")
        return self

    @property
    def grpc_max_message_bytes(self) -> int:
        # Headroom over the request cap so an oversized request reaches our own check and gets
        # INVALID_ARGUMENT with a message, instead of gRPC's bare RESOURCE_EXHAUSTED.
        return 2 * self.max_request_bytes + 2**20


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"not a boolean: {text!r}")


def _convert(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return _parse_bool(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} / --{name.replace('_', '-')}: {exc}") from None
    return raw


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting; unset flags fall back to the env var, then the default."""
    defaults = Settings()
    for name in setting_names():
        flag = f"--{name.replace('_', '-')}"
        default = getattr(defaults, name)
        if isinstance(default, bool):
            parser.add_argument(flag, dest=name, action="store_const", const="true", default=None,
                                help=f"env {env_var(name)}")
        else:
            parser.add_argument(flag, dest=name, default=None,
                                help=f"env {env_var(name)} (default {default!r})")


def from_sources(args: argparse.Namespace | None = None, environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    defaults = Settings()
    values: dict[str, object] = {}
    for name in setting_names():
        default = getattr(defaults, name)
        flag_value = getattr(args, name, None) if args is not None else None
        raw = flag_value if flag_value is not None else environ.get(env_var(name))
        if raw is not None:
            values[name] = _convert(name, str(raw), default)
    return Settings(**values).validate()  # type: ignore[arg-type]
