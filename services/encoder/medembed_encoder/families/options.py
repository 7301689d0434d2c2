"""Typed catalog options: each family module declares its `options:` as a pydantic model.

A family module (interface.Family) declares

    OPTIONS = MyOptions        # a CatalogOptions subclass: every key `options:` may hold, typed
    CODE_VERSION = 1           # bumped whenever the module's maths change (part of the vector identity)

`MyOptions.from_entry(entry)` validates the entry's options with pydantic (strict: no string is read
as a number, no number as a bool; unknown keys refused; frozen) and turns any problem into one
OptionsError naming the model, the key, the close match and the known keys. The server validates
every served entry this way before any weights load. `canonical()` is the validated options
(defaults filled in) as canonical JSON: the vector identity hashes it, so an option can never be
left out of the cache key.

Field types: str, int, float (a YAML integer is read as a float), bool, dict[str, Any],
`YamlTuple[X]` (a YAML list, held as a tuple), `X | None`, and a nested CatalogOptions subclass.
Rules that span fields go in a `model_validator(mode="after")` raising OptionsError whose message
starts with the field's name ("upstream: ..."); the parser prefixes the model and `options`.
"""

from __future__ import annotations

import difflib
import json
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from ..catalog import CatalogEntry, CatalogError

T = TypeVar("T")
YamlTuple = Annotated[tuple[T, ...], Field(strict=False)]
"""A YAML list held as a tuple: the list itself is accepted (strict mode takes only tuples), its items
stay strict."""

ConfigFields = Mapping[str, tuple[frozenset[str], str]]
"""Options holding a library config class's keyword arguments: option name -> (that class's fields, its
name in messages)."""

# Pydantic error types -> what a catalog author reads after "where: "
_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
             "string_type": "a string", "tuple_type": "a list", "list_type": "a list",
             "dict_type": "a mapping", "model_type": "a mapping"}
_TYPE_NAMED = ("a list", "a mapping")  # messages that also name the type given


class OptionsError(CatalogError):
    """A catalog entry's `options:` do not fit its family's schema."""


class CatalogOptions(BaseModel):
    """Base of every family's options schema (subclass it; fields as in the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, protected_namespaces=(),
                              ser_json_inf_nan="constants")

    # human name of the schema in messages, e.g. "open_clip" or "hf/llava"
    schema_name: ClassVar[str] = ""
    # library config classes swallow unknown keyword arguments: these options' keys are checked here
    config_fields: ClassVar[ConfigFields] = {}

    @classmethod
    def from_entry(cls, entry: CatalogEntry) -> Self:
        """The entry's options, validated; OptionsError names the model and the offending key."""
        return cls.from_mapping(entry.options, f"model {entry.id!r}: options")

    @classmethod
    def from_mapping(cls, raw: Any, where: str) -> Self:
        """`raw` (a YAML mapping, None for all defaults) validated against this schema; `where` prefixes
        every message.

        Raises OptionsError for a non-mapping, an unknown key (naming the close match and the known
        keys), a missing required key, a value of the wrong type, or a value a validator refuses.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise OptionsError(f"{where} must be a mapping, not {type(raw).__name__}")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise OptionsError(_message(cls, exc, where)) from None

    @model_validator(mode="after")
    def _config_fields_known(self) -> Self:
        for name, (known, what) in self.config_fields.items():
            check_config_keys(getattr(self, name) or {}, known, name, what)
        return self

    def as_dict(self) -> dict[str, Any]:
        """Every option, defaults included, as plain JSON-able data (tuples as lists, nested options as dicts)."""
        return self.model_dump(mode="json")

    def canonical(self) -> str:
        """Canonical JSON of every option, defaults included: what the vector identity hashes."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), default=repr)


def _message(schema: type[CatalogOptions], exc: ValidationError, where: str) -> str:
    """The first problem of `exc` (unknown keys first, then missing ones, as a reader fixes them) for `where`."""
    order = {"extra_forbidden": 0, "missing": 1}
    error = min(exc.errors(include_url=False), key=lambda item: order.get(item["type"], 2))
    *parents, last = error["loc"] or ("",)
    owner = _schema_at(schema, parents)
    at, here = where + _path(parents), where + _path(error["loc"])
    if error["type"] == "extra_forbidden":
        return _unknown_key_message(at, str(last), sorted(owner.model_fields), owner.schema_name)
    if error["type"] == "missing":
        return f"{at}: missing option {last!r} (required by {owner.schema_name or owner.__name__})"
    return f"{here}{_problem(error)}"


def _problem(error: ErrorDetails) -> str:
    value = error["input"]
    if error["type"] == "value_error":
        return f".{error['ctx']['error']}"
    if value is None:
        return ": a value is required (got null)"
    expected = _EXPECTED.get(error["type"])
    if expected is None:
        return f": {error['msg']}"
    got = f"{type(value).__name__} {value!r}" if expected in _TYPE_NAMED else repr(value)
    return f": expected {expected}, got {got}"


def _path(loc: typing.Sequence[int | str]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _schema_at(schema: type[CatalogOptions], loc: typing.Sequence[int | str]) -> type[CatalogOptions]:
    """The (nested) options class that the field path `loc` leads to."""
    for part in loc:
        field = schema.model_fields.get(part) if isinstance(part, str) else None
        nested = _options_class(field.annotation) if field is not None else None
        if nested is None:
            break
        schema = nested
    return schema


def _options_class(annotation: Any) -> type[CatalogOptions] | None:
    candidates = typing.get_args(annotation) or (annotation,)  # `X | None` or X
    return next((item for item in candidates if isinstance(item, type) and issubclass(item, CatalogOptions)), None)


def _unknown_key_message(where: str, key: str, known: list[str], schema: str) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    family = f" for {schema}" if schema else ""
    return f"{where}: unknown option {key!r}{hint} Known options{family}: {known or 'none'}"


def check_config_keys(config: dict[str, Any], known: set[str] | frozenset[str], where: str, what: str) -> None:
    """Library config classes that swallow unknown keyword arguments (transformers' PretrainedConfig)
    would ignore a misspelled field: reject it here instead (OptionsError naming `where` and the close match)."""
    unknown = sorted(set(config) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise OptionsError(f"{where}: unknown {what} field {unknown[0]!r}{hint}")


class ImageProcessorOptions(CatalogOptions):
    """A Hugging Face image processor, as a model repo's preprocessor_config.json records it."""

    schema_name: ClassVar[str] = "image_processor"
    type: str  # e.g. CLIPImageProcessor (its PIL backend is used)
    config: dict[str, Any] = Field(default_factory=dict)
