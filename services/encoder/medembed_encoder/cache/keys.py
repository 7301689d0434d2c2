"""Cache keys: everything that changes a vector is in its key, so a hit is never a wrong vector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

KEY_PREFIX = "medembed:v1"


class Digested(Protocol):
    """What a loaded encoder tells about the vectors it makes."""

    weights_digest: str
    preprocess_digest: str


@dataclass(frozen=True)
class KeyScope:
    model_id: str
    weights_digest: str
    preprocess_digest: str
    spec: str

    @classmethod
    def for_encoder(cls, model_id: str, encoder: Digested, spec: str) -> "KeyScope":
        """The scope of the vectors `encoder` computes for `spec`: how the service keys its cache."""
        return cls(model_id, encoder.weights_digest, encoder.preprocess_digest, spec)

    def key(self, content_sha256: str) -> str:
        return (f"{KEY_PREFIX}:{self.model_id}:{self.weights_digest}:{self.preprocess_digest}:"
                f"{self.spec}:{content_sha256}")
