"""Per-item work off the event loop: content hash and the model's preprocessing (decoding runs in
worker processes, decode_pool.py)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from medembed_decode import Decoded, DecodeErrorKind
from medembed_proto.v1 import encoder_pb2 as pb

from .cache.singleflight import FlightOutcome
from .runtime import ModelRuntime

ITEM_CODES = {
    DecodeErrorKind.DECODE_ERROR: pb.ITEM_CODE_DECODE_ERROR,
    DecodeErrorKind.UNSUPPORTED_FORMAT: pb.ITEM_CODE_UNSUPPORTED_FORMAT,
    DecodeErrorKind.TOO_LARGE: pb.ITEM_CODE_TOO_LARGE,
    DecodeErrorKind.TOO_SMALL: pb.ITEM_CODE_TOO_SMALL,
}


@dataclass
class ItemOutcome:
    """Where one item of a request stands; filled in as it moves through the pipeline."""

    index: int
    client_id: str
    sha256: str
    tensor: torch.Tensor | None = None
    vector: np.ndarray | None = None
    cache_hit: bool = False
    code: int = pb.ITEM_CODE_UNSPECIFIED
    message: str = ""

    def fail(self, code: int, message: str) -> None:
        self.code, self.message, self.tensor = code, message, None

    def succeed(self, vector: np.ndarray, cache_hit: bool = False) -> None:
        self.code, self.vector, self.cache_hit, self.tensor = pb.ITEM_CODE_OK, vector, cache_hit, None

    def adopt(self, source: "ItemOutcome | FlightOutcome") -> None:
        """Take the outcome of an identical item computed once for both."""
        self.code, self.message, self.vector, self.tensor = source.code, source.message, source.vector, None

    @property
    def settled(self) -> bool:
        return self.code != pb.ITEM_CODE_UNSPECIFIED

    def to_proto(self) -> pb.ItemResult:
        return pb.ItemResult(
            index=self.index, client_id=self.client_id, content_sha256=self.sha256, cache_hit=self.cache_hit,
            status=pb.ItemStatus(code=self.code, message=self.message),
            vector=self.vector.astype("<f4").tobytes() if self.vector is not None else b"",
        )


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_items(items: list[pb.Item]) -> list[ItemOutcome]:
    return [ItemOutcome(index, item.client_id, content_sha256(item.data)) for index, item in enumerate(items)]


def preprocess(outcome: ItemOutcome, decoded: Decoded, runtime: ModelRuntime) -> float:
    """Fill outcome.tensor from the decoded pixels, or fail the outcome; returns the seconds spent."""
    started = time.perf_counter()
    try:
        outcome.tensor = runtime.preprocess(decoded.image())
    except Exception as exc:  # a preprocessing bug must fail this item only
        outcome.fail(pb.ITEM_CODE_INTERNAL, f"preprocessing failed: {type(exc).__name__}: {exc}")
    return time.perf_counter() - started
