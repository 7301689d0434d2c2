"""How a client reaches an encoder: plaintext, TLS (the server checked against a CA), mutual TLS
(plus a client certificate) and a bearer token, with grpc's own credentials.

The same options everywhere: `ChannelSecurity(...)` in code, `--tls-ca/--tls-cert/--tls-key/
--tls-server-name/--token-file` on the command lines (`medembed`, `medembed-evaluate`, the health
check), and the env vars in ENV for containers. The token travels as `authorization: Bearer ...`
metadata on every call.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from .redact import register_secret

log = logging.getLogger(__name__)
ENV = {
    "tls": "MEDEMBED_TLS",  # 1 = TLS checked against the system's CA roots (no tls_ca)
    "tls_ca": "MEDEMBED_TLS_CA",
    "tls_cert": "MEDEMBED_TLS_CLIENT_CERT",
    "tls_key": "MEDEMBED_TLS_CLIENT_KEY",
    "tls_server_name": "MEDEMBED_TLS_SERVER_NAME",
    "token": "MEDEMBED_TOKEN",
    "token_file": "MEDEMBED_TOKEN_FILE",
}
_LOCAL_PREFIXES = ("localhost", "127.", "[::1]", "ipv4:127.", "ipv6:[::1]", "unix:", "dns:///localhost")


class SecurityError(ValueError):
    """A TLS or token option cannot be used; the message names the option and the file."""


@dataclass(frozen=True)
class ChannelSecurity:
    """TLS is on when `tls`, `tls_ca` or `tls_cert` is set; `token` is sent on every call."""

    tls: bool = False
    tls_ca: str = ""
    """PEM file of the CA that signed the server's certificate; empty = the system's roots."""
    tls_cert: str = ""
    """PEM client certificate chain, for servers that require mutual TLS (with tls_key)."""
    tls_key: str = ""
    tls_server_name: str = ""
    """Name to check the server's certificate against, when it differs from the target's host."""
    token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SecurityError("mutual TLS needs both --tls-cert and --tls-key (MEDEMBED_TLS_CLIENT_CERT/_KEY)")
        if self.token:
            register_secret(self.token)

    @property
    def uses_tls(self) -> bool:
        """True when the channel is TLS (`tls`, `tls_ca` or `tls_cert` set)."""
        return self.tls or bool(self.tls_ca or self.tls_cert)

    def credentials(self) -> grpc.ChannelCredentials:
        """The TLS channel credentials; raises SecurityError when a PEM file cannot be read."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.tls_ca, "tls_ca") if self.tls_ca else None,
            private_key=_read(self.tls_key, "tls_key") if self.tls_key else None,
            certificate_chain=_read(self.tls_cert, "tls_cert") if self.tls_cert else None)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The call metadata: the bearer token's `authorization` header, or nothing."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def options(self) -> list[tuple[str, object]]:
        """Channel options: the server name override when `tls_server_name` is set."""
        return [("grpc.ssl_target_name_override", self.tls_server_name)] if self.tls_server_name else []


PLAINTEXT = ChannelSecurity()


