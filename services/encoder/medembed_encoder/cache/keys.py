"""Cache keys: everything that changes a vector is in its key, so a hit is never a wrong vector."""

from __future__ import annotations

from dataclasses import dataclass

KEY_PREFIX = "medembed:v1"


@dataclass(frozen=True)
class KeyScope:
    """What a cache key holds besides the content digest: the model id, the vector identity
    (identity.py) and the embedding spec."""

    model_id: str
    vector_identity: str  # identity.py: one digest of weights, options, preprocessing, decode rules, code, libraries
    spec: str

    def key(self, content_sha256: str) -> str:
        """The cache key of one item: `medembed:v1:{model_id}:{vector_identity}:{spec}:{content_sha256}`."""
        return f"{KEY_PREFIX}:{self.model_id}:{self.vector_identity}:{self.spec}:{content_sha256}"
