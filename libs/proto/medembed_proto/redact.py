"""Secrets out of every message and log line: passwords in URLs, bearer tokens, `password=` query
parameters, and each secret value this process loaded (tokens, Redis passwords).

One helper for the whole project: the encoder's log formatter, client errors, the evaluator's
messages and configuration errors all pass their text through `redact`. `shorten` bounds what a
message may quote from user input.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@\s/]+)@")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pass|token|access_token|secret)=)[^&\s'\"]+")
_MIN_REGISTERED_CHARS = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: str) -> None:
    """Mask `value` wherever it appears from now on (a token or password this process holds)."""
    global _secrets
    value = value.strip()
    if len(value) < _MIN_REGISTERED_CHARS:
        return
    with _lock:
        if value not in _secrets:
            _secrets = tuple(sorted({*_secrets, value}, key=len, reverse=True))


def redact(text: object) -> str:
    """`text` as a string with every secret replaced by `***`."""
    out = str(text)
    for secret in _secrets:
        if secret in out:
            out = out.replace(secret, MASK)
    out = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", out)
    out = _BEARER.sub(rf"\g<1>{MASK}", out)
    return _QUERY_SECRET.sub(rf"\g<1>{MASK}", out)


def shorten(text: str, limit: int) -> str:
    """At most about `limit` characters: longer text is cut and says how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


class RedactingFormatter(logging.Formatter):
    """A logging.Formatter whose every line goes through `redact` (messages, arguments, tracebacks)."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line, redacted."""
        return redact(super().format(record))
