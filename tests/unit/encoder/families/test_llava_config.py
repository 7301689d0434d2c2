"""LLaVA entries: typed options, config.json read as each upstream reads it, LLaVA-Med's gray padding.

Upstream values quoted: LLaVA-Med llava/mm_utils.py `process_images` pads a mode-L image with
`int(255 * sum(image_mean) / len(image_mean))` (114 for CLIP's mean) and an RGB image with
`tuple(int(x * 255) for x in image_mean)`; MedTrinity's loaders `.convert('RGB')` first.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from PIL import Image

from helpers.llava_upstream import write_clip_repo, write_llava_checkpoint, write_llava_next
from medembed_encoder.catalog import CatalogError, load_catalog
from medembed_encoder.families import ModelLoadError, family_for
from medembed_encoder.families.hf.llava_config import LlavaOptions

from .support import OPENAI_MEAN, OPENAI_STD, as_random, load, local, tiny_entry

CATALOG = load_catalog()
LLAVA_IDS = sorted(model_id for model_id, entry in CATALOG.items() if entry.architecture == "llava")


def test_every_catalog_llava_entry_has_valid_typed_options():
    assert len(LLAVA_IDS) == 4
    for model_id in LLAVA_IDS:
        assert LlavaOptions.from_options(CATALOG[model_id].options, model_id).upstream in (
            "llava_med", "medtrinity", "llava_next_hf")


def test_an_unknown_option_names_model_key_and_the_known_ones():
    options = {**CATALOG["llava-med-pp"].options, "vision_feature_layr": -3}
    with pytest.raises(CatalogError, match=r"'llava-med-pp'.*unknown option 'vision_feature_layr'.*\['config',"):
        LlavaOptions.from_options(options, "llava-med-pp")


def _random_entry(model_id: str, **config_changes):
    entry = as_random(CATALOG[model_id])
    config = {**entry.options["config"], **config_changes}
    return dataclasses.replace(entry, options={**entry.options, "config": config})


@pytest.mark.parametrize(("changes", "message"), [
    ({"mm_vision_resampler": "perceiver"}, r"field\(s\) \['mm_vision_resampler'\] not understood"),
    ({"mm_projector_type": "qformer"}, "mm_projector_type 'qformer'"),
    ({"mm_hidden_size": 1024}, "mm_hidden_size 1024 is not the tower width 1024 x 3 scale"),
    ({"s2_scales": "336,500"}, "scale 500 does not split"),
    ({"image_aspect_ratio": "anyres"}, "image_aspect_ratio 'anyres'"),
])
def test_a_config_the_loader_does_not_understand_stops_the_model_naming_it(changes, message):
    with pytest.raises(ModelLoadError, match=f"'llava-med-pp'.*{message}"):
        load(_random_entry("llava-med-pp", **changes), torch.device("meta"))


def test_s2_is_medtrinity_code_only():
    with pytest.raises(ModelLoadError, match=r"\['s2', 's2_scales'\] not understood"):
        load(_random_entry("llava-med-v1.5-mistral-7b", s2=True, s2_scales="336,672"), torch.device("meta"))


def test_llava_next_unknown_field_and_multi_layer_features_are_refused():
    with pytest.raises(ModelLoadError, match=r"\['vision_aspect_ratio'\] not understood"):
        load(_random_entry("llava-v1.6-mistral-7b", vision_aspect_ratio="anyres_max_9"), torch.device("meta"))
    with pytest.raises(ModelLoadError, match="vision_feature_layer"):
        load(_random_entry("llava-v1.6-mistral-7b", vision_feature_layer=[-2, -5]), torch.device("meta"))


def test_a_catalog_record_that_disagrees_with_the_checkpoint_config_is_refused(tmp_path):
    tower_repo = tmp_path / "tower"
    write_clip_repo(tower_repo, seed=1)
    _, options = write_llava_checkpoint(tmp_path / "llava-tri", tower_repo, 2, "medtrinity", s2=True)
    stale = {**options, "config": {**options["config"], "mm_vision_select_layer": -1}}
    with pytest.raises(ModelLoadError, match=r"describes another model.*feature_layer: -1 vs -2"):
        load(tiny_entry("hf", "llava", local(tmp_path / "llava-tri"), **stale))


def test_a_processor_record_that_disagrees_with_preprocessor_config_json_is_refused(tmp_path):
    _, options = write_llava_next(tmp_path, seed=3)
    processor = options["image_processor"]
    stale = {**options, "image_processor": {**processor, "config": {**processor["config"], "resample": 2}}}
    with pytest.raises(ModelLoadError, match=r"preprocessor_config.json in \['resample'\]"):
        load(tiny_entry("hf", "llava", local(tmp_path), **stale))
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "image_grid_pinpoints": [[336, 672]]}))
    with pytest.raises(ModelLoadError, match="grid_pinpoints"):
        load(tiny_entry("hf", "llava", local(tmp_path), **options))


def test_a_llava_next_checkpoint_with_the_hubs_processor_file_loads_with_the_catalogs_record(tmp_path):
    """llava-hf's LLaVA-1.6 preprocessor_config.json holds "aspect_ratio_setting": "anyres", which the
    catalog's record (what the processor reads) leaves out; it stopped the server before."""
    _, options = write_llava_next(tmp_path, seed=4)
    written = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert written["aspect_ratio_setting"] == "anyres"
    catalog_record = CATALOG["llava-v1.6-mistral-7b"].options["image_processor"]
    assert "aspect_ratio_setting" not in catalog_record["config"]
    encoder = load(tiny_entry("hf", "llava", local(tmp_path), **{**options, "image_processor": catalog_record}))
    assert set(encoder.specs) >= {"default", "base_view"}
    with_the_key = {**catalog_record, "config": {**catalog_record["config"], "aspect_ratio_setting": "anyres"}}
    load(tiny_entry("hf", "llava", local(tmp_path), **{**options, "image_processor": with_the_key}))


