"""The vector identity covers everything that shapes a vector: change any of it and the cache key and
the evaluator's feature-store key change, so a stale vector is never served or reused."""

from __future__ import annotations

import dataclasses
import io
import typing
from typing import Any

import pytest
import torch
from PIL import Image

import medembed_decode.decoder
from helpers.servers import TEST_CATALOG
from medembed_client import Client
from medembed_encoder import identity, versions
from medembed_encoder.cache.keys import KeyScope
from medembed_encoder.catalog import CatalogEntry, load_catalog
from medembed_encoder.families import CatalogOptions, code_identity, family_for, load_encoder, validate_options
from medembed_encoder.families.base import LoadedEncoder
from medembed_evaluator.provenance import ModelProvenance

CATALOG = load_catalog()
CPU = torch.device("cpu")
CONTENT = "0" * 64
# validated mappings cannot take an arbitrary key: a real field of each, for the empty case
EMPTY_MAPPING_PROBES = {"preprocess_cfg": {"interpolation": "bilinear"}, "pretrained_cfg_overlay": {"crop_pct": 0.9},
                        "model_kwargs": {"drop_rate": 0.1}, "vision_tower_weights": {"kind": "hub", "ref": "org/tower"}}
OTHER_CHOICES = {"upstream": ("llava_med", "medtrinity", "llava_next_hf")}  # options with a closed set of values
# Options that the changed value needs beside it (LLaVA's own code reads the tower config from the catalog).
COMPANIONS = {"upstream": {"vision_config": {"hidden_size": 32}}}


def _stub_encoder(entry: CatalogEntry) -> LoadedEncoder:
    """What identity_document reads, without building the network."""
    return LoadedEncoder(entry=entry, module=torch.nn.Identity(), preprocess=lambda image: None,
                         specs={"default": lambda batch: batch}, spec_dims={"default": 1}, input_size=224,
                         weights_digest="sha256:weights", preprocess_digest="sha256:p", random_weights=True,
                         preprocess_description="Compose(...)", code=code_identity(entry))


def _keys(entry: CatalogEntry) -> tuple[str, str, str]:
    vector_identity = identity.digest_document(identity.identity_document(_stub_encoder(entry), "default", CPU,
                                                                          torch.float32))
    provenance = ModelProvenance(model_id=entry.id, vector_identity=vector_identity, weights_digest="sha256:weights",
                                 preprocess_digest="sha256:p", embedding_spec="default")
    return vector_identity, KeyScope(entry.id, vector_identity, "default").key(CONTENT), provenance.store_key()


def _changed(value: Any, hint_name: str, hint: Any = None) -> Any:
    """Another valid value of the same kind."""
    if value is None:
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)][0]
        if inner is str:
            return "IMAGENET1K_V1" if hint_name == "weights_transforms" else "pad"
        return EMPTY_MAPPING_PROBES.get(hint_name, {"medembed_probe": 1})
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        choices = OTHER_CHOICES.get(hint_name)
        return next(choice for choice in choices if choice != value) if choices else value + "x"
    if isinstance(value, (tuple, list)):
        return [*value, value[-1] if value else "x"]
    if isinstance(value, dict):
        if not value:
            return EMPTY_MAPPING_PROBES.get(hint_name, {"medembed_probe": 1})
        first = next(iter(value))
        return {**value, first: _changed(value[first], first)}
    raise AssertionError(f"no change known for {value!r}")


