"""`python -m medembed_client.healthcheck`: exit 0 only when every target is SERVING.

The container HEALTHCHECK of the encoder image runs it with no arguments: this container's own
server, at its plaintext health-only port when MEDEMBED_HEALTH_PORT is set (the TLS setups), else
at MEDEMBED_PORT, both as the server reads them. With --target it speaks TLS and sends a token as
the other clients do (--tls-ca, --token-file or their MEDEMBED_* env vars). With --wait it blocks
until the targets serve, which is how the Kubernetes evaluator Job waits for its encoders.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from medembed_proto import security
from medembed_proto.health import check_health
from medembed_proto.helpformat import HelpFormatter


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The docstring's layout kept, every option's default shown."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m medembed_client.healthcheck", description=__doc__,
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--target", action="append", default=None,
                        help="HOST:PORT or dns:///HOST:PORT; repeatable (default localhost:$MEDEMBED_PORT or 50051)")
    parser.add_argument("--service", default="", help="a model id; empty = the whole server (default: empty)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per health call")
    parser.add_argument("--wait", type=float, default=0.0, help="keep polling up to this many seconds (0 = one poll)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls with --wait")
    security.add_arguments(parser)
    return parser


def _targets(args: argparse.Namespace) -> tuple[list[str], security.ChannelSecurity]:
    """The targets given, or this container's server: at its health-only port (always plaintext)
    when it has one."""
    if args.target:
        return args.target, security.from_args(args)
    health_port = os.environ.get("MEDEMBED_HEALTH_PORT", "").strip()
    if health_port.isdigit() and int(health_port) > 0:
        return [f"localhost:{health_port}"], security.PLAINTEXT
    return [f"localhost:{os.environ.get('MEDEMBED_PORT') or 50051}"], security.from_args(args)


def main(argv: list[str] | None = None) -> int:
    """`python -m medembed_client.healthcheck`: prints each target's status; returns 0 when every
    target is SERVING (within `--wait` seconds), 1 otherwise, 2 for unusable TLS or token options."""
    args = _parser().parse_args(argv)
    try:
        targets, channel_security = _targets(args)
    except security.SecurityError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    give_up = time.monotonic() + args.wait
    statuses: dict[str, str] = {}
    pending = list(targets)
    while True:
        statuses.update((target, check_health(target, args.service, args.timeout, channel_security))
                        for target in pending)
        pending = [target for target in targets if statuses[target] != "SERVING"]
        if not pending or time.monotonic() + args.interval > give_up:
            break
        time.sleep(args.interval)
    for target in targets:
        print(f"{target} {statuses[target]}")
    return 1 if pending else 0


if __name__ == "__main__":
    sys.exit(main())
