"""The one typed reader of the plan's YAML: a mapping read into a frozen dataclass, validated by pydantic.

Every section of a plan (each `models:` and `datasets:` entry, `protocol:`, `output:`, `security:`,
`analysis:`, `compare:`) and every dataset kind's `options:` goes through `read_settings`, so a typo
or a wrong type is reported the same way everywhere, naming the entry and the key
(`datasets[0] (phantoms).options.n_per_class: expected an integer, got 'lots'`).

The sections stay plain frozen dataclasses (built directly in code and tests); pydantic validates a
YAML mapping against a model made from the dataclass's fields, whose field types are the YAML
spellings below, then builds the dataclass. Unknown keys are refused with a did-you-mean.

    bool    true or false only
    int     an integer, or an integral float (4.0); never a string or a bool
    float   a number (an integer is read as a float); never a string or a bool
    str     a string, or a YAML number read as text (`c_rule: 1.0` is "1.0"); never a bool
    tuple   a list, or one scalar as a one-item tuple (`probes: svm`)

A required key given empty (`name:` or `name: ""`) is missing. Value rules (a range, a choice) live
in each dataclass's `__post_init__`, which raises an EvaluatorError whose message starts with the
field's name ("folds must be at least 2"); the reader prefixes the section, so the user reads
`protocol.folds must be at least 2`.

This module sits below `plan/` and `datasets/`: both read through it, neither through the other.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from difflib import get_close_matches
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
)
from pydantic import create_model as pydantic_model
from pydantic_core import ErrorDetails

from medembed_evaluator.errors import EvaluatorError, PlanError

T = TypeVar("T")
_CONFIG = ConfigDict(strict=True, extra="forbid", protected_namespaces=())


def read_settings(settings_type: type[T], value: Any, *, where: str, error: type[EvaluatorError] = PlanError) -> T:
    """`value` (a mapping from YAML, or None for all defaults) checked against the frozen dataclass
    `settings_type` and built into one.

    Args:
        settings_type: a dataclass; its fields' type hints say what each key accepts (the module
            docstring's scalars, `X | None`, tuple[X, ...], list[X], dict[K, V], a nested dataclass, Any).
        value: the section as YAML gave it.
        where: the section's place in the plan ("protocol", "models[1] (uni)"), named in every error.
        error: the exception raised (PlanError while loading a plan, DatasetError for a loader's options).

    Raises:
        `error` for a non-mapping, unknown keys (with a did-you-mean), a missing required key, a value
        of the wrong type, or a value the dataclass's own checks refuse.
    """
    return typing.cast(T, read_value(settings_type, {} if value is None else value, where, error))


def read_value(hint: Any, value: Any, where: str, error: type[EvaluatorError] = PlanError) -> Any:
    """`value` checked against the type hint `hint` (as in read_settings) and read into it; raises
    `error` naming `where` and the key when it does not fit."""
    try:
        return _adapter(hint).validate_python(value)
    except ValidationError as problem:
        raise error(_message(hint, problem, where)) from None


def unknown_keys_message(where: str, unknown: Sequence[str], known: Sequence[str]) -> str:
    """"WHERE: unknown key(s) ... (known: ...); KEY: did you mean KNOWN?" for every close match."""
    guesses = [f"{key}: did you mean {match[0]}?" for key in sorted(unknown)
               if (match := get_close_matches(key, known, n=1))]
    hint = f"; {' '.join(guesses)}" if guesses else ""
    return f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known)) or 'none'}){hint}"


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(_yaml_type(hint))


def _yaml_type(hint: Any) -> Any:
    """The pydantic type that reads `hint` from YAML by the rules of the module docstring."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SCALARS:
        return _SCALARS[hint]
    if dataclasses.is_dataclass(hint):
        return _section(typing.cast(type, hint))
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_yaml_type(arg) for arg in args)]  # noqa: UP007 (members computed)
    if origin is tuple:
        return Annotated[tuple[_yaml_type(args[0]), ...], BeforeValidator(_as_tuple), Strict()]  # type: ignore[misc]
    if origin is list:
        return Annotated[list[_yaml_type(args[0])], BeforeValidator(_as_list), Strict()]  # type: ignore[misc]
    if origin is dict:
        return Annotated[dict[_yaml_type(args[0]), _yaml_type(args[1])],  # type: ignore[misc]
                         BeforeValidator(_as_dict), Strict()]
    if hint is Any:
        return Any
    raise TypeError(f"unsupported settings type {hint!r}")