def _variants(options: CatalogOptions, raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path, raw options) with one option changed, for every option and every nested option."""
    variants = []
    hints = typing.get_type_hints(type(options))
    for name in type(options).model_fields:
        value = getattr(options, name)
        if isinstance(value, CatalogOptions):
            nested_raw = raw.get(name, value.as_dict())
            variants += [(f"{name}.{path}", {**raw, name: nested})
                         for path, nested in _variants(value, dict(nested_raw))]
        else:
            companions = {key: value for key, value in COMPANIONS.get(name, {}).items() if not raw.get(key)}
            variants.append((name, {**raw, **companions, name: _changed(value, name, hints[name])}))
    return variants


@pytest.mark.parametrize("model_id", sorted(CATALOG))
def test_changing_any_option_changes_the_cache_and_feature_store_keys(model_id):
    entry = CATALOG[model_id]
    base = _keys(entry)
    variants = _variants(validate_options(entry), dict(entry.options))
    assert variants
    for path, options in variants:
        changed = _keys(dataclasses.replace(entry, options=options))
        assert all(a != b for a, b in zip(base, changed, strict=True)), f"{model_id}: changing {path} kept a key"


@pytest.mark.parametrize("model_id", ["clip-vit-b-16", "efficientnet-lite0-imagenet", "cxr-clip-swint", "flair"])
def test_the_family_code_version_changes_the_keys(model_id, monkeypatch):
    entry = CATALOG[model_id]
    base = _keys(entry)
    family = family_for(entry)
    monkeypatch.setattr(family, "CODE_VERSION", family.CODE_VERSION + 1)
    assert all(a != b for a, b in zip(base, _keys(entry), strict=True))


def test_the_decode_rules_change_the_keys(monkeypatch):
    entry = CATALOG["efficientnet-lite0-imagenet"]
    base = _keys(entry)
    monkeypatch.setattr(medembed_decode.decoder, "DECODE_RULES_VERSION", f"{medembed_decode.DECODE_RULES_VERSION}+1")
    assert all(a != b for a, b in zip(base, _keys(entry), strict=True))


def test_a_library_version_changes_the_keys(monkeypatch):
    entry = CATALOG["clip-vit-b-16"]
    base = _keys(entry)
    real = versions.metadata.version
    monkeypatch.setattr(versions.metadata, "version", lambda name: "0.0" if name == "timm" else real(name))
    versions.library_versions.cache_clear()
    try:
        assert all(a != b for a, b in zip(base, _keys(entry), strict=True))
    finally:
        versions.library_versions.cache_clear()


def test_weights_preprocessing_spec_and_compute_are_in_the_identity():
    encoder = _stub_encoder(CATALOG["clip-vit-b-16"])
    digest = identity.digest_document
    base = digest(identity.identity_document(encoder, "default", CPU, torch.float32))
    others = [
        identity.identity_document(dataclasses.replace(encoder, weights_digest="sha256:other"), "default", CPU,
                                   torch.float32),
        identity.identity_document(dataclasses.replace(encoder, preprocess_description="Compose(other)"), "default",
                                   CPU, torch.float32),
        identity.identity_document(encoder, "pre_projection", CPU, torch.float32),
        identity.identity_document(encoder, "default", CPU, torch.bfloat16),
        identity.identity_document(encoder, "default", torch.device("meta"), torch.float32),
    ]
    assert len({base, *(digest(document) for document in others)}) == 6


def test_an_option_that_leaves_the_weights_alone_still_changes_the_loaded_identity():
    entry = load_catalog(TEST_CATALOG)["tiny-timm"]
    first = load_encoder(entry, CPU, allow_random_weights=True)
    second = load_encoder(dataclasses.replace(entry, options={"model_kwargs": {"drop_rate": 0.2}}), CPU,
                          allow_random_weights=True)
    assert first.weights_digest == second.weights_digest  # dropout has no weights
    assert identity.vector_identities(first, CPU, torch.float32) != identity.vector_identities(second, CPU,
                                                                                               torch.float32)


def test_served_identity_is_per_spec_and_the_same_in_list_models_and_provenance(tiny_server):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buffer, format="PNG")
    with Client(tiny_server.target) as client:
        info = next(m for m in client.list_models() if m.id == "tiny-clip")
        listed = {spec.name: spec.vector_identity for spec in info.specs}
        served = {spec: client.embed([buffer.getvalue()], "tiny-clip", spec=spec).provenance.vector_identity
                  for spec in listed}
    assert served == listed
    assert len(set(listed.values())) == len(listed) and all(v.startswith("sha256:") for v in listed.values())
