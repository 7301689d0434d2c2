"""What an embed call returns: vectors in input order, per-item errors, and provenance."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from medembed_proto import Provenance, item_code_name
from medembed_proto.v1 import encoder_pb2 as pb

from .redact import redact, shorten

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

    `vectors` is [N, dim] float32, NaN rows for failed items; `errors` maps the index of each
    failed item to its ItemError; `provenance` is None only when no item reached a server;
    `content_sha256` holds the hex sha256 of each item's bytes; `cache_hits` is [N] bool.
    `vectors, errors = client.embed(...)` unpacks the two fields most callers need.
    """

    vectors: np.ndarray
    errors: dict[int, ItemError]
    provenance: Provenance | None
    content_sha256: list[str] = field(default_factory=list)
    cache_hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __iter__(self) -> Iterator[object]:
        return iter((self.vectors, self.errors))

    @property
    def ok(self) -> np.ndarray:
        """[N] bool: True where the item got a vector."""
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.errors)] = False
        return mask


class ResultAssembler:
    """Collects chunk responses into one EmbedResult of `count` items, checking replicas agree on
    provenance (EmbedError `PROVENANCE_MISMATCH` otherwise)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.rows: list[np.ndarray | None] = [None] * count
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
                self.rows[index] = np.frombuffer(result.vector, dtype="<f4").astype(np.float32)
            else:
                self.errors[index] = ItemError(item_code_name(result.status.code), result.status.message)

    def fail(self, index: int, error: ItemError, sha256: str) -> None:
        """An item the client answers itself, without sending it (e.g. over the server's byte cap)."""
        self.errors[index] = error
        self.sha256[index] = sha256

    def result(self, dim: int = 0) -> EmbedResult:
        """`dim` sizes the NaN rows when no response came back (every item failed in the client)."""
        dim = self.dim or dim
        vectors = np.full((self.count, dim), np.nan, dtype=np.float32)
        for index, row in enumerate(self.rows):
            if row is not None:
                vectors[index] = row
        return EmbedResult(vectors, dict(sorted(self.errors.items())), self.provenance, self.sha256,
                           self.cache_hits)