def read_token_file(path: str | Path) -> str:
    """The first line of `path` that is neither blank nor a `#` comment; SecurityError when the file
    cannot be read or holds no such line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SecurityError(f"token file {path}: {exc.strerror or exc}") from None
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    raise SecurityError(f"token file {path} holds no token")


def _read(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SecurityError(f"{option} {path}: {exc.strerror or exc}") from None


def security_from(*, tls: bool | None = None, tls_ca: str | None = None, tls_cert: str | None = None,
                  tls_key: str | None = None, tls_server_name: str | None = None, token_file: str | None = None,
                  environ: Mapping[str, str] | None = None) -> ChannelSecurity:
    """Options given here win over the env vars of ENV (MEDEMBED_TOKEN, MEDEMBED_TLS_CA, ...).

    Raises SecurityError for an unreadable or empty token file, or a client certificate without its key.
    """
    env = os.environ if environ is None else environ
    token_path = token_file or env.get(ENV["token_file"], "")
    token = read_token_file(token_path) if token_path else env.get(ENV["token"], "").strip()
    return ChannelSecurity(
        tls=tls if tls is not None else env.get(ENV["tls"], "").strip().lower() in ("1", "true", "yes", "on"),
        tls_ca=tls_ca or env.get(ENV["tls_ca"], ""), tls_cert=tls_cert or env.get(ENV["tls_cert"], ""),
        tls_key=tls_key or env.get(ENV["tls_key"], ""),
        tls_server_name=tls_server_name or env.get(ENV["tls_server_name"], ""), token=token)


_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--tls", dict(action="store_const", const=True, help=f"TLS checked against the system's CA roots "
                                                         f"[env {ENV['tls']}=1; default off: plaintext unless "
                                                         f"--tls-ca or --tls-cert is given]")),
    ("--tls-ca", dict(metavar="PEM", help=f"CA that signed the server's certificate; turns TLS on "
                                          f"[env {ENV['tls_ca']}]")),
    ("--tls-cert", dict(metavar="PEM", help=f"client certificate for mutual TLS [env {ENV['tls_cert']}]")),
    ("--tls-key", dict(metavar="PEM", help=f"its private key [env {ENV['tls_key']}]")),
    ("--tls-server-name", dict(metavar="NAME", help=f"name the server's certificate must carry, when not the "
                                                    f"target's host [env {ENV['tls_server_name']}]")),
    ("--token-file", dict(metavar="FILE", help=f"file whose first line is the bearer token "
                                               f"[env {ENV['token_file']}, or the token itself in {ENV['token']}]")),
)


def add_arguments(parser: argparse.ArgumentParser, *, hidden: bool = False) -> None:
    """The TLS and token flags; `hidden` for a subcommand that accepts them after its name too."""
    group = parser if hidden else parser.add_argument_group("TLS and tokens")
    for flag, options in _FLAGS:
        if hidden:
            options = {**options, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
        group.add_argument(flag, **{"default": None, **options})


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ChannelSecurity:
    """security_from with the flags of add_arguments; raises SecurityError for unusable options."""
    return security_from(tls=args.tls, tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key,
                         tls_server_name=args.tls_server_name, token_file=args.token_file, environ=environ)


def _warn_cleartext_token(target: str, security: ChannelSecurity) -> None:
    if security.token and not security.uses_tls and not target.startswith(_LOCAL_PREFIXES):
        log.warning("the bearer token goes to %s without TLS: anyone on the network path can read it; "
                    "add --tls-ca (MEDEMBED_TLS_CA)", target)


def aio_channel(target: str, security: ChannelSecurity = PLAINTEXT,
                options: Sequence[tuple[str, object]] = ()) -> grpc.aio.Channel:
    """A grpc.aio channel to `target`, TLS when `security` says so (SecurityError for unreadable
    PEM files); warns when a token would travel in cleartext to a non-local target."""
    _warn_cleartext_token(target, security)
    all_options = [*options, *security.options()]
    if security.uses_tls:
        return grpc.aio.secure_channel(target, security.credentials(), options=all_options)
    return grpc.aio.insecure_channel(target, options=all_options)


def sync_channel(target: str, security: ChannelSecurity = PLAINTEXT,
                 options: Sequence[tuple[str, object]] = ()) -> grpc.Channel:
    """aio_channel's blocking twin."""
    _warn_cleartext_token(target, security)
    all_options = [*options, *security.options()]
    if security.uses_tls:
        return grpc.secure_channel(target, security.credentials(), options=all_options)
    return grpc.insecure_channel(target, options=all_options)


__all__ = ["ENV", "PLAINTEXT", "ChannelSecurity", "SecurityError", "add_arguments", "aio_channel", "from_args",
           "read_token_file", "security_from", "sync_channel"]
