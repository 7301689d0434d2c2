"""Served LLaVA vectors equal the upstream feature functions (fp32 CPU, max abs difference <= 1e-5).

Tiny checkpoints in the release layouts (helpers.llava_upstream) are served by one real encoder over
gRPC on loopback, from a catalog YAML pointing at the saved folders; every spec of every model is
compared with the upstream reference on a non-square RGB image, a non-square gray image and a 16-bit
image. The 16-bit image reaches the reference as medembed decodes it (min-max scaled to 8 bits, a
documented deliberate difference from the upstreams' clipping `convert`); the others as PIL opens them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers.llava_upstream import (
    as_upstream_reads,
    llava_next_reference,
    llava_reference,
    parity_images,
    write_clip_repo,
    write_llava_checkpoint,
    write_llava_next,
)
from medembed_client import Client
from medembed_encoder.testing import LocalEncoder, start_local_encoder

NEXT_SPECS = ("default", "base_view", "pre_projection", "layer:-2:patch_mean")
LLAVA_SPECS = ("default", "pre_projection", "layer:-2:patch_mean")


IMAGES = parity_images()


def _serve(models: str, catalog: Path, log_dir: Path, wait: bool = True) -> LocalEncoder:
    """A real encoder on loopback serving only real (saved) weights: no --allow-random-weights."""
    return start_local_encoder(models, log_dir, env={"MEDEMBED_CACHE_URL": "none"}, wait=wait, catalog=catalog,
                               device="cpu", decode_threads=2)


@pytest.fixture(scope="module")
def llava_models(tmp_path_factory):
    """model id -> (reference function image -> {spec: vector}, specs), all served by one encoder."""
    root = tmp_path_factory.mktemp("llava")
    next_model, next_options = write_llava_next(root / "llava-next", seed=21)
    tower_repo = root / "clip-vit-large-patch14-336"
    write_clip_repo(tower_repo, seed=22)
    med_projector, med_options = write_llava_checkpoint(root / "llava-med", tower_repo, 23, "llava_med")
    s2_projector, s2_options = write_llava_checkpoint(root / "llava-tri-s2", tower_repo, 24, "medtrinity", s2=True)
    own_tower = write_clip_repo(root / "fine-tuned-tower", seed=25)
    own_projector, own_options = write_llava_checkpoint(root / "llava-tri-own-tower", tower_repo, 26, "medtrinity",
                                                        tower=own_tower)
    models = {
        "tiny-llava-next": (root / "llava-next", next_options,
                            lambda image: llava_next_reference(next_model, root / "llava-next", image), NEXT_SPECS),
        "tiny-llava-med": (root / "llava-med", med_options,
                           lambda image: llava_reference(tower_repo, med_projector, "llava_med", image), LLAVA_SPECS),
        "tiny-llava-tri-s2": (root / "llava-tri-s2", s2_options,
                              lambda image: llava_reference(tower_repo, s2_projector, "medtrinity", image, s2=True),
                              LLAVA_SPECS),
        "tiny-llava-tri-own-tower": (root / "llava-tri-own-tower", own_options,
                                     lambda image: llava_reference(tower_repo, own_projector, "medtrinity", image,
                                                                   tower=own_tower), LLAVA_SPECS),
    }
    entries = [{"id": model_id, "family": "hf", "architecture": "llava",
                "weights": {"kind": "local", "ref": str(directory)}, "options": options}
               for model_id, (directory, options, _, _) in models.items()]
    catalog = root / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"models": entries}))
    server = _serve(",".join(models), catalog, root / "logs")
    yield server, {model_id: (reference, specs) for model_id, (_, _, reference, specs) in models.items()}
    server.stop()


@pytest.mark.parametrize("model_id", ["tiny-llava-next", "tiny-llava-med", "tiny-llava-tri-s2",
                                      "tiny-llava-tri-own-tower"])
def test_served_vectors_equal_the_upstream_feature_function(llava_models, model_id):
    server, models = llava_models
    reference, specs = models[model_id]
    expected = {name: reference(as_upstream_reads(data)) for name, data in IMAGES.items()}
    with Client(server.target) as client:
        for spec in specs:
            result = client.embed(list(IMAGES.values()), model_id, spec=spec)
            assert result.errors == {}
            assert result.provenance.embedding_spec == spec
            for row, name in enumerate(IMAGES):
                difference = np.abs(result.vectors[row] - expected[name][spec]).max()
                assert difference <= 1e-5, f"{model_id} {spec} {name}: max abs difference {difference:.2e}"


def test_anyres_images_of_different_shapes_share_a_batch(llava_models):
    """Three aspect ratios (so different numbers of tiles) in one request: each vector its own reference."""
    server, models = llava_models
    reference, _ = models["tiny-llava-next"]
    with Client(server.target) as client:
        result = client.embed(list(IMAGES.values()) * 2, "tiny-llava-next")
    for row, data in enumerate(list(IMAGES.values()) * 2):
        expected = reference(as_upstream_reads(data))["default"]
        assert np.abs(result.vectors[row] - expected).max() <= 1e-5


def test_an_unknown_config_field_stops_the_server_naming_field_and_model(tmp_path):
    tower_repo = tmp_path / "tower"
    write_clip_repo(tower_repo, seed=27)
    _, options = write_llava_checkpoint(tmp_path / "llava-med", tower_repo, 28, "llava_med")
    config_path = tmp_path / "llava-med" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "mm_vision_resampler": 1}))
    entry = {"id": "tiny-llava-med-new-field", "family": "hf", "architecture": "llava",
             "weights": {"kind": "local", "ref": str(tmp_path / "llava-med")}, "options": options}
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump({"models": [entry]}))
    server = _serve("tiny-llava-med-new-field", tmp_path / "catalog.yaml", tmp_path / "logs", wait=False)
    code = server.process.wait(120)
    log = server.log()
    assert code != 0
    assert "'tiny-llava-med-new-field'" in log and "mm_vision_resampler" in log and "not understood" in log
