"""Catalog options are typed per family: a misspelled or mistyped option is an error naming it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from medembed_encoder.catalog import load_catalog
from medembed_encoder.families import OptionsError, family_for, validate_options

CATALOG = load_catalog()


def _with_options(model_id: str, **options) -> object:
    entry = CATALOG[model_id]
    return dataclasses.replace(entry, options={**entry.options, **options})


@pytest.mark.parametrize("model_id", sorted(CATALOG))
def test_every_catalog_entry_fits_its_familys_schema(model_id):
    options = validate_options(CATALOG[model_id])
    assert isinstance(options, family_for(CATALOG[model_id]).OPTIONS)


@pytest.mark.parametrize(("model_id", "options", "fragment"), [
    ("uni", {"model_kwarg": {}}, r"model 'uni': options: unknown option 'model_kwarg'; did you mean 'model_kwargs'\?"),
    ("clip-vit-b-16", {"preprocess_cgf": {}}, r"unknown option 'preprocess_cgf'; did you mean 'preprocess_cfg'"),
    ("flair", {"image_sise": 512}, r"'image_sise'; did you mean 'image_size'.*Known options for "
                                   r"torchvision/flair_resnet50: \['image_size', 'projection_dim'\]"),
    ("vgg16", {"colour": 1}, r"unknown option 'colour' Known options for torchvision: \['weights_transforms'\]"),
    ("flair", {"image_size": "512"}, r"options.image_size: expected an integer, got '512'"),
    ("cxr-clip-swint", {"transform": {"resize": 224, "center_crop": 224, "mean": [0.5], "std": [0.5], "crop": 1}},
     r"options.transform: unknown option 'crop'"),
    ("cxr-clip-swint", {"transform": {"resize": 224, "mean": [0.5], "std": [0.5]}},
     r"options.transform: missing option 'center_crop'"),
    ("clip-vit-l-14", {"preprocess_cfg": {"interpolaton": "bilinear"}},
     r"options.preprocess_cfg: unknown open_clip PreprocessCfg field 'interpolaton'; did you mean 'interpolation'"),
    ("uni", {"pretrained_cfg_overlay": {"crop_pc": 1.0}},
     r"pretrained_cfg_overlay: unknown timm PretrainedCfg field 'crop_pc'; did you mean 'crop_pct'"),
    ("llm2clip-openai-l-14-336", {"vision_config": {"hiden_act": "gelu"}},
     r"vision_config: unknown CLIPVisionConfig field 'hiden_act'; did you mean 'hidden_act'"),
    ("cxr-clip-swint", {"swin_config": {"depth": [2, 2, 6, 2]}},
     r"unknown SwinConfig field 'depth'; did you mean 'depths'"),
    ("cxr-clip-swint", {"transform": {"resize": 224, "center_crop": 224, "mean": ["0.5"], "std": [0.5]}},
     r"options.transform.mean\[0\]: expected a number, got '0.5'"),
    ("flair", {"image_size": True}, r"options.image_size: expected an integer, got True"),
    ("flair", {"image_size": None}, r"options.image_size: a value is required \(got null\)"),
    ("llava-med-pp", {"upstream": "llava"}, r"model 'llava-med-pp': options.upstream 'llava' is not one of"),
    ("llava-v1.6-mistral-7b", {"vision_tower_weights": {"knd": "hub"}},
     r"options.vision_tower_weights must be \{kind, ref, revision\}"),
])
def test_a_bad_option_is_named_with_the_model_and_the_close_match(model_id, options, fragment):
    with pytest.raises(OptionsError, match=fragment):
        validate_options(_with_options(model_id, **options))


def test_validated_options_fill_in_the_defaults():
    assert validate_options(CATALOG["flair"]).as_dict() == {"image_size": 512, "projection_dim": 512}
    assert validate_options(CATALOG["vgg16"]).as_dict() == {"weights_transforms": None}


def test_yaml_lists_are_held_as_tuples_and_integers_in_float_fields_as_floats():
    options = validate_options(_with_options("cxr-clip-swint", transform={"resize": 224, "center_crop": 224,
                                                                          "mean": [1, 0.5], "std": [0.5, 0.5]}))
    assert options.transform.mean == (1.0, 0.5)
    assert '"mean":[1.0,0.5]' in options.canonical()


def test_a_misspelled_option_stops_the_server_before_any_weights_load(tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("models:\n  - id: typo-timm\n    family: timm\n    architecture: test_efficientnet\n"
                       "    weights: {kind: local, ref: /nonexistent/weights.pth}\n"
                       "    options: {model_kwarg: {drop_rate: 0.1}}\n")
    completed = subprocess.run(
        [sys.executable, "-m", "medembed_encoder.cli", "serve", "--models", "typo-timm", "--catalog", str(catalog),
         "--port", "0", "--metrics-port", "-1"], capture_output=True, text=True, timeout=120,
        env={"MEDEMBED_CACHE_URL": "none", "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
    assert completed.returncode == 2, completed.stderr
    assert "model 'typo-timm': options: unknown option 'model_kwarg'; did you mean 'model_kwargs'?" in completed.stderr
    assert "weights.pth" not in completed.stderr  # it stopped before looking for the weights
