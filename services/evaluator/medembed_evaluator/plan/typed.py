"""The one typed parser of the plan: a YAML mapping read into a frozen dataclass by its type hints.

Every section of a plan (each `models:` and `datasets:` entry, `protocol:`, `output:`,
`security:`, `analysis:`, `compare:`) and every dataset kind's `options:` goes through
`read_settings`, so a typo or a wrong type is reported the same way everywhere, naming the entry
and the key (`datasets[0] (phantoms).options.n_per_class: expected an integer, got 'lots'`).

Value rules (a range, a choice) live in each dataclass's `__post_init__`, which raises an
EvaluatorError whose message starts with the field's name ("folds must be at least 2"); the
parser prefixes the section, so the user reads `protocol.folds must be at least 2`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any, TypeVar

from medembed_evaluator.errors import EvaluatorError, PlanError

T = TypeVar("T")


def read_settings(settings_type: type[T], value: Any, *, where: str, error: type[EvaluatorError] = PlanError) -> T:
    """`value` (a mapping from YAML, or None for all defaults) checked against the frozen dataclass
    `settings_type` and built into one.

    Args:
        settings_type: a dataclass; its fields' type hints say what each key accepts (str, int, float,
            bool, Optional, tuple[T, ...], list[T], dict[K, V], a nested dataclass, Any).
        value: the section as YAML gave it.
        where: the section's place in the plan ("protocol", "models[1] (uni)"), named in every error.
        error: the exception raised (PlanError while loading a plan, DatasetError for a loader's options).

    Raises:
        `error` for a non-mapping, an unknown key (with a did-you-mean), a missing required key, a
        value of the wrong type, or a value the dataclass's own checks refuse.
    """
    values = mapping_of({} if value is None else value, where, error)
    fields = {f.name: f for f in dataclasses.fields(settings_type)}
    check_keys(values, set(fields), where, error)
    hints = typing.get_type_hints(settings_type)
    read: dict[str, Any] = {}
    for name, field in fields.items():
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        given = values.get(name)
        if required and (given is None or given == ""):
            raise error(f"{where}.{name}: missing")
        if name in values:
            read[name] = read_value(hints[name], given, f"{where}.{name}", error)
    try:
        return settings_type(**read)
    except EvaluatorError as problem:
        raise error(f"{where}.{problem}") from None


def read_value(hint: Any, value: Any, where: str, error: type[EvaluatorError] = PlanError) -> Any:
    """One value checked against the type hint `hint`; raises `error` naming `where` when it does not fit.

    Strings accept YAML numbers (`c_rule: 1.0` is "1.0"); integers accept integral floats (4.0);
    a tuple accepts a single scalar as a one-item tuple. Booleans are never numbers or strings.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return read_value(inner, value, where, error)
    if dataclasses.is_dataclass(hint):
        return read_settings(hint, value, where=where, error=error)
    if origin in (tuple, list):
        items = [value] if origin is tuple and isinstance(value, (str, int, float)) else value
        if not isinstance(items, (list, tuple)):
            raise error(f"{where}: expected a list, got {value!r}")
        read = [read_value(args[0], item, f"{where}[{index}]", error) for index, item in enumerate(items)]
        return tuple(read) if origin is tuple else read
    if origin is dict:
        key_type, value_type = args
        return {read_value(key_type, key, where, error): read_value(value_type, item, f"{where}.{key}", error)
                for key, item in mapping_of(value, where, error).items()}
    return _scalar(hint, value, where, error)


def mapping_of(value: Any, where: str, error: type[EvaluatorError] = PlanError) -> Mapping[str, Any]:
    """`value` itself when it is a mapping; raises `error` ("WHERE: expected a mapping") otherwise."""
    if not isinstance(value, Mapping):
        raise error(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def check_keys(values: Mapping[str, Any], known: set[str], where: str, error: type[EvaluatorError] = PlanError) -> None:
    """Raises `error` listing the keys of `values` not in `known`, the known ones, and a close match
    for each ("ids: did you mean id?")."""
    unknown = sorted(str(k) for k in set(values) - known)
    if unknown:
        guesses = [f"{key}: did you mean {match[0]}?" for key in unknown
                   if (match := get_close_matches(key, known, n=1))]
        hint = f"; {' '.join(guesses)}" if guesses else ""
        raise error(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
                    f"{hint}")


def _scalar(hint: Any, value: Any, where: str, error: type[EvaluatorError]) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise error(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise error(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported settings type {hint!r} for {where}")
