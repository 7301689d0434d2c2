"""Typed loader options: a plan's `options:` mapping checked against a loader's dataclass.

Each loader declares its options as a frozen dataclass, so a typo or a wrong type in the plan is
reported when the plan loads, before any image is read.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from medembed_evaluator.errors import DatasetError

T = TypeVar("T")


@dataclass(frozen=True)
class NoOptions:
    """For loaders that take no options: any option given is reported as unknown."""


def parse_options(options_type: type[T], options: Mapping[str, Any] | None, *, kind: str) -> T:
    options = dict(options or {})
    fields = {f.name for f in dataclasses.fields(options_type)}
    unknown = sorted(set(options) - fields)
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise DatasetError(f"dataset kind '{kind}': unknown option(s) {', '.join(unknown)} (known: {known})")
    hints = typing.get_type_hints(options_type)
    values = {
        name: _coerce(value, hints[name], f"dataset kind '{kind}' option '{name}'") for name, value in options.items()
    }
    return options_type(**values)


def _coerce(value: Any, hint: Any, what: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, what)
    if origin is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise DatasetError(f"{what} must be a list, got {value!r}")
        return tuple(_coerce(item, args[0], what) for item in items)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise DatasetError(f"{what} must be a mapping, got {value!r}")
        key_type, value_type = args
        return {_coerce(k, key_type, what): _coerce(v, value_type, what) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise DatasetError(f"{what} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DatasetError(f"{what} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DatasetError(f"{what} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise DatasetError(f"{what} must be a string, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported option type {hint!r} for {what}")
