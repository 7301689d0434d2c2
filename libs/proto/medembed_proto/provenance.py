"""Provenance: everything that determines a vector (same provenance + same bytes = same vector),
as the encoder sends it with every `EmbedResponse` and the client hands it to its callers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .v1 import encoder_pb2 as pb


def volume_identity(vector_identity: str, volume: str) -> str:
    """The vector identity of vectors made under volume options: `vector_identity` (a model spec's,
    as ListModels gives it) when `volume` (the options' canonical form, e.g. "slices=all axis=axial
    window=lung") is empty, else `sha256:<hex>` of both, so two slice rules, axes or windows never
    share a cache entry or a feature-store entry. Servers and clients compute it alike."""
    if not volume:
        return vector_identity
    return "sha256:" + hashlib.sha256(f"{vector_identity}|volume:{volume}".encode()).hexdigest()


@dataclass(frozen=True)
class Provenance:
    """The wire's `Provenance` message as a typed value.

    `weights_digest` and `preprocess_digest` are hex digests of the weights and of the
    preprocessing; `dtype` the compute dtype (`float32`, `float16`, `bfloat16`); `vector_identity`
    the server's one digest of everything that can change a vector (empty from servers that
    predate it); `random_weights` true when the model is served without pretrained weights;
    `volume` the request's volume options in canonical form (empty when unset; `vector_identity`
    includes them, see volume_identity).
    """

    model_id: str
    weights_digest: str
    preprocess_digest: str
    embedding_spec: str
    dtype: str
    server_version: str
    vector_identity: str = ""
    random_weights: bool = False
    volume: str = ""

    @classmethod
    def from_proto(cls, message: pb.Provenance) -> "Provenance":
        """The typed value of a received `Provenance` message."""
        return cls(model_id=message.model_id, weights_digest=message.weights_digest,
                   preprocess_digest=message.preprocess_digest, embedding_spec=message.embedding_spec,
                   dtype=message.dtype, server_version=message.server_version,
                   vector_identity=message.vector_identity, random_weights=message.random_weights,
                   volume=message.volume)

    def to_proto(self) -> pb.Provenance:
        """The `Provenance` message to send."""
        return pb.Provenance(model_id=self.model_id, weights_digest=self.weights_digest,
                             preprocess_digest=self.preprocess_digest, embedding_spec=self.embedding_spec,
                             dtype=self.dtype, server_version=self.server_version,
                             vector_identity=self.vector_identity, random_weights=self.random_weights,
                             volume=self.volume)

    def identity(self) -> tuple[str, ...]:
        """What must agree between replicas for their vectors to be interchangeable: (model id,
        vector identity or, from older servers, weights|preprocess digests, embedding spec)."""
        return (self.model_id, self.vector_identity or f"{self.weights_digest}|{self.preprocess_digest}",
                self.embedding_spec)
