"""hf `vision_backbone` and the timm additions of issue 22: a checkpoint folder's own configs must agree with the
catalog, the release key layouts load, and bad options fail at start with the model named."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import transformers

from medembed_encoder.catalog import CatalogEntry, load_catalog
from medembed_encoder.families import ModelLoadError, OptionsError, validate_options

from .support import META, as_random, embed, images, load, local

TINY_DINOV2 = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "mlp_ratio": 2, "patch_size": 14,
               "image_size": 28, "layerscale_value": 1.0, "layer_norm_eps": 1e-6}
TINY_VIT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
            "patch_size": 14, "image_size": 28, "layer_norm_eps": 1e-12}
PROCESSOR = {"type": "BitImageProcessor",
             "config": {"size": {"shortest_edge": 32}, "crop_size": {"height": 28, "width": 28}, "resample": 3,
                        "do_center_crop": True, "image_mean": [0.485, 0.456, 0.406],
                        "image_std": [0.229, 0.224, 0.225]}}


def _entry(folder: Path, model_type: str, config: dict, embedding: str = "cls") -> CatalogEntry:
    return CatalogEntry(id="tiny-backbone", family="hf", architecture="vision_backbone", weights=local(folder),
                        options={"model_type": model_type, "config": config, "image_processor": PROCESSOR,
                                 "embedding": embedding})


def _save_dinov2(folder: Path, config: dict, processor: dict | None = PROCESSOR) -> transformers.Dinov2Model:
    transformers.set_seed(3)
    model = transformers.Dinov2Model(transformers.Dinov2Config(**config)).eval()
    model.save_pretrained(folder)
    if processor is not None:
        getattr(transformers, f"{processor['type']}Pil")(**processor["config"]).save_pretrained(folder)
    return model


def test_a_release_checkpoint_loads_and_cls_patch_mean_is_dinov2s_linear_input(tmp_path):
    model = _save_dinov2(tmp_path, TINY_DINOV2)
    encoder = load(_entry(tmp_path, "dinov2", TINY_DINOV2, "cls_patch_mean"))
    batch = images(2, 28)
    hidden = model(pixel_values=batch).last_hidden_state
    assert encoder.spec_dims == {"default": 64, "cls": 32}
    torch.testing.assert_close(embed(encoder, "default", batch), torch.cat([hidden[:, 0], hidden[:, 1:].mean(1)], 1))
    torch.testing.assert_close(embed(encoder, "cls", batch), model(pixel_values=batch).pooler_output)


def test_a_config_json_that_differs_from_the_catalog_is_refused_naming_the_field(tmp_path):
    _save_dinov2(tmp_path, {**TINY_DINOV2, "layer_norm_eps": 1e-5})
    with pytest.raises(ModelLoadError, match=r"config.json differs .*layer_norm_eps: catalog 1e-06, repo 1e-05"):
        load(_entry(tmp_path, "dinov2", TINY_DINOV2))


def test_a_preprocessor_config_that_differs_in_pixels_is_refused_and_bookkeeping_keys_are_not(tmp_path):
    _save_dinov2(tmp_path, TINY_DINOV2, {**PROCESSOR, "config": {**PROCESSOR["config"], "resample": 2}})
    with pytest.raises(ModelLoadError, match=r"preprocessor_config.json differs .*resample: catalog 3, repo 2"):
        load(_entry(tmp_path, "dinov2", TINY_DINOV2))
    path = tmp_path / "preprocessor_config.json"
    document = {**json.loads(path.read_text()), "resample": 3, "processor_class": "AnyProcessor", "auto_map": {}}
    path.write_text(json.dumps(document))
    assert load(_entry(tmp_path, "dinov2", TINY_DINOV2)).spec_dims == {"default": 32}


def test_a_folder_without_its_preprocessor_config_loads_and_says_so(tmp_path, caplog):
    _save_dinov2(tmp_path, TINY_DINOV2, processor=None)
    with caplog.at_level(logging.WARNING):
        load(_entry(tmp_path, "dinov2", TINY_DINOV2))
    missing = [record for record in caplog.records if record.getMessage() == "repo_config_missing"]
    assert [record.fields["file"] for record in missing] == ["preprocessor_config.json"]


def test_a_vit_checkpoint_with_its_pooler_loads_without_it(tmp_path):
    """Phikon's layout: a whole ViTModel (pooler included); the embedding never uses the pooler."""
    transformers.set_seed(4)
    model = transformers.ViTModel(transformers.ViTConfig(**TINY_VIT)).eval()
    model.save_pretrained(tmp_path)
    assert any(name.startswith("pooler.") for name in model.state_dict())
    encoder = load(_entry(tmp_path, "vit", TINY_VIT))
    batch = images(2, 28)
    torch.testing.assert_close(embed(encoder, "default", batch), model(pixel_values=batch).last_hidden_state[:, 0])


@pytest.mark.parametrize(("model_type", "embedding", "message"), [
    ("dinov2", "pooler", "embedding 'pooler' is not one of"),
    ("swin", "cls", "model_type 'swin' is not one of"),
])
def test_an_unknown_model_type_or_embedding_fails_before_weights_are_read(model_type, embedding, message, tmp_path):
    with pytest.raises(ModelLoadError, match=message):
        load(_entry(tmp_path / "absent", model_type, TINY_DINOV2, embedding))


def test_a_misspelled_config_field_is_refused():
    entry = _entry(Path("/absent"), "dinov2", {**TINY_DINOV2, "layer_norm_epsilon": 1e-6})
    with pytest.raises(OptionsError, match="layer_norm_epsilon"):
        validate_options(entry)


def test_timm_layer_classes_are_resolved_only_from_timm_layers_and_torch_nn():
    catalog = load_catalog()
    entry = catalog["virchow2"]
    bad = {**entry.options, "model_kwargs": {**entry.options["model_kwargs"], "mlp_layer": "timm.layers.NoSuchMlp"}}
    with pytest.raises(OptionsError, match="mlp_layer: 'timm.layers.NoSuchMlp' is not a layer class"):
        validate_options(CatalogEntry(**{**entry.__dict__, "options": bad}))
    assert validate_options(entry).model_kwargs["mlp_layer"] == "timm.layers.SwiGLUPacked"  # kept as text


def test_timm_entries_without_an_embedding_keep_their_identity_options():
    """`embedding` came after the first identities were issued: left out of the identity while `pooled`."""
    options = json.loads(validate_options(load_catalog()["uni"]).canonical())
    assert "embedding" not in options
    assert json.loads(validate_options(load_catalog()["virchow2"]).canonical())["embedding"] == "cls_patch_mean"


def test_an_unknown_timm_embedding_fails_at_load():
    entry = load_catalog()["virchow2"]
    entry = CatalogEntry(**{**entry.__dict__, "options": {**entry.options, "embedding": "mean"}})
    with pytest.raises(ModelLoadError, match="embedding 'mean' is not one of"):
        load(as_random(entry), META)
