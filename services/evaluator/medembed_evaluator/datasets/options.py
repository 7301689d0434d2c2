"""Typed options: a plan's mapping (a dataset's `options:`, the `analysis:` section) checked
against a frozen dataclass.

Each loader declares its options as a frozen dataclass, so a typo or a wrong type in the plan is
reported when the plan loads, before any image is read. Nested dataclasses are parsed the same way.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from medembed_evaluator.errors import DatasetError, EvaluatorError

T = TypeVar("T")


@dataclass(frozen=True)
class NoOptions:
    """For loaders that take no options: any option given is reported as unknown."""


def parse_options(
    options_type: type[T],
    options: Mapping[str, Any] | None,
    *,
    where: str,
    error: type[EvaluatorError] = DatasetError,
) -> T:
    """`options` checked against the dataclass `options_type`; problems raise `error` naming `where`."""
    if options is not None and not isinstance(options, Mapping):
        raise error(f"{where} must be a mapping, got {options!r}")
    options = dict(options or {})
    fields = {f.name for f in dataclasses.fields(options_type)}
    unknown = sorted(str(k) for k in set(options) - fields)
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise error(f"{where}: unknown option(s) {', '.join(unknown)} (known: {known})")
    hints = typing.get_type_hints(options_type)
    values = {name: _coerce(value, hints[name], f"{where} option '{name}'", error) for name, value in options.items()}
    return options_type(**values)


def _coerce(value: Any, hint: Any, what: str, error: type[EvaluatorError]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, what, error)
    if dataclasses.is_dataclass(hint):
        return parse_options(hint, value, where=what, error=error)
    if origin is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise error(f"{what} must be a list, got {value!r}")
        return tuple(_coerce(item, args[0], what, error) for item in items)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise error(f"{what} must be a mapping, got {value!r}")
        key_type, value_type = args
        return {_coerce(k, key_type, what, error): _coerce(v, value_type, what, error) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise error(f"{what} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"{what} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(f"{what} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise error(f"{what} must be a string, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported option type {hint!r} for {what}")
