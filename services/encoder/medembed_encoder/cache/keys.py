"""Cache keys: everything that changes a vector is in its key, so a hit is never a wrong vector."""

from __future__ import annotations

from dataclasses import dataclass

KEY_PREFIX = "medembed:v1"


@dataclass(frozen=True)
class KeyScope:
    model_id: str
    weights_digest: str
    preprocess_digest: str
    spec: str

    def key(self, content_sha256: str) -> str:
        return (f"{KEY_PREFIX}:{self.model_id}:{self.weights_digest}:{self.preprocess_digest}:"
                f"{self.spec}:{content_sha256}")
