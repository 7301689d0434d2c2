"""What an embed call returns: vectors in input order, per-item errors, and provenance."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from medembed_proto import Provenance, item_code_name
from medembed_proto.redact import redact, shorten
from medembed_proto.v1 import encoder_pb2 as pb

MAX_MESSAGE_CHARS = 2000


class EmbedError(RuntimeError):
    """The whole call failed (after retries where they apply). `code` is the gRPC status name
    (`UNAVAILABLE`, `INVALID_ARGUMENT`, ...) or one of the client's own (`PROVENANCE_MISMATCH`,
    `INTERNAL`); `message` is the server's, at most 2000 characters, with secrets redacted."""

    def __init__(self, code: str, message: str) -> None:
        message = redact(shorten(message, MAX_MESSAGE_CHARS))
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, error: grpc.aio.AioRpcError | grpc.RpcError, retried: str = "") -> "EmbedError":
        """The error of a failed RPC; `retried` (how often and how long it was tried) is appended."""
        details = error.details() or ""
        return cls(error.code().name, f"{details} ({retried})" if retried else details)


@dataclass(frozen=True)
class ItemError:
    """Why one item got no vector: `code` is one of medembed_proto.ITEM_ERROR_NAMES (`decode_error`,
    `too_large`, ...); `message` the one-line reason."""

    code: str
    message: str


@dataclass
class EmbedResult:
    """The answer to one embed call over N images, in input order.

    `vectors` is [R, dim] float32: one row per item (R = N), NaN rows for failed items — except
    under the volume options `slices="every:K"` or `"all"`, where an item gives one row per chosen
    slice (a failed item still one NaN row). `row_item` ([R] int) is the item index of each row and
    `row_slice` ([R] int) its slice index along the axis (-1 for a 2-D image without volume options,
    a pooled `mean` row or a failed item). `errors` maps the index of each failed item to its
    ItemError; `provenance` is None only when no item reached a server; `content_sha256` holds the
    hex sha256 of each item's bytes; `cache_hits` is [N] bool, one per item (True where the
    server answered the item from its cache); `slice_indices` ([N] tuples) the slices behind each
    item's rows and `slice_counts` ([N] int) the slices along the axis of each item (both set only
    when the call sent volume options). `vectors, errors = client.embed(...)` unpacks the two
    fields most callers need.
    """

    vectors: np.ndarray
    errors: dict[int, ItemError]
    provenance: Provenance | None
    content_sha256: list[str] = field(default_factory=list)
    cache_hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    row_item: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    row_slice: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    slice_indices: list[tuple[int, ...]] = field(default_factory=list)
    slice_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __iter__(self) -> Iterator[object]:
        return iter((self.vectors, self.errors))

    @property
    def ok(self) -> np.ndarray:
        """[R] bool: True where the row is a vector (its item did not fail)."""
        items = self.row_item if len(self.row_item) == len(self.vectors) else np.arange(len(self.vectors))
        return ~np.isin(items, list(self.errors))


class ResultAssembler:
    """Collects chunk responses into one EmbedResult of `count` items, checking replicas agree on
    provenance (EmbedError `PROVENANCE_MISMATCH` otherwise)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.rows: list[np.ndarray | None] = [None] * count  # [k, dim] per answered item
        self.slice_indices: list[tuple[int, ...]] = [()] * count
        self.slice_counts = np.zeros(count, dtype=np.int64)
        self.errors: dict[int, ItemError] = {}
        self.sha256 = [""] * count
        self.cache_hits = np.zeros(count, dtype=bool)
        self.answered = np.zeros(count, dtype=bool)
        self.provenance: Provenance | None = None
        self.dim: int | None = None

    def add(self, offset: int, response: pb.EmbedResponse, indices: Sequence[int] | None = None,
            results: Sequence[pb.ItemResult] | None = None) -> None:
        """A chunk's response: item i of the request is item offset + i of the call, or indices[i].
        `results`: only these of the response's results (default: all of them).

        Raises EmbedError `PROVENANCE_MISMATCH` when its provenance identity differs from an
        earlier chunk's, `INTERNAL` when an item is answered twice.
        """
        provenance = Provenance.from_proto(response.provenance)
        if self.provenance is None:
            self.provenance, self.dim = provenance, response.dim
        elif provenance.identity() != self.provenance.identity():
            raise EmbedError("PROVENANCE_MISMATCH",
                             f"replicas disagree: {self.provenance.identity()} vs {provenance.identity()}; "
                             "their vectors are not comparable")
        for result in response.results if results is None else results:
            index = indices[result.index] if indices is not None else offset + result.index
            if self.answered[index]:  # a resent request must never count twice
                raise EmbedError("INTERNAL", f"item {index} was answered twice")
            self.answered[index] = True
            self.sha256[index] = result.content_sha256
            self.cache_hits[index] = result.cache_hit
            if result.status.code == pb.ITEM_CODE_OK:
                rows = np.frombuffer(result.vector, dtype="<f4").astype(np.float32)
                self.rows[index] = rows.reshape(-1, response.dim)
                self.slice_indices[index] = tuple(result.slice_indices)
                self.slice_counts[index] = result.slice_count
            else:
                self.errors[index] = ItemError(item_code_name(result.status.code), result.status.message)

    def fail(self, index: int, error: ItemError, sha256: str) -> None:
        """An item the client answers itself, without sending it (e.g. over the server's byte cap)."""
        self.errors[index] = error
        self.sha256[index] = sha256

    def result(self, dim: int = 0) -> EmbedResult:
        """`dim` sizes the NaN rows when no response came back (every item failed in the client)."""
        dim = self.dim or dim
        blocks = [rows if rows is not None else np.full((1, dim), np.nan, dtype=np.float32) for rows in self.rows]
        row_item = np.repeat(np.arange(self.count), [len(block) for block in blocks]).astype(np.int64)
        row_slice = np.full(len(row_item), -1, dtype=np.int64)
        start = 0
        for block, indices in zip(blocks, self.slice_indices, strict=True):
            if len(indices) == len(block):  # one row per slice (not pooled, not failed)
                row_slice[start:start + len(block)] = indices
            start += len(block)
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
        return EmbedResult(vectors, dict(sorted(self.errors.items())), self.provenance, self.sha256,
                           self.cache_hits, row_item, row_slice, list(self.slice_indices), self.slice_counts)
