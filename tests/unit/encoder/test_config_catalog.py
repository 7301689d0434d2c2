import argparse

import pytest

from medembed_encoder import config
from medembed_encoder.catalog import CatalogError, load_catalog, parse_catalog, select


def parse(argv, environ):
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return config.from_sources(parser.parse_args(argv), environ)


def test_flags_win_over_env_vars_over_defaults():
    settings = parse(["--port", "6000"], {"MEDEMBED_MODELS": "a,b", "MEDEMBED_PORT": "5000",
                                          "MEDEMBED_MAX_BATCH_SIZE": "8", "MEDEMBED_ALLOW_RANDOM_WEIGHTS": "yes"})
    assert settings.models == ("a", "b")
    assert settings.port == 6000
    assert settings.max_batch_size == 8
    assert settings.allow_random_weights is True
    assert settings.metrics_port == 9464


@pytest.mark.parametrize(("environ", "fragment"), [
    ({}, "no models"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_PORT": "http"}, "MEDEMBED_PORT"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_DTYPE": "int8"}, "dtype"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_MAX_QUEUE_ITEMS": "4"}, "--max-queue-items"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_ALLOW_RANDOM_WEIGHTS": "maybe"}, "1/true/yes/on or 0/false/no/off"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_MAX_ASPECT_RATIO": "0.5"}, "--max-aspect-ratio"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_DECODE_TIMEOUT_S": "0"}, "--decode-timeout-s"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_DECODE_WORKERS": "-1"}, "--decode-workers"),
    ({"MEDEMBED_MODELS": "a", "MEDEMBED_MAX_IMAGE_BYTES": "100", "MEDEMBED_MAX_REQUEST_BYTES": "50"},
     "--max-image-bytes"),
])
def test_invalid_settings_name_the_problem(environ, fragment):
    with pytest.raises(config.ConfigError, match=fragment):
        parse([], environ)


def test_builtin_catalog_has_the_issue_models():
    catalog = load_catalog()
    assert catalog["vit-b-16-random"].weights.is_random
    assert catalog["efficientnet-lite0-imagenet"].weights.kind == "package"
    assert catalog["efficientnet-lite0-imagenet"].dim == 1280


@pytest.mark.parametrize(("text", "fragment"), [
    ("models: [{id: a, family: timm, architecture: x}]", "missing 'weights'"),
    ("models: [{id: a, family: timm, architecture: x, weights: {kind: magic}}]", "weights.kind"),
    ("models: [{id: a, family: timm, architecture: x, weights: {kind: hub}}]", "weights.ref"),
    ("models: [{id: a, family: timm, architecture: x, weights: {kind: random}, colour: red}]", "unknown keys"),
    ("models: [{id: a, family: t, architecture: x, weights: {kind: random}}, "
     "{id: a, family: t, architecture: x, weights: {kind: random}}]", "twice"),
    ("models: [", "not valid YAML"),
])
def test_catalog_errors_are_clear(text, fragment):
    with pytest.raises(CatalogError, match=fragment):
        parse_catalog(text, "test.yaml")


def test_selecting_an_unknown_model_lists_the_known_ones():
    with pytest.raises(CatalogError, match="vit-b-16-random"):
        select(load_catalog(), ("nope",))


def test_a_license_key_documents_the_entry_and_is_accepted():
    entries = parse_catalog("models: [{id: a, family: timm, architecture: x, weights: {kind: random}, "
                            "license: apache-2.0}]", "site.yaml")
    assert entries["a"].architecture == "x"
