"""How the command lines stop when asked to (Ctrl-C, SIGTERM) or when the disk is full: one line
that says what was kept and how to continue, never a traceback.

Exit codes follow the shell's convention for a process ended by a signal: 128 + the signal's number
(130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import errno
import shlex
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class Terminated(BaseException):
    """SIGTERM arrived; raised in the main thread by `stop_signals` (a BaseException, like
    KeyboardInterrupt, so that no `except Exception` swallows it)."""

    signal_number = signal.SIGTERM


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def stop_signals() -> Iterator[None]:
    """While inside, SIGTERM raises Terminated in the main thread (Ctrl-C already raises
    KeyboardInterrupt); the previous SIGTERM handler is restored on the way out."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code(stop: BaseException) -> int:
    """128 + the signal's number: 130 for KeyboardInterrupt (SIGINT), 143 for Terminated (SIGTERM)."""
    number = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
    return 128 + int(number)


def stopped_line(prog: str, stop: BaseException, kept: str, command: str) -> str:
    """The one line a command prints when a signal stops it: what stopped it, what is kept, and
    the command that continues (`command`)."""
    what = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
    return f"{prog}: {what}; {kept}; run the same command again to continue: {command}"


def command_line(prog: str, argv: Sequence[str] | None) -> str:
    """The command as the user would type it again: `prog` and its arguments, shell-quoted."""
    return shlex.join([prog, *(sys.argv[1:] if argv is None else argv)])


def is_disk_full(error: BaseException) -> bool:
    """True for an OSError that says the disk (or the user's quota) is full."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def free_bytes(folder: Path) -> int | None:
    """Bytes free to this user in `folder`, or in its nearest existing parent; None when unknown."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def size_text(count: int) -> str:
    """`count` bytes in words: `123 bytes`, `4.2 MB` (decimal units)."""
    if count < 1000:
        return f"{count} bytes"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit} ({count} bytes)"
    return f"{count} bytes"  # pragma: no cover (unreachable)


def disk_full_line(folder: Path, needed_bytes: int | None) -> str:
    """`disk full in FOLDER: about N more bytes needed, M free`, what a full disk leaves a user to do."""
    free = free_bytes(folder)
    needed = f"about {size_text(needed_bytes)} more needed" if needed_bytes else "more space needed"
    return f"disk full in {folder}: {needed}" + (f", {size_text(free)} free" if free is not None else "")


__all__ = ["DISK_FULL_ERRNOS", "Terminated", "command_line", "disk_full_line", "exit_code", "free_bytes",
           "is_disk_full", "size_text", "stop_signals", "stopped_line"]
