"""What an embed call returns: vectors in input order, per-item errors, and provenance."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from .redact import redact, shorten
from .v1 import encoder_pb2 as pb

MAX_MESSAGE_CHARS = 2000


class EmbedError(RuntimeError):
    """The whole call failed (after retries where they apply). `code` is the gRPC status name;
    `message` is the server's, with secrets redacted."""

    def __init__(self, code: str, message: str) -> None:
        message = redact(shorten(message, MAX_MESSAGE_CHARS))
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, error: grpc.aio.AioRpcError | grpc.RpcError, retried: str = "") -> "EmbedError":
        details = error.details() or ""
        return cls(error.code().name, f"{details} ({retried})" if retried else details)


@dataclass(frozen=True)
class ItemError:
    code: str  # decode_error, unsupported_format, too_large, too_small, timeout, internal
    message: str


@dataclass(frozen=True)
class Provenance:
    model_id: str
    weights_digest: str
    preprocess_digest: str
    embedding_spec: str
    dtype: str
    server_version: str
    vector_identity: str = ""  # the server's digest of everything that shapes the vector
    random_weights: bool = False  # served without pretrained weights: vectors of an untrained network

    @classmethod
    def from_proto(cls, message: pb.Provenance) -> "Provenance":
        return cls(message.model_id, message.weights_digest, message.preprocess_digest,
                   message.embedding_spec, message.dtype, message.server_version, message.vector_identity,
                   message.random_weights)

    def identity(self) -> tuple[str, ...]:
        """What must agree between replicas for their vectors to be interchangeable."""
        return (self.model_id, self.vector_identity or f"{self.weights_digest}|{self.preprocess_digest}",
                self.embedding_spec)


@dataclass
class EmbedResult:
    """`vectors, errors = client.embed(...)` unpacks the two fields most callers need."""

    vectors: np.ndarray  # [N, dim] float32; rows of failed items are NaN
    errors: dict[int, ItemError]
    provenance: Provenance | None
    content_sha256: list[str] = field(default_factory=list)
    cache_hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __iter__(self) -> Iterator[object]:
        return iter((self.vectors, self.errors))

    @property
    def ok(self) -> np.ndarray:
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.errors)] = False
        return mask


def item_code_name(code: int) -> str:
    return pb.ItemCode.Name(code).removeprefix("ITEM_CODE_").lower()


class ResultAssembler:
    """Collects chunk responses into one EmbedResult, checking replicas agree on provenance."""

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
        `results`: only these of the response's results (default: all of them)."""
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
