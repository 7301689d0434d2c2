"""TLS and bearer tokens on the gRPC port, with grpc's own credentials and a server interceptor.

Policy:
- TLS (`tls_cert` + `tls_key`), mutual when `tls_client_ca` is set: a client without a
  certificate signed by that CA fails the handshake.
- Tokens (`token_file`, `MEDEMBED_TOKENS`; several at once for rotation): every RPC but health
  needs `authorization: Bearer <token>`, compared in constant time; without one, or with a wrong
  one, UNAUTHENTICATED. Health (grpc.health.v1.Health) stays open: the kubelet's gRPC probes cannot
  send metadata, and it tells only SERVING or not. Reflection is off with tokens unless
  `reflection=on`, and then needs a token too. A refused call is refused from its metadata: its
  request body is never read or parsed (callcaps.refusing_handler).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from medembed_proto.redact import register_secret

from .callcaps import OPEN_METHOD_PREFIXES, refusing_handler
from .config import MIN_TOKEN_CHARS, ConfigError, Settings
from .logs import event

log = logging.getLogger(__name__)
RELOAD_CHECK_S = 1.0


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The TLS credentials of the gRPC port, or None for plaintext."""
    if not settings.tls:
        return None
    client_ca = Path(settings.tls_client_ca).read_bytes() if settings.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())],
        root_certificates=client_ca, require_client_auth=client_ca is not None)


def _tokens_in_file(path: Path) -> tuple[list[str], list[int]]:
    """The valid tokens of a token file, line by line, and the numbers (1-based) of its invalid lines
    (shorter than MIN_TOKEN_CHARS, not printable ASCII, or with spaces). Blank and `#` lines are skipped.
    Raises OSError or UnicodeDecodeError when the file cannot be read."""
    tokens: list[str] = []
    invalid: list[int] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable() or " " in token:
            invalid.append(number)
        else:
            tokens.append(token)
    return tokens, invalid


class TokenSet:
    """The accepted tokens: the env ones plus the file's, re-read when the file changes (a rotated
    Kubernetes Secret or Docker secret), so rotation needs no restart.

    The file is applied line by line: its valid lines replace the file's tokens, and each invalid
    line is skipped with a warning naming its line number, so a token removed from the file stops
    working at the next reload whatever else the file holds. Only a file that cannot be read keeps
    the tokens as they were (logged). Construction raises ConfigError when there is no token at all
    or the file cannot be read."""

    def __init__(self, tokens: tuple[str, ...], path: str = "") -> None:
        self._fixed = [token.encode() for token in tokens]
        self._path = Path(path) if path else None
        self._file_tokens: list[bytes] = []
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        for token in tokens:
            register_secret(token)
        self._reload(initial=True)
        if not self._fixed and not self._file_tokens:
            raise ConfigError(f"token_file {path} holds no valid token (one a line, at least {MIN_TOKEN_CHARS} "
                              "printable ASCII characters without spaces)")

    def _reload(self, initial: bool = False) -> None:
        if self._path is None:
            return
        try:
            stat = os.stat(self._path)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp == self._stamp:
                return
            tokens, invalid = _tokens_in_file(self._path)
        except (OSError, UnicodeDecodeError) as exc:
            if initial:
                raise ConfigError(f"token_file {self._path}: {exc}") from None
            event(log, "token_file_unreadable", logging.WARNING, path=str(self._path), error=str(exc),
                  kept=len(self._file_tokens))
            return
        for token in tokens:
            register_secret(token)
        if invalid:  # never the line itself: it may be a token with a typo
            event(log, "token_file_lines_skipped", logging.WARNING, path=str(self._path), lines=invalid,
                  reason=f"not a token: fewer than {MIN_TOKEN_CHARS} characters, not printable ASCII, or spaces")
        self._file_tokens, self._stamp = [token.encode() for token in tokens], stamp
        if not initial:
            event(log, "tokens_reloaded", path=str(self._path), tokens=len(tokens), skipped_lines=len(invalid))

    def accepts(self, presented: str) -> bool:
        """Whether `presented` is an accepted token, compared in constant time with every one. Re-reads
        `token_file` at most once per RELOAD_CHECK_S seconds when it changed (line by line: invalid lines
        skipped); a file that cannot be read leaves the tokens as they were."""
        now = time.monotonic()
        if self._path is not None and now - self._checked >= RELOAD_CHECK_S:
            with self._lock:
                self._checked = now
                self._reload()
        candidate = presented.encode()
        # Compare with every token, whatever matched: the time taken says nothing about which one.
        matches = [hmac.compare_digest(candidate, token) for token in (*self._fixed, *self._file_tokens)]
        return any(matches)


def bearer_token(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
    """The token of an `authorization: Bearer <token>` metadata entry (scheme in any case), or None."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


Refuse = Callable[[str, str], None]


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED for every RPC without an accepted token, except the open (health) methods.
    `on_refused(method, reason)` counts and logs each refusal."""

    def __init__(self, tokens: TokenSet, on_refused: Refuse) -> None:
        self._tokens = tokens
        self._on_refused = on_refused

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails],
                                                             Awaitable[grpc.RpcMethodHandler]],
                                handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """The method's handler when the call carries an accepted token, is to an open (health) method or
        has no handler; otherwise a handler of the same shape that aborts with UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)
        if token is not None and self._tokens.accepts(token):
            return handler
        reason = "missing_token" if token is None else "wrong_token"
        message = ("this server needs a bearer token: send `authorization: Bearer <token>` (--token-file, "
                   "MEDEMBED_TOKEN)" if token is None else "the bearer token is not accepted")
        return _refusing(handler, method, reason, message, self._on_refused)


def _refusing(handler: grpc.RpcMethodHandler, method: str, reason: str, message: str,
              on_refused: Refuse) -> grpc.RpcMethodHandler:
    """A handler for the method of `handler` that refuses the call with UNAUTHENTICATED before reading
    its request: a call without a valid token costs its metadata, never its body."""

    async def refuse(context: grpc.aio.ServicerContext) -> None:
        on_refused(method, reason)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return refusing_handler(handler, refuse)
