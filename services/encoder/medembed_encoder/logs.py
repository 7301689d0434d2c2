"""Structured logging: one JSON object per line, one line per event.

Every line is bounded (each string field cut to MAX_FIELD_CHARS, so a 100 KB model name never
becomes a 100 KB line) and redacted (passwords in URLs, tokens: medembed_proto.redact).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from typing import Any

from medembed_proto.redact import redact, shorten

MAX_FIELD_CHARS = 500
MAX_TRACEBACK_CHARS = 8000


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return shorten(value, MAX_FIELD_CHARS)
    if isinstance(value, dict):
        return {str(key)[:MAX_FIELD_CHARS]: _bounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_bounded(item) for item in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return shorten(str(value), MAX_FIELD_CHARS)


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts (Unix seconds, 3 decimals), level, logger, event, the
    event's fields and, with exc_info, the traceback as `exc`; bounded and redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one redacted JSON line, each string field cut to MAX_FIELD_CHARS."""
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": shorten(record.getMessage(), MAX_FIELD_CHARS),
        }
        entry.update(_bounded(getattr(record, "fields", {})))
        if record.exc_info:
            entry["exc"] = shorten(self.formatException(record.exc_info), MAX_TRACEBACK_CHARS)
        return redact(json.dumps(entry, default=str))


def configure(level: str = "info") -> None:
    """Send all logging to stderr as JSON lines at `level` (debug | info | warning | error), replacing
    the root logger's handlers. An unknown level raises ValueError (logging's)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log event `name` at `level`; each keyword in `fields` becomes a key of its JSON line."""
    logger.log(level, name, extra={"fields": fields})


class Stopwatch:
    """Elapsed wall time since construction, by time.perf_counter."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        """Seconds since the stopwatch was made."""
        return time.perf_counter() - self.start


class IntervalSummary:
    """Events counted by key and logged as one WARNING line per `interval_s` seconds, never a line
    per event (under overload or a poisoned cache that would be thousands a minute).

    The line is `event(logger, name, interval_s=..., total=..., <entries>=[{<fields>..., count,
    example?}, ...], **constant)`, most frequent first. Use it on the event loop: `record` schedules
    the flush there.
    """

    def __init__(self, logger: logging.Logger, name: str, entries: str, fields: tuple[str, ...],
                 interval_s: float, **constant: Any) -> None:
        self._logger, self._name, self._entries, self._fields = logger, name, entries, fields
        self.interval_s = interval_s
        self._constant = constant
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._examples: dict[tuple[str, ...], str] = {}
        self._flush_handle: asyncio.TimerHandle | None = None

    def record(self, key: tuple[str, ...], count: int = 1, example: str | None = None) -> None:
        """Count `count` events of `key` (one value per field); the summary follows within `interval_s`.
        `example`: a message kept for the key's entry (the first one given)."""
        self._counts[key] += count
        if example is not None:
            self._examples.setdefault(key, example)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self.interval_s, self.flush)

    def flush(self) -> None:
        """Write the summary of what was counted since the last one (call it on shutdown too)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._counts:
            return
        entries = []
        for key, count in self._counts.most_common():
            entry: dict[str, Any] = {**dict(zip(self._fields, key, strict=True)), "count": count}
            if key in self._examples:
                entry["example"] = self._examples[key]
            entries.append(entry)
        event(self._logger, self._name, logging.WARNING, interval_s=self.interval_s,
              total=sum(self._counts.values()), **{self._entries: entries}, **self._constant)
        self._counts.clear()
        self._examples.clear()
