"""The feature store is keyed by the encoder's vector identity, so vectors of a changed model are never reused."""

import numpy as np

from medembed_evaluator.feature_store import ChunkFeatures, FeatureStore, identity_digest

BASE = {"model_id": "m", "weights_digest": "sha256:w", "preprocess_digest": "sha256:p", "embedding_spec": "default"}


def test_the_served_vector_identity_is_the_key():
    first = {**BASE, "vector_identity": "sha256:one"}
    second = {**BASE, "vector_identity": "sha256:two"}  # same weights and preprocessing, another option
    assert identity_digest(first) != identity_digest(second)
    assert identity_digest(first) == identity_digest({**first, "dtype": "float32", "server_version": "9"})
    assert identity_digest(first) != identity_digest({**first, "model_id": "m2"})


def test_a_provenance_without_an_identity_keeps_the_older_key():
    assert identity_digest(BASE) != identity_digest({**BASE, "weights_digest": "sha256:w2"})
    assert identity_digest(BASE) != identity_digest({**BASE, "vector_identity": "sha256:one"})


def test_stored_chunks_are_found_only_under_the_same_identity(tmp_path):
    store = FeatureStore(tmp_path)
    provenance = {**BASE, "model_id": "raw-pixels", "vector_identity": "decode-rules:3 numpy:2"}
    directory = store.pair_dir(provenance, "d" * 40)
    store.save_chunk(directory, 0, ChunkFeatures(np.ones((2, 3), np.float32)), provenance)
    assert store.load_chunk(store.pair_dir(provenance, "d" * 40), 0, 2) is not None
    other = store.pair_dir({**provenance, "vector_identity": "decode-rules:4 numpy:2"}, "d" * 40)
    assert other != directory and store.load_chunk(other, 0, 2) is None
