"""Typed catalog options: each family module declares its `options:` as a frozen dataclass.

A family module (interface.Family) declares

    OPTIONS = MyOptions        # a CatalogOptions subclass: every key `options:` may hold, typed
    CODE_VERSION = 1           # bumped whenever the module's maths change (part of the vector identity)

`MyOptions.from_entry(entry)` rejects an unknown or misspelled key with a message naming the model,
the key, the close match and the known keys, and a value of the wrong type naming its field; the
server validates every served entry this way before any weights load. `canonical()` is the
validated options (defaults filled in) as canonical JSON: the vector identity hashes it, so an
option can never be left out of the cache key.

Field types understood: str, int, float, bool, dict, tuple[X, ...] (YAML lists), `X | None`, and a
nested CatalogOptions subclass (a YAML mapping validated the same way).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from typing import Any, ClassVar, Self, Union

from ..catalog import CatalogEntry, CatalogError


class OptionsError(CatalogError):
    """A catalog entry's `options:` do not fit its family's schema."""


@dataclasses.dataclass(frozen=True)
class CatalogOptions:
    """Base of every family's options schema (subclass it as a frozen dataclass)."""

    # human name of the schema in messages, e.g. "open_clip" or "hf/llava"
    schema_name: ClassVar[str] = ""

    @classmethod
    def from_entry(cls, entry: CatalogEntry) -> Self:
        """The entry's options, validated; OptionsError names the model and the offending key."""
        return cls.from_mapping(entry.options, f"model {entry.id!r}: options")

    @classmethod
    def from_mapping(cls, raw: Any, where: str) -> Self:
        """`raw` (a YAML mapping) validated against this schema; `where` prefixes every message.

        Raises OptionsError for a non-mapping, an unknown key (naming the close match), a missing required
        key or a value of the wrong type.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise OptionsError(f"{where} must be a mapping, not {type(raw).__name__}")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = [key for key in raw if key not in fields]
        if unknown:
            raise OptionsError(_unknown_key_message(where, str(unknown[0]), sorted(fields), cls.schema_name))
        missing = [name for name, field in fields.items() if name not in raw and field.default is dataclasses.MISSING
                   and field.default_factory is dataclasses.MISSING]
        if missing:
            schema = cls.schema_name or cls.__name__
            raise OptionsError(f"{where}: missing option {missing[0]!r} (required by {schema})")
        hints = typing.get_type_hints(cls)
        values = {name: _coerce(raw[name], hints[name], f"{where}.{name}") for name in raw}
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Every option, defaults included, as plain JSON-able data (tuples as lists, nested options as dicts)."""
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}

    def canonical(self) -> str:
        """Canonical JSON of every option, defaults included: what the vector identity hashes."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), default=repr)


def _unknown_key_message(where: str, key: str, known: list[str], schema: str) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    family = f" for {schema}" if schema else ""
    return f"{where}: unknown option {key!r}{hint} Known options{family}: {known or 'none'}"


def _is_optional(hint: Any) -> tuple[bool, Any]:
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return True, args[0]
    return False, hint


def _coerce(value: Any, hint: Any, where: str) -> Any:
    optional, hint = _is_optional(hint)
    if value is None:
        if optional:
            return None
        raise OptionsError(f"{where}: a value is required (got null)")
    if isinstance(hint, type) and issubclass(hint, CatalogOptions):
        return hint.from_mapping(value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise OptionsError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(element, item, f"{where}[{index}]") for index, element in enumerate(value))
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise OptionsError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise OptionsError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionsError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise OptionsError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is Any:
        return value
    raise TypeError(f"{where}: options field type {hint!r} is not supported by CatalogOptions")


def _plain(value: Any) -> Any:
    if isinstance(value, CatalogOptions):
        return value.as_dict()
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def check_config_keys(config: dict[str, Any], known: set[str], where: str, what: str) -> None:
    """Library config classes that swallow unknown keyword arguments (transformers' PretrainedConfig)
    would ignore a misspelled field: reject it here instead."""
    unknown = sorted(set(config) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise OptionsError(f"{where}: unknown {what} field {unknown[0]!r}{hint}")


@dataclasses.dataclass(frozen=True)
class ImageProcessorOptions(CatalogOptions):
    """A Hugging Face image processor, as a model repo's preprocessor_config.json records it."""

    schema_name: ClassVar[str] = "image_processor"
    type: str  # e.g. CLIPImageProcessor (its PIL backend is used)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