@pytest.mark.parametrize(("changes", "message"), [
    ({"aspect_ratio_setting": "pad"}, "aspect_ratio_setting 'pad'; the LLaVA-1.6 checkpoints say 'anyres'"),
    ({"pixel_shuffle": True}, r"preprocessor_config.json in \['pixel_shuffle'\]"),
    ({"do_center_crop": False}, r"preprocessor_config.json in \['do_center_crop'\]"),
])
def test_processor_keys_that_may_change_pixels_still_stop_the_model(tmp_path, changes, message):
    _, options = write_llava_next(tmp_path, seed=5)
    written = json.loads((tmp_path / "preprocessor_config.json").read_text())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**written, **changes}))
    with pytest.raises(ModelLoadError, match=message):
        load(tiny_entry("hf", "llava", local(tmp_path), **options))


def _normalized(value: float) -> torch.Tensor:
    return (value / 255 - torch.tensor(OPENAI_MEAN)) / torch.tensor(OPENAI_STD)


def test_llava_med_pads_a_gray_image_with_gray_114_and_medtrinity_with_the_mean_colour():
    gray = Image.new("L", (600, 300), 200)  # wide: padding above and below
    med = family_for(CATALOG["llava-med-v1.5-mistral-7b"]).preprocessing(CATALOG["llava-med-v1.5-mistral-7b"])
    assert med.takes_gray
    pixels = med.image_transform(gray)
    torch.testing.assert_close(pixels[:, 0, 0], _normalized(114).float(), atol=1e-6, rtol=0)
    torch.testing.assert_close(pixels[:, 168, 168], _normalized(200).float(), atol=1e-6, rtol=0)
    rgb = med.image_transform(Image.new("RGB", (600, 300), (200, 200, 200)))
    mean_colour = torch.tensor([int(m * 255) for m in OPENAI_MEAN], dtype=torch.float32)
    torch.testing.assert_close(rgb[:, 0, 0], ((mean_colour / 255 - torch.tensor(OPENAI_MEAN)) / torch.tensor(
        OPENAI_STD)).float(), atol=1e-6, rtol=0)
    tri = family_for(CATALOG["llava-med-pp"]).preprocessing(CATALOG["llava-med-pp"])
    assert not tri.takes_gray and tri.input_size == 1008  # S2: the processor at the largest scale
    torch.testing.assert_close(tri.image_transform(gray)[:, 0, 0], rgb[:, 0, 0], atol=1e-6, rtol=0)
