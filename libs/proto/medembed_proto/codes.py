"""Item codes by name: the one mapping between the wire's `ItemCode` enum and the lower-case names
that clients, logs, metrics labels and the evaluator's error records use (`decode_error`,
`unsupported_format`, `too_large`, `too_small`, `timeout`, `internal`, `not_cached`, and `ok`)."""

from __future__ import annotations

from .v1 import encoder_pb2 as pb

_PREFIX = "ITEM_CODE_"


def item_code_name(code: int) -> str:
    """The name of an `ItemCode` value: `ITEM_CODE_TOO_LARGE` -> `"too_large"`.

    Raises ValueError for a number the enum does not have.
    """
    return pb.ItemCode.Name(code).removeprefix(_PREFIX).lower()


def item_code(name: str) -> int:
    """The `ItemCode` value of a name: `"too_large"` -> `ITEM_CODE_TOO_LARGE`.

    Raises ValueError for a name the enum does not have.
    """
    try:
        return pb.ItemCode.Value(_PREFIX + name.upper())
    except ValueError:
        raise ValueError(f"no item code named {name!r}; known: {', '.join(ITEM_ERROR_NAMES)}, ok") from None


# Every name an item can fail with, in the enum's order (neither `ok` nor `unspecified`).
ITEM_ERROR_NAMES: tuple[str, ...] = tuple(
    item_code_name(value) for value in pb.ItemCode.values()
    if value not in (pb.ITEM_CODE_UNSPECIFIED, pb.ITEM_CODE_OK))
