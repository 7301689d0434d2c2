"""A model's provenance is built once from ListModels (the spec resolved there), checked against what
every embed call comes back with, and written to results.json exactly as before it was typed."""

import dataclasses
import json

import pytest

from medembed_client import ModelInfo, Provenance, SpecInfo
from medembed_client.models import UnknownSpec
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.raw_pixels import raw_pixels_provenance
from medembed_proto import volume_identity

INFO = ModelInfo("m", "timm", 8, 224, "default", (SpecInfo("default", 8, "sha256:a"), SpecInfo("pre_projection", 16,
                                                                                             "sha256:b")),
                 True, "sha256:w", "sha256:p", True, {"torch": "2.1", "python": "3.11"})


def test_served_resolves_the_default_spec_and_takes_its_identity():
    assert ModelProvenance.served(INFO) == ModelProvenance.served(INFO, "default") == ModelProvenance(
        "m", "sha256:w", "sha256:p", "default", "sha256:a", True, {"python": "3.11", "torch": "2.1"})
    chosen = ModelProvenance.served(INFO, "pre_projection")
    assert (chosen.embedding_spec, chosen.vector_identity) == ("pre_projection", "sha256:b")
    with pytest.raises(UnknownSpec, match=r"model 'm' has no spec 'nope'; specs: \['default', 'pre_projection'\]"):
        ModelProvenance.served(INFO, "nope")


def test_identity_is_the_wire_provenance_identity_of_its_vectors():
    provenance = ModelProvenance.served(INFO)
    sent = Provenance("m", "sha256:w", "sha256:p", "default", "float32", "0.1.0", "sha256:a", True)
    assert provenance.identity() == sent.identity() == ("m", "sha256:a", "default")
    older = dataclasses.replace(provenance, vector_identity="")
    assert older.identity() == ("m", "sha256:w|sha256:p", "default")


def test_matches_what_an_embed_call_came_back_with_under_volume_options():
    provenance = ModelProvenance.served(INFO)
    sent = Provenance("m", "sha256:w", "sha256:p", "default", "float32", "0.1.0", "sha256:a", True)
    assert provenance.matches(sent)
    volume = "slices=middle axis=axial window=lung"
    assert provenance.matches(dataclasses.replace(sent, volume=volume,
                                                  vector_identity=volume_identity("sha256:a", volume)))
    assert not provenance.matches(dataclasses.replace(sent, volume=volume))
    assert not provenance.matches(dataclasses.replace(sent, vector_identity="sha256:changed"))
    assert not provenance.matches(dataclasses.replace(sent, weights_digest="sha256:w2"))


def test_results_json_holds_the_same_fields_in_the_same_order_as_before():
    served = ModelProvenance.served(INFO).to_dict()
    assert json.dumps(served) == json.dumps({
        "model_id": "m", "weights_digest": "sha256:w", "preprocess_digest": "sha256:p", "embedding_spec": "default",
        "vector_identity": "sha256:a", "random_weights": True, "library_versions": {"python": "3.11", "torch": "2.1"}})
    baseline = raw_pixels_provenance()
    assert list(baseline.to_dict()) == ["model_id", "weights_digest", "preprocess_digest", "embedding_spec", "dtype",
                                        "vector_identity"]
    assert not baseline.random_weights and not baseline.library_versions


def test_the_row_label_says_random_weights_once():
    random = ModelProvenance.served(INFO)
    assert random.row_label("ResNet-50") == "ResNet-50 [random weights]"
    assert random.row_label("ResNet-50 [random weights]") == "ResNet-50 [random weights]"
    assert dataclasses.replace(random, random_weights=False).row_label("ResNet-50") == "ResNet-50"
