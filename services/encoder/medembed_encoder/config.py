"""Server settings from command-line flags and `MEDEMBED_*` environment variables.

Every setting has one name; the env var is `MEDEMBED_` + the upper-cased name. Flags win over
env vars, env vars over defaults. Invalid values stop the server at start with a clear message.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from medembed_decode import DEFAULT_LIMITS
from medembed_proto.redact import redact

ENV_PREFIX = "MEDEMBED_"
LOG_LEVELS = ("debug", "info", "warning", "error")
REFLECTION_MODES = ("auto", "on", "off")
MIN_TOKEN_CHARS = 16


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


def setting(default: object, description: str, *, secret: bool = False, off: str = "") -> Any:
    """A settings field with its `--help` text: `description` says what the setting does (for a
    switch: what it does when on). A switch that is on by default takes `off`, what turning it off
    does: the help of its `--no-...` flag. A `secret` one is read from its env var only (a flag would
    show in the process list) and is left out of the settings' repr."""
    return field(default=default, repr=not secret, metadata={"help": description, "secret": secret, "off": off})


@dataclass(frozen=True)
class Settings:
    """Every server setting with its default and `--help` text; `from_sources` builds and validates
    one. `*_bytes` are bytes, `max_pixels` and `min_side` pixels; durations are seconds, `*_ms` ms."""

    models: tuple[str, ...] = setting((), "catalog ids to serve, comma-separated (required; "
                                          "`medembed-encoder catalog` lists them)")
    host: str = setting("[::]", "address the gRPC port binds to")
    port: int = setting(50051, "gRPC port")
    metrics_port: int = setting(9464, "Prometheus metrics port (-1 = off)")
    metrics_host: str = setting("", "address the metrics port binds to (empty = the gRPC host)")
    health_port: int = setting(-1, "plaintext port serving only the gRPC health service, for probes that cannot "
                                   "speak TLS (the kubelet's); -1 = off")
    tls_cert: str = setting("", "PEM certificate chain of the gRPC port; with tls_key turns TLS on")
    tls_key: str = setting("", "PEM private key of tls_cert")
    tls_client_ca: str = setting("", "PEM CA bundle: clients must present a certificate it signed (mutual TLS)")
    token_file: str = setting("", "file of accepted bearer tokens, one a line (several = rotation); re-read when "
                                  "it changes")
    tokens: tuple[str, ...] = setting((), "accepted bearer tokens, comma-separated (env only)", secret=True)
    reflection: str = setting("auto", "gRPC server reflection: auto | on | off (auto = on without tokens, off "
                                      "with them)")
    catalog: str = setting("", "extra catalog YAML merged over the built-in one")
    device: str = setting("auto", "auto | cpu | cuda | cuda:N (auto = cuda when present)")
    dtype: str = setting("auto", "auto | float32 | float16 | bfloat16 (auto = fp32 on CPU, bf16/fp16 on GPU)")
    allow_random_weights: bool = setting(False, "serve random-init entries, and seeded random weights where real "
                                                "ones cannot be had (logged, flagged random_weights)")
    max_batch_size: int = setting(32, "largest batch one forward runs, in items")
    max_queue_delay_ms: float = setting(5.0, "longest an item waits for a batch to fill while the model is "
                                             "computing, in ms (an idle model starts at once)")
    start_when_idle: bool = setting(True, "an idle model starts a batch at once instead of waiting up to "
                                          "max_queue_delay_ms for it to fill",
                                    off="an idle model too waits up to max_queue_delay_ms for its batch to fill, "
                                        "as a busy one does (fuller batches, more latency at low load)")
    forward_workers: int = setting(0, "batches (count) of one model computing at the same time (0 = auto: 2)")
    intra_op_threads: int = setting(0, "torch threads inside one forward, a count (0 = auto: CPU cores / "
                                       "forward_workers)")
    forward_chunk: int = setting(0, "items per forward call (0 = auto: on a CPU the fastest per image, measured "
                                    "at warm-up; on a GPU max_batch_size)")
    digest_lookup: bool = setting(True, "answer items that carry only their content_sha256 from the cache "
                                        "(not_cached when absent), so clients send only the bytes of misses",
                                  off="items that carry only their content_sha256 fail as not_cached (clients "
                                      "read this in the server's limits and send every image's bytes)")
    max_queue_items: int = setting(2048, "items admitted and not yet computed, per model; more = "
                                             "RESOURCE_EXHAUSTED")
    max_items_per_request: int = setting(256, "items one request may carry")
    max_image_bytes: int = setting(DEFAULT_LIMITS.max_image_bytes,
                                   "bytes one image may have (larger items fail alone as too_large)")
    max_request_bytes: int = setting(64 * 2**20, "image bytes one request may carry (items over max_image_bytes "
                                                 "not counted: they fail alone)")
    max_pixels: int = setting(DEFAULT_LIMITS.max_pixels,
                              "pixels (width x height x frames) one image may have, read from its header")
    min_side: int = setting(DEFAULT_LIMITS.min_side, "smallest image side in pixels")
    max_aspect_ratio: float = setting(DEFAULT_LIMITS.max_aspect_ratio,
                                      "long side / short side one image may have, read from its header (the "
                                      "model's resize grows the long side with the short one); more = too_large")
    max_volume_bytes: int = setting(DEFAULT_LIMITS.max_volume_bytes,
                                    "bytes a volume item (NIfTI, DICOM series archive) may inflate to: gzip output "
                                    "and an archive's declared member sizes, read before extraction")
    max_volume_voxels: int = setting(DEFAULT_LIMITS.max_volume_voxels, "voxels one volume may have, from its headers")
    max_volume_slices: int = setting(DEFAULT_LIMITS.max_volume_slices,
                                     "images one volume may stack (DICOM files or frames, NIfTI slices)")
    max_archive_members: int = setting(DEFAULT_LIMITS.max_archive_members,
                                       "files one DICOM series archive may hold, counted before extraction")
    decode_workers: int = setting(0, "processes that decode items to 8-bit pixels (0 = one per CPU core)")
    decode_timeout_s: float = setting(20.0, "seconds one item's decode may take; a slower one fails alone with "
                                            "`timeout` and its decode process is replaced")
    decode_threads: int = setting(0, "threads that hash items and run the models' preprocessing "
                                     "(0 = one per CPU core)")
    stream_window: int = setting(4, "EmbedStream requests in flight per stream (count)")
    max_concurrent_rpcs: int = setting(64, "RPCs served at once, counted from before their request is read; more "
                                           "= RESOURCE_EXHAUSTED (health has 8 slots of its own)")
    max_inflight_request_bytes: int = setting(0, "request message bytes held at once by the RPCs in flight; a "
                                                 "message that would pass it is dropped unparsed with "
                                                 "RESOURCE_EXHAUSTED, unless nothing else is in flight "
                                                 "(0 = 4 x max_request_bytes)")
    drain_seconds: float = setting(20.0, "on SIGTERM, seconds in-flight RPCs may take to finish")
    stall_seconds: float = setting(120.0, "a model whose queue does not move for this many seconds turns "
                                            "NOT_SERVING")
    max_connection_age_s: float = setting(0.0, "close client connections after this age in seconds so load "
                                                "balancers rebalance (0 = never)")
    cache_url: str = setting("", "vector cache: empty = on-disk cache, `none`, redis://... or rediss://... (TLS)")
    cache_password_file: str = setting("", "file holding the Redis password (a Docker or Kubernetes secret); used "
                                           "over any password in cache_url")
    cache_mac_key_file: str = setting("", "file holding the secret (first line, 32+ characters) that authenticates "
                                          "cache values; the same on every replica (`make secrets` writes one). "
                                          "Without it (or MEDEMBED_CACHE_MAC_KEY) cache values are not authenticated")
    cache_mac_key: str = setting("", "the cache MAC secret itself (env only; cache_mac_key_file wins)", secret=True)
    cache_mac_previous_key_file: str = setting("", "during a rotation, the secret being replaced: values it sealed are "
                                                   "still served (and sealed again with the new one) for "
                                                   "cache_mac_grace_s seconds after start")
    cache_mac_previous_key: str = setting("", "the previous cache MAC secret itself (env only; "
                                              "cache_mac_previous_key_file wins)", secret=True)
    cache_mac_grace_s: float = setting(7 * 24 * 3600.0, "seconds after start the previous cache MAC secret is "
                                                        "accepted for reads")
    cache_dir: str = setting("", "on-disk cache folder (default ~/.cache/medembed/vectors)")
    cache_ttl_s: int = setting(30 * 24 * 3600, "seconds a cached vector lives in Redis")
    cache_timeout_s: float = setting(0.1, "seconds per Redis call; a slower Redis costs misses, never latency")
    log_level: str = setting("info", "debug | info | warning | error")
    refusal_log_interval_s: float = setting(10.0, "refused RPCs are logged as one summary line per this many "
                                                  "seconds, with counts by code and reason")

    def validate(self) -> "Settings":
        """These settings, when every one is valid; raises ConfigError naming the first bad one."""
        if not self.models:
            raise ConfigError("no models: pass --models ID[,ID...] or set MEDEMBED_MODELS "
                              "(`medembed-encoder catalog` lists the ids)")
        positive = ("max_batch_size", "max_queue_items", "max_items_per_request", "max_image_bytes",
                    "max_request_bytes", "max_pixels", "min_side", "stream_window", "max_volume_bytes",
                    "max_volume_voxels", "max_volume_slices", "max_archive_members", "max_concurrent_rpcs")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{described(name)} must be more than 0, got {getattr(self, name)}")
        if self.max_image_bytes > self.max_request_bytes:
            raise ConfigError(f"{described('max_image_bytes')} ({self.max_image_bytes}) must be at most "
                              f"{described('max_request_bytes')} ({self.max_request_bytes}), or an image that "
                              "passes its cap could not be sent")
        if self.max_inflight_request_bytes < 0:
            raise ConfigError(f"{described('max_inflight_request_bytes')} must be 0 (auto) or more, got "
                              f"{self.max_inflight_request_bytes}")
        if 0 < self.max_inflight_request_bytes < self.max_request_bytes:
            raise ConfigError(f"{described('max_inflight_request_bytes')} ({self.max_inflight_request_bytes}) must "
                              f"be at least {described('max_request_bytes')} ({self.max_request_bytes})")
        if self.max_aspect_ratio < 1:
            raise ConfigError(f"{described('max_aspect_ratio')} must be 1 or more, got {self.max_aspect_ratio:g}")
        if self.decode_timeout_s <= 0:
            raise ConfigError(f"{described('decode_timeout_s')} must be more than 0, got {self.decode_timeout_s:g}")
        for name in ("decode_workers", "decode_threads", "forward_workers", "intra_op_threads", "forward_chunk"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{described(name)} must be 0 (auto) or more, got {getattr(self, name)}")
        if self.max_queue_delay_ms < 0:
            raise ConfigError(f"{described('max_queue_delay_ms')} must be 0 or more, got {self.max_queue_delay_ms:g}")
        if self.max_queue_items < self.max_items_per_request:
            raise ConfigError(f"{described('max_queue_items')} ({self.max_queue_items}) must be at least "
                              f"{described('max_items_per_request')} ({self.max_items_per_request}), or no full "
                              "request fits in the queue")
        if self.dtype not in ("auto", "float32", "float16", "bfloat16"):
            raise ConfigError(f"{described('dtype')} must be auto, float32, float16 or bfloat16, got {self.dtype!r}")
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"{described('device')} must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"{described('log_level')} must be one of {', '.join(LOG_LEVELS)}, "
                              f"got {self.log_level!r}")
        if self.catalog and not Path(self.catalog).is_file():
            raise ConfigError(f"{described('catalog')}: file not found: {self.catalog}")
        if self.refusal_log_interval_s <= 0:
            raise ConfigError(f"{described('refusal_log_interval_s')} must be more than 0, "
                              f"got {self.refusal_log_interval_s:g}")
        self._validate_security()
        return self

    def _validate_security(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key go together: set both (MEDEMBED_TLS_CERT, MEDEMBED_TLS_KEY)")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError("tls_client_ca (mutual TLS) needs TLS: set tls_cert and tls_key too")
        for name in ("tls_cert", "tls_key", "tls_client_ca", "token_file", "cache_password_file", "cache_mac_key_file",
                     "cache_mac_previous_key_file"):
            if getattr(self, name) and not Path(getattr(self, name)).is_file():
                raise ConfigError(f"{name}: file not found: {getattr(self, name)}")
        for index, token in enumerate(self.tokens):
            if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable() or " " in token:
                raise ConfigError(f"{env_var('tokens')}: token {index + 1} must be at least {MIN_TOKEN_CHARS} "
                                  "printable ASCII characters without spaces")
        if (self.cache_mac_previous_key_file or self.cache_mac_previous_key) and not (
                self.cache_mac_key_file or self.cache_mac_key):
            raise ConfigError(f"{described('cache_mac_previous_key_file')} is for a rotation: set the new secret in "
                              f"{described('cache_mac_key_file')} (or {env_var('cache_mac_key')}) too")
        if self.cache_mac_grace_s < 0:
            raise ConfigError(f"{described('cache_mac_grace_s')} must be 0 or more, got {self.cache_mac_grace_s:g}")
        if self.reflection not in REFLECTION_MODES:
            raise ConfigError(f"reflection must be auto|on|off, got {self.reflection!r}")
        if self.health_port >= 0 and self.health_port == self.port:
            raise ConfigError(f"health_port must differ from port ({self.port})")

    @property
    def tls(self) -> bool:
        """True when the gRPC port serves TLS (`tls_cert` set; validate requires `tls_key` with it)."""
        return bool(self.tls_cert)

    @property
    def wants_tokens(self) -> bool:
        """True when RPCs need a bearer token (`tokens` or `token_file` set)."""
        return bool(self.tokens or self.token_file)

    @property
    def reflection_on(self) -> bool:
        """Whether gRPC server reflection is served: `reflection=on`, or `auto` without tokens."""
        return self.reflection == "on" or (self.reflection == "auto" and not self.wants_tokens)

    @property
    def metrics_bind_host(self) -> str:
        """The metrics address as prometheus_client takes it: no brackets around IPv6."""
        return (self.metrics_host or self.host).strip("[]")

    @property
    def inflight_request_bytes(self) -> int:
        """The cap on request bytes held by the RPCs in flight: max_inflight_request_bytes, or 4 x
        max_request_bytes when that is 0 (auto)."""
        return self.max_inflight_request_bytes or 4 * self.max_request_bytes

    @property
    def grpc_max_message_bytes(self) -> int:
        """gRPC's send and receive message cap, in bytes: twice max_request_bytes plus 1 MiB."""
        # Headroom over the request cap so an oversized request reaches our own check and gets
        # INVALID_ARGUMENT with a message, instead of gRPC's bare RESOURCE_EXHAUSTED.
        return 2 * self.max_request_bytes + 2**20


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError


def _convert(name: str, raw: str, default: object) -> object:
    expected = {bool: "1/true/yes/on or 0/false/no/off", int: "a whole number", float: "a number"}
    try:
        if isinstance(default, bool):
            return _parse_bool(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(redact(f"{described(name)} must be {expected[type(default)]}, got {raw!r}")) from None
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def flag(name: str) -> str:
    """The command-line flag of a setting: `max_batch_size` -> `--max-batch-size`."""
    return f"--{name.replace('_', '-')}"


def described(name: str) -> str:
    """How a user sets a setting: `--max-batch-size (MEDEMBED_MAX_BATCH_SIZE)`."""
    return f"{flag(name)} ({env_var(name)})"


def setting_names() -> list[str]:
    """The name of every setting, in field order."""
    return [f.name for f in fields(Settings)]


def env_var(name: str) -> str:
    """The environment variable of a setting: `max_batch_size` -> `MEDEMBED_MAX_BATCH_SIZE`."""
    return ENV_PREFIX + name.upper()


def flag_help(name: str) -> tuple[str, str]:
    """The flag of setting `name` and its `--help` text, with its env var and default. A switch
    that is off by default gets `--NAME` (what turning it on does); one that is on by default gets
    `--no-NAME` with what turning it off does (the setting's `off` text), the default said after it."""
    item = next(f for f in fields(Settings) if f.name == name)
    default = getattr(Settings(), name)
    text, off = item.metadata["help"], item.metadata["off"]
    if isinstance(default, bool):
        if not default:
            return flag(name), f"{text} [env {env_var(name)}=1; default off]"
        return flag("no_" + name), (f"turns {name} off: {off or 'the opposite of ' + repr(text)} "
                                    f"[env {env_var(name)}=0; default on: {text}]")
    if "(required" in text:
        return flag(name), f"{text} [env {env_var(name)}]"
    if default in ((), ""):
        return flag(name), f"{text} [env {env_var(name)}; default empty]"
    return flag(name), f"{text} [env {env_var(name)}; default {default}]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (flag_help); unset flags fall back to the env var, then the default."""
    defaults = Settings()
    for item in fields(Settings):
        if item.metadata["secret"]:
            continue
        switch, text = flag_help(item.name)
        default = getattr(defaults, item.name)
        if isinstance(default, bool):
            parser.add_argument(switch, dest=item.name, action="store_const", const=str(not default).lower(),
                                default=None, help=text)
        else:
            parser.add_argument(switch, dest=item.name, default=None, help=text)


def from_sources(args: argparse.Namespace | None = None, environ: dict[str, str] | None = None) -> Settings:
    """The validated settings: each from its flag in `args`, else its env var in `environ` (default
    os.environ), else its default. Raises ConfigError for a value that does not parse or validate."""
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
