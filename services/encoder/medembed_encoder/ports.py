"""Checking that the server's ports can be had, so a taken port is one line naming its flag.

gRPC reports any bind failure as "Failed to bind to address", and Python's http.server as an
OSError deep in a traceback; both ports are tried here first with a plain socket, which tells a
port in use from an address that is not this machine's.
"""

from __future__ import annotations

import errno
import socket


class BindError(OSError):
    """A port or address of the server cannot be bound; the message names the flag and what to do."""


def _flag_hint(flag: str, env: str) -> str:
    return f"pick a free port with {flag} (env {env})"


def ensure_bindable(host: str, port: int, flag: str, env: str) -> None:
    """Bind and release `host:port` as a listening server would; raise BindError when it cannot.

    `host` may be bracketed IPv6 (`[::]` binds every address, IPv4 included; where the machine has
    no IPv6, gRPC falls back to 0.0.0.0, and so does this check). Port 0 (any free port) always succeeds.
    """
    if port == 0:
        return
    if not 0 < port < 65536:
        raise BindError(f"{flag} {port} is not a port number (1-65535)")
    bare = host.strip("[]")
    try:
        candidates = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise BindError(f"--host {host}: no such address on this machine; use an address of it, "
                        "0.0.0.0 or [::] (every address)") from None
    if bare == "::":
        candidates += socket.getaddrinfo("0.0.0.0", port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    failure: OSError | None = None
    for family, kind, proto, _, address in candidates:
        try:
            _try_bind(family, kind, proto, address, wildcard_v6=family == socket.AF_INET6 and bare == "::")
            return
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BindError(f"{flag} {port} is in use on {host} (another server listens there): stop it, or "
                                f"{_flag_hint(flag, env)}") from None
            if exc.errno == errno.EACCES:
                raise BindError(f"{flag} {port}: not allowed to listen on it (ports below 1024 need "
                                f"privileges); {_flag_hint(flag, env)}") from None
            failure = failure or exc
    if failure is not None and failure.errno == errno.EADDRNOTAVAIL:
        raise BindError(f"--host {host}: not an address of this machine; use one of its addresses, "
                        "0.0.0.0 or [::] (every address)")
    raise BindError(f"{flag} {port} on {host}: cannot listen ({failure.strerror if failure else 'no address'})")


def _try_bind(family: int, kind: int, proto: int, address: tuple, *, wildcard_v6: bool) -> None:
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if wildcard_v6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # [::] takes IPv4 too, as gRPC does
        probe.bind(address)
