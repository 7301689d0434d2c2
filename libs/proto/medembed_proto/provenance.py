"""Provenance: everything that determines a vector (same provenance + same bytes = same vector),
as the encoder sends it with every `EmbedResponse` and the client hands it to its callers."""

from __future__ import annotations

from dataclasses import dataclass

from .v1 import encoder_pb2 as pb


@dataclass(frozen=True)
class Provenance:
    """The wire's `Provenance` message as a typed value.

    `weights_digest` and `preprocess_digest` are hex digests of the weights and of the
    preprocessing; `dtype` the compute dtype (`float32`, `float16`, `bfloat16`); `vector_identity`
    the server's one digest of everything that can change a vector (empty from servers that
    predate it); `random_weights` true when the model is served without pretrained weights.
    """

    model_id: str
    weights_digest: str
    preprocess_digest: str
    embedding_spec: str
    dtype: str
    server_version: str
    vector_identity: str = ""
    random_weights: bool = False

    @classmethod
    def from_proto(cls, message: pb.Provenance) -> "Provenance":
        """The typed value of a received `Provenance` message."""
        return cls(model_id=message.model_id, weights_digest=message.weights_digest,
                   preprocess_digest=message.preprocess_digest, embedding_spec=message.embedding_spec,
                   dtype=message.dtype, server_version=message.server_version,
                   vector_identity=message.vector_identity, random_weights=message.random_weights)

    def to_proto(self) -> pb.Provenance:
        """The `Provenance` message to send."""
        return pb.Provenance(model_id=self.model_id, weights_digest=self.weights_digest,
                             preprocess_digest=self.preprocess_digest, embedding_spec=self.embedding_spec,
                             dtype=self.dtype, server_version=self.server_version,
                             vector_identity=self.vector_identity, random_weights=self.random_weights)

    def identity(self) -> tuple[str, ...]:
        """What must agree between replicas for their vectors to be interchangeable: (model id,
        vector identity or, from older servers, weights|preprocess digests, embedding spec)."""
        return (self.model_id, self.vector_identity or f"{self.weights_digest}|{self.preprocess_digest}",
                self.embedding_spec)
