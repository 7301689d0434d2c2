"""An item as sent (ItemInput, made at the door: request.py), the per-item record the pipeline
carries (ItemRecord), and the hash stage that makes the one from the other.

A record is immutable: each pipeline stage returns new records, so what an item is at any stage
is whatever the last stage gave back, written in one place (pipeline.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from medembed_decode import DecodeErrorKind
from medembed_proto.redact import shorten
from medembed_proto.v1 import encoder_pb2 as pb

from .cache.singleflight import FlightOutcome
from .slices import SliceVectors

ITEM_CODES = {
    DecodeErrorKind.DECODE_ERROR: pb.ITEM_CODE_DECODE_ERROR,
    DecodeErrorKind.UNSUPPORTED_FORMAT: pb.ITEM_CODE_UNSUPPORTED_FORMAT,
    DecodeErrorKind.TOO_LARGE: pb.ITEM_CODE_TOO_LARGE,
    DecodeErrorKind.TOO_SMALL: pb.ITEM_CODE_TOO_SMALL,
}
# Outcomes that depend only on the bytes, so they hold for every identical item; a timeout or a
# failed forward belongs to one request, and followers must compute the item themselves.
SHAREABLE_CODES = frozenset({pb.ITEM_CODE_OK, pb.ITEM_CODE_DECODE_ERROR, pb.ITEM_CODE_UNSUPPORTED_FORMAT,
                             pb.ITEM_CODE_TOO_LARGE, pb.ITEM_CODE_TOO_SMALL})
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_MESSAGE_CHARS = 400
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def item_message(text: str) -> str:
    """`text` as an ItemStatus message: one line of printable ASCII, at most about MAX_MESSAGE_CHARS
    characters. Anything else — newlines, control bytes, escape sequences, non-ASCII that came from
    a file — is written as a Python escape (`\\n`, `\\x1b`, `\\xe9`), so the text stays readable
    and nothing in it can break a log line or a terminal."""
    escaped = _NOT_PRINTABLE_ASCII.sub(lambda match: ascii(match.group())[1:-1], text)
    return shorten(escaped, MAX_MESSAGE_CHARS)


@dataclass(frozen=True, slots=True)
class ItemInput:
    """One item as sent: its position in the request, the caller's id for it, its encoded image
    bytes (b"" for a digest-only item) and the content_sha256 it carried, lower-cased ("" when none)."""

    index: int
    client_id: str
    data: bytes
    claimed_sha256: str

    def __repr__(self) -> str:  # never the image bytes
        return f"ItemInput(index={self.index}, bytes={len(self.data)}, claimed_sha256={self.claimed_sha256[:16]!r})"


class ItemRecord(NamedTuple):
    """Where one item of a request stands (immutable: a NamedTuple, which a request makes and
    replaces a few times per item at a fraction of a frozen dataclass's cost).

    `data` is the encoded image (b"" once decoded); `digest_only` marks an item that carried only
    its digest (answered from the cache or not at all); `tensor` the model's preprocessed input
    (slices.SliceInputs under volume options); `vector` the [dim] float32 embedding once `code` is
    ITEM_CODE_OK (slices.SliceVectors under volume options). `code` stays
    ITEM_CODE_UNSPECIFIED until the item is settled.
    """

    index: int
    client_id: str
    sha256: str
    data: bytes = b""
    tensor: Any = None
    vector: np.ndarray | SliceVectors | None = None
    digest_only: bool = False
    cache_hit: bool = False
    code: int = pb.ITEM_CODE_UNSPECIFIED
    message: str = ""

    def __repr__(self) -> str:  # never the image bytes, the tensor or the vector
        return (f"ItemRecord(index={self.index}, sha256={self.sha256[:16]}..., code={self.code}, "
                f"message={self.message!r})")

    @property
    def settled(self) -> bool:
        """True once the item has its final code (a vector or an error)."""
        return self.code != pb.ITEM_CODE_UNSPECIFIED

    def failed(self, code: int, message: str) -> "ItemRecord":
        """This item, settled with an error code and its reason, made one printable line (item_message):
        the one place an item's message is set."""
        return self._replace(code=code, message=item_message(message), data=b"", tensor=None)

    def succeeded(self, vector: np.ndarray | SliceVectors, cache_hit: bool = False) -> "ItemRecord":
        """This item, settled with its [dim] vector (SliceVectors under volume options)."""
        return self._replace(code=pb.ITEM_CODE_OK, vector=vector, cache_hit=cache_hit, data=b"", tensor=None)

    def preprocessed(self, tensor: Any) -> "ItemRecord":
        """This item, decoded and preprocessed, ready for compute."""
        return self._replace(data=b"", tensor=tensor)

    def adopting(self, outcome: FlightOutcome) -> "ItemRecord":
        """This item, settled with the outcome of an identical item computed once for both."""
        return self._replace(code=outcome.code, message=outcome.message, vector=outcome.vector,
                             data=b"", tensor=None)

    def outcome(self) -> FlightOutcome:
        """This item's outcome, for identical items of the same request to adopt."""
        return FlightOutcome(self.code, self.message, self.vector)

    def shareable(self) -> FlightOutcome | None:
        """The outcome identical items of other requests may adopt, or None when it belongs to
        this request only (a timeout, a failed forward)."""
        return self.outcome() if self.code in SHAREABLE_CODES else None

    def add_to(self, results: Any) -> None:
        """Append the wire result (status, little-endian float32 vector bytes, digest, cache flag;
        slice indices and count under volume options) to a response's repeated `results` field."""
        result = results.add(index=self.index, client_id=self.client_id, content_sha256=self.sha256,
                             cache_hit=self.cache_hit)
        if isinstance(self.vector, SliceVectors):
            result.vector = np.asarray(self.vector.rows, dtype="<f4").tobytes()
            result.slice_indices.extend(self.vector.slices)
            result.slice_count = self.vector.slice_count
        elif self.vector is not None:
            result.vector = np.asarray(self.vector, dtype="<f4").tobytes()
        result.status.code = self.code
        if self.message:
            result.status.message = self.message


Records = list[ItemRecord]  # one request's records, in request order
ByDigest = dict[str, ItemRecord]  # one record per distinct content digest


def content_sha256(data: bytes) -> str:
    """Hex sha256 of the raw item bytes: the cache key's content part."""
    return hashlib.sha256(data).hexdigest()


def read_items(items: Sequence[ItemInput], digest_lookup: bool) -> Records:
    """The hash stage: one record per item, its digest computed from its bytes or, for an item that
    carries only `content_sha256`, taken from it (a digest-only item on a server with digest_lookup
    off, or a malformed digest, is settled here)."""
    return [_read_item(item, digest_lookup) for item in items]


def _read_item(item: ItemInput, digest_lookup: bool) -> ItemRecord:
    index, claimed, data = item.index, item.claimed_sha256, item.data
    if data:
        record = ItemRecord(index, item.client_id, content_sha256(data), data)
        if claimed and claimed != record.sha256:
            return record.failed(pb.ITEM_CODE_DECODE_ERROR, f"content_sha256 {claimed[:16]}... does not match the "
                                 f"sha256 of the item's bytes ({record.sha256[:16]}...); send one or the other")
        return record
    if not claimed:
        return ItemRecord(index, item.client_id, content_sha256(b""))  # empty: the decoder says so
    record = ItemRecord(index, item.client_id, claimed, digest_only=True)
    if not SHA256_HEX.fullmatch(claimed):
        return record.failed(pb.ITEM_CODE_DECODE_ERROR, "content_sha256 must be 64 hexadecimal digits (the "
                             "sha256 of the image bytes)")
    if not digest_lookup:
        return record.failed(pb.ITEM_CODE_NOT_CACHED, "this server does not answer digest-only items "
                             "(--no-digest-lookup): send the image bytes")
    return record
