"""Paths built from user input stay inside their root.

Two rules, one per kind of input:
- Names the user picks to name output (the plan's `name`, `--run-id`) must be plain file names:
  anything else is refused with a message naming the field (`check_name`).
- Ids that must work as they are (model ids such as `org/model`) become one safe path component
  (`path_component`); their full value stays in provenance and results.
Every path is then checked to resolve inside its root (`inside`), so no combination escapes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from medembed_evaluator.errors import EvaluatorError, PlanError

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UnsafePathError(EvaluatorError):
    """A path built from user input would leave its root."""


def check_name(value: str, field: str) -> str:
    """`value` when it is a plain file name (letters, digits, '.', '_', '-'; no '/' or '..');
    PlanError naming `field` otherwise."""
    if not _PLAIN_NAME.match(value) or ".." in value:
        raise PlanError(f"{field}: {value[:80]!r} is not a plain name: use letters, digits, '.', '_' and '-' "
                        "(at most 128, no '/' and no '..'); it names files under the results folder")
    return value


def path_component(value: str) -> str:
    """One file-name-safe component for any id; ids that had to change get a short digest of the
    original, so two ids never share a component."""
    safe = _UNSAFE.sub("_", value).strip("._") or "_"
    if safe == value and len(value) <= 100:
        return value
    return f"{safe[:80]}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def inside(root: Path, path: Path, what: str) -> Path:
    """`path`, after checking it resolves inside `root` (UnsafePathError naming `what` otherwise)."""
    resolved_root = root.resolve()
    resolved = path.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise UnsafePathError(f"{what}: {path} is outside {root}")
    return path