def _integral_float(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _number_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _as_tuple(value: Any) -> Any:
    if isinstance(value, (str, int, float)):
        return (value,)
    return tuple(value) if isinstance(value, list) else value


def _as_list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _as_dict(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


_SCALARS: dict[Any, Any] = {
    bool: Annotated[bool, Strict()],
    int: Annotated[int, BeforeValidator(_integral_float), Strict()],
    float: Annotated[float, Strict()],
    str: Annotated[str, BeforeValidator(_number_as_text), Strict()],
    type(None): type(None),
}


@functools.cache
def _section(settings_type: type) -> Any:
    """A pydantic model of the dataclass's init fields, validated, then built into the dataclass."""
    hints = typing.get_type_hints(settings_type)
    fields = {field.name: field for field in dataclasses.fields(settings_type) if field.init}
    required = frozenset(name for name, field in fields.items()
                         if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING)
    model = pydantic_model(settings_type.__name__, __config__=_CONFIG,  # type: ignore[call-overload]
                           **{name: (_yaml_type(hints[name]), ... if name in required else Field(default=None))
                              for name in fields})
    return Annotated[model, BeforeValidator(functools.partial(_given, required=required)),
                     AfterValidator(_builder(settings_type))]


def _given(value: Any, *, required: frozenset[str]) -> Any:
    """A YAML mapping without the required keys given empty (`name:`), which then read as missing."""
    if not isinstance(value, Mapping):
        return value
    return {key: item for key, item in value.items() if not (key in required and item in (None, ""))}


def _builder(settings_type: type) -> Callable[[BaseModel], Any]:
    def build(model: BaseModel) -> Any:
        try:
            return settings_type(**{name: getattr(model, name) for name in model.model_fields_set})
        except EvaluatorError as problem:  # the dataclass's own value rules: pydantic keeps where it was
            raise ValueError(str(problem)) from None
    return build


def _message(hint: Any, problem: ValidationError, where: str) -> str:
    """The first problem (unknown keys first, then missing ones, as a reader fixes them), for `where`."""
    errors = problem.errors(include_url=False)
    order = {"extra_forbidden": 0, "missing": 1}
    first = min(errors, key=lambda item: order.get(item["type"], 2))
    here = where + _path(first["loc"])
    if first["type"] == "extra_forbidden":
        parent = first["loc"][:-1]
        unknown = [str(item["loc"][-1]) for item in errors
                   if item["type"] == "extra_forbidden" and item["loc"][:-1] == parent]
        known = [field.name for field in dataclasses.fields(_section_at(hint, parent)) if field.init]
        return unknown_keys_message(where + _path(parent), unknown, known)
    if first["type"] == "missing":
        return f"{here}: missing"
    if first["type"] == "value_error":
        return f"{here}.{first['ctx']['error']}"
    return f"{here}: {_expected(first)}"


_EXPECTED = {"bool_type": "true or false", "int_type": "an integer", "int_from_float": "an integer",
             "float_type": "a number", "string_type": "a string", "tuple_type": "a list", "list_type": "a list"}


def _expected(error: ErrorDetails) -> str:
    value = error["input"]
    if error["type"] in ("model_type", "dict_type"):
        return f"expected a mapping, got {type(value).__name__}"
    if error["type"] in _EXPECTED:
        return f"expected {_EXPECTED[error['type']]}, got {value!r}"
    return error["msg"]


def _path(loc: Sequence[int | str]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _section_at(hint: Any, loc: Sequence[int | str]) -> Any:
    """The (nested) dataclass that the field path `loc` leads to from `hint`."""
    for part in loc:
        if isinstance(part, str) and dataclasses.is_dataclass(hint):
            hint = typing.get_type_hints(hint)[part]
            hint = next((arg for arg in typing.get_args(hint) if dataclasses.is_dataclass(arg)), hint)
    return hint
