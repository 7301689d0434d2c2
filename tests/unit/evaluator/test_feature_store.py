"""The feature store is keyed by the encoder's vector identity, so vectors of a changed model are never reused."""

import dataclasses
import hashlib
import json

import numpy as np

from medembed_evaluator.feature_store import ChunkFeatures, FeatureStore
from medembed_evaluator.provenance import ModelProvenance

BASE = ModelProvenance(model_id="m", weights_digest="sha256:w", preprocess_digest="sha256:p", embedding_spec="default")


def _key(*parts: str) -> str:
    """The key as the store computed it before the typed provenance: sha256 of the parts one to a line, 20 hex."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def test_the_served_vector_identity_is_the_key():
    first = dataclasses.replace(BASE, vector_identity="sha256:one")
    second = dataclasses.replace(BASE, vector_identity="sha256:two")  # same weights and preprocessing, another option
    assert first.store_key() == _key("m", "sha256:one")
    assert first.store_key() != second.store_key()
    assert first.store_key() == dataclasses.replace(first, dtype="float32", random_weights=True).store_key()
    assert first.store_key() != dataclasses.replace(first, model_id="m2").store_key()


def test_a_provenance_without_an_identity_keeps_the_older_key():
    assert BASE.store_key() == _key("m", "sha256:w", "sha256:p", "default")
    assert BASE.store_key() != dataclasses.replace(BASE, weights_digest="sha256:w2").store_key()
    assert BASE.store_key() != dataclasses.replace(BASE, vector_identity="sha256:one").store_key()


def test_stored_chunks_are_found_only_under_the_same_identity(tmp_path):
    store = FeatureStore(tmp_path)
    provenance = dataclasses.replace(BASE, model_id="raw-pixels", vector_identity="decode-rules:3 numpy:2")
    directory = store.pair_dir(provenance, "d" * 40)
    assert directory == tmp_path / "raw-pixels" / f"{_key('raw-pixels', 'decode-rules:3 numpy:2')}-{'d' * 20}"
    store.save_chunk(directory, 0, ChunkFeatures(np.ones((2, 3), np.float32)), provenance)
    assert store.load_chunk(store.pair_dir(provenance, "d" * 40), 0, 2) is not None
    other = store.pair_dir(dataclasses.replace(provenance, vector_identity="decode-rules:4 numpy:2"), "d" * 40)
    assert other != directory and store.load_chunk(other, 0, 2) is None


def test_provenance_json_is_written_as_before(tmp_path):
    provenance = ModelProvenance(model_id="m", weights_digest="sha256:w", preprocess_digest="sha256:p",
                                 embedding_spec="default", vector_identity="sha256:one", random_weights=True,
                                 library_versions={"torch": "2.1", "python": "3.11"})
    store = FeatureStore(tmp_path)
    directory = store.pair_dir(provenance, "d" * 40)
    store.save_chunk(directory, 0, ChunkFeatures(np.ones((1, 2), np.float32)), provenance)
    before = {"model_id": "m", "weights_digest": "sha256:w", "preprocess_digest": "sha256:p",
              "embedding_spec": "default", "vector_identity": "sha256:one", "random_weights": True,
              "library_versions": {"python": "3.11", "torch": "2.1"}}
    assert (directory / "provenance.json").read_text() == json.dumps(before, indent=1, sort_keys=True)
