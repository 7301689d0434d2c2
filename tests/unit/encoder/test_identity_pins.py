"""The vector identities of every catalog entry, pinned: a refactor that changes none of a served vector's
ingredients must leave every cache key and feature-store key as it was, or every user's cache and stored
features would be silently recomputed (or, worse, an ingredient silently dropped).

What is pinned, per entry of the built-in catalog and of the test catalog: the identity digest for each
spec, built from the entry's validated options, its family's code name and version, its real preprocessing
(`family.preprocessing(entry)`, no weights needed), and, for the tiny test-catalog models, their real
seeded weights. The library versions and the decode rules are held fixed (their own tests show they enter
the identity), so upgrading a library does not move these pins; changing what our code puts in the
identity does. The pins were computed on main before issue 23's refactor (`python
tests/unit/encoder/test_identity_pins.py --write` rewrites them: do so only for a deliberate identity
change, and bump the code version that says why).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from helpers.servers import TEST_CATALOG
from medembed_encoder import identity
from medembed_encoder.catalog import CatalogEntry, load_catalog
from medembed_encoder.families import code_identity, family_for, load_encoder
from medembed_encoder.families.base import LoadedEncoder
from medembed_evaluator.provenance import ModelProvenance

PINS = Path(__file__).with_name("identity_pins.json")
CPU = torch.device("cpu")
FIXED_LIBRARIES = {"python": "3.11.7", "torch": "2.14.1", "torchvision": "0.29.1"}
FIXED_DECODE = "decode-rules-fixed"
FIXED_WEIGHTS = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def _fixed_environment(monkeypatch):
    _hold_environment_fixed(monkeypatch.setattr)


def _hold_environment_fixed(setattr_) -> None:
    setattr_(identity, "library_versions", lambda family: {**FIXED_LIBRARIES, "family": family})
    setattr_(identity, "rules_identity", lambda: FIXED_DECODE)
    setattr_(identity, "volume_rules_identity", lambda: "volume-rules-fixed")


def _catalog_encoder(entry: CatalogEntry) -> LoadedEncoder:
    """What identity_document reads of a catalog entry, without its weights (fixed digest)."""
    preprocessing = family_for(entry).preprocessing(entry)
    return LoadedEncoder(entry=entry, module=torch.nn.Identity(), preprocess=preprocessing.image_transform,
                         specs={}, spec_dims={}, input_size=preprocessing.input_size, weights_digest=FIXED_WEIGHTS,
                         preprocess_digest="", random_weights=entry.weights.is_random,
                         preprocess_description=preprocessing.description, code=code_identity(entry))


def _identities(encoder: LoadedEncoder, specs: list[str]) -> dict[str, str]:
    return {spec: identity.digest_document(identity.identity_document(encoder, spec, CPU, torch.float32))
            for spec in specs}


def catalog_pins() -> dict[str, dict[str, str]]:
    """entry id -> {spec -> identity} for the built-in catalog (specs: default and pre_projection)."""
    return {model_id: _identities(_catalog_encoder(entry), ["default", "pre_projection"])
            for model_id, entry in sorted(load_catalog().items())}


def loaded_pins() -> dict[str, dict[str, str]]:
    """entry id -> {spec -> identity} for the test catalog's own tiny models (it also holds the built-in
    entries), loaded for real with their seeded weights."""
    pins = {}
    for model_id, entry in sorted(load_catalog(TEST_CATALOG).items()):
        if not model_id.startswith("tiny-"):
            continue
        encoder = load_encoder(entry, CPU, allow_random_weights=True)
        pins[model_id] = identity.vector_identities(encoder, CPU, torch.float32)
    return pins


def feature_store_pins(identities: dict[str, dict[str, str]]) -> dict[str, str]:
    """entry id -> the evaluator's feature-store key for its default-spec provenance."""
    return {model_id: ModelProvenance(model_id=model_id, vector_identity=specs["default"],
                                      weights_digest=FIXED_WEIGHTS, preprocess_digest="sha256:p",
                                      embedding_spec="default").store_key()
            for model_id, specs in identities.items()}


def _pinned() -> dict:
    return json.loads(PINS.read_text())


def test_every_catalog_entry_keeps_its_vector_identity():
    pinned = _pinned()["catalog"]
    current = catalog_pins()
    assert sorted(current) == sorted(pinned), "a catalog entry was added or removed: pin it (--write)"
    changed = [model_id for model_id in pinned if current[model_id] != pinned[model_id]]
    assert not changed, f"vector identity changed for {changed}"


def test_every_loaded_test_model_keeps_its_vector_identity():
    pinned = _pinned()["loaded"]
    current = loaded_pins()
    assert sorted(current) == sorted(pinned)
    changed = [model_id for model_id in pinned if current[model_id] != pinned[model_id]]
    assert not changed, f"vector identity changed for {changed}"


def test_the_feature_store_keys_are_kept():
    pinned = _pinned()
    assert feature_store_pins(pinned["catalog"]) == pinned["feature_store"]


if __name__ == "__main__" and "--write" in sys.argv:
    _hold_environment_fixed(setattr)
    catalog = catalog_pins()
    PINS.write_text(json.dumps({"catalog": catalog, "loaded": loaded_pins(),
                                "feature_store": feature_store_pins(catalog)}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {PINS}")
