"""A model's provenance in the evaluator: what determines its vectors, built once per model at the
start of a run (from the encoder's ListModels, or by the raw-pixels baseline itself) and the only
thing the feature store, the runner, the results and the report read about a model's vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from medembed_client.models import ModelInfo
from medembed_proto import Provenance, volume_identity

STORE_KEY_CHARS = 20
"""Hex characters of a feature-store key (a folder name's first part)."""
RANDOM_WEIGHTS_SUFFIX = " [random weights]"


@dataclass(frozen=True)
class ModelProvenance:
    """One model's vectors as a run sees them.

    `weights_digest` and `preprocess_digest` are the encoder's hex digests (the baseline's weights
    digest is "none"); `embedding_spec` the resolved spec name the evaluator sends (never empty);
    `vector_identity` the encoder's one digest of everything that can change a vector (empty from
    encoders that predate it); `random_weights` true when the encoder serves the model without
    its pretrained weights; `library_versions` {package: version} of the encoder's libraries;
    `dtype` the compute dtype where the provider states it (the baseline; ListModels does not);
    `computed_here` true for the raw-pixels baseline, which the evaluator computes itself.
    """

    model_id: str
    weights_digest: str
    preprocess_digest: str
    embedding_spec: str
    vector_identity: str = ""
    random_weights: bool = False
    library_versions: Mapping[str, str] = field(default_factory=dict, hash=False)
    dtype: str = ""
    computed_here: bool = False

    @classmethod
    def served(cls, info: ModelInfo, spec: str = "") -> ModelProvenance:
        """The provenance of `info`'s vectors under `spec` (empty: its default spec), as ListModels tells it.

        Raises medembed_client.models.UnknownSpec (naming the model and its specs) when it has no such spec.
        """
        resolved = info.spec_info(spec)
        return cls(model_id=info.id, weights_digest=info.weights_digest, preprocess_digest=info.preprocess_digest,
                   embedding_spec=resolved.name, vector_identity=resolved.vector_identity,
                   random_weights=info.random_weights, library_versions=dict(sorted(info.library_versions.items())))

    def identity(self) -> tuple[str, ...]:
        """Provenance.identity() of the vectors the encoder sends under this provenance: (model id,
        vector identity or weights|preprocess digests, embedding spec)."""
        return Provenance(self.model_id, self.weights_digest, self.preprocess_digest, self.embedding_spec,
                          dtype=self.dtype, server_version="", vector_identity=self.vector_identity,
                          random_weights=self.random_weights).identity()

    def store_key(self) -> str:
        """The feature store's key of these vectors: STORE_KEY_CHARS hex characters of the sha256 of
        identity()'s model id and vector identity, so anything that changes a vector starts a new store."""
        model_id, identity, spec = self.identity()
        # A vector identity includes the spec. Stores written for encoders without one (before identities
        # existed) were keyed by the digests and the spec one to a line; a resumed run must find them.
        parts = (model_id, identity) if self.vector_identity else (
            model_id, self.weights_digest, self.preprocess_digest, spec)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:STORE_KEY_CHARS]

    def matches(self, sent: Provenance) -> bool:
        """Whether the provenance an embed call came back with (`sent`) is still this one: the same
        weights, preprocessing and vector identity (under volume options the encoder sends this
        one combined with theirs, medembed_proto.volume_identity)."""
        return (sent.weights_digest, sent.preprocess_digest, sent.vector_identity) == (
            self.weights_digest, self.preprocess_digest, volume_identity(self.vector_identity, sent.volume))

    def row_label(self, plan_label: str) -> str:
        """The model's name in every table, map and file of the run: its plan label, with
        RANDOM_WEIGHTS_SUFFIX when the encoder serves it without its real weights, whatever the plan calls it."""
        if self.random_weights and not plan_label.endswith(RANDOM_WEIGHTS_SUFFIX):
            return f"{plan_label}{RANDOM_WEIGHTS_SUFFIX}"
        return plan_label

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, as provenance.json beside stored features and results.json's
        "provenance" hold them: model_id, weights_digest, preprocess_digest, embedding_spec, dtype
        (when stated), vector_identity; from an encoder also random_weights and library_versions."""
        record: dict[str, Any] = {"model_id": self.model_id, "weights_digest": self.weights_digest,
                                  "preprocess_digest": self.preprocess_digest, "embedding_spec": self.embedding_spec}
        if self.dtype:
            record["dtype"] = self.dtype
        record["vector_identity"] = self.vector_identity
        if not self.computed_here:
            record["random_weights"] = self.random_weights
            record["library_versions"] = dict(self.library_versions)
        return record
