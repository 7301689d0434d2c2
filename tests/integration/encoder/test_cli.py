"""The `medembed` command against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from helpers.images import encode, png_bytes, random_image
from helpers.servers import free_port


def medembed(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medembed_client.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_embed_a_directory_writes_vectors_order_errors_and_provenance(tiny_server, tmp_path):
    images = tmp_path / "images" / "sub"
    images.mkdir(parents=True)
    for i in range(5):
        (images / f"{i}.png").write_bytes(encode(random_image(i)))
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    (images / "notes.txt").write_text("ignored: not an image suffix")
    out = tmp_path / "feats.npy"
    completed = medembed("--target", tiny_server.target, "embed", str(tmp_path / "images"), "--model", "tiny-clip",
                         "--out", str(out), "--quiet")
    assert completed.returncode == 1, completed.stderr  # one item failed
    vectors = np.load(out)
    files = (tmp_path / "feats.files.txt").read_text().split()
    errors = json.loads((tmp_path / "feats.errors.json").read_text())
    provenance = json.loads((tmp_path / "feats.provenance.json").read_text())
    assert vectors.shape == (6, 32) and len(files) == 6
    assert files[0].endswith("0.png") and files[-1].endswith("broken.png")
    assert list(errors) == [files[-1]] and errors[files[-1]]["code"] == "decode_error"
    assert np.isnan(vectors[-1]).all() and np.isfinite(vectors[:-1]).all()
    assert provenance["model_id"] == "tiny-clip"


def test_side_files_take_the_whole_stem_and_a_big_item_fails_alone(tiny_server, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        (images / f"{i}.png").write_bytes(encode(random_image(i)))
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    (images / "z-big.png").write_bytes(png_bytes(noise))  # 4.3 MB: over this server's request and image caps
    for version in ("v1", "v2"):
        completed = medembed("--target", tiny_server.target, "embed", str(images), "--model", "tiny-timm",
                             "--out", str(tmp_path / f"feats.{version}.npy"), "--quiet")
        assert completed.returncode == 1, completed.stderr
    for version in ("v1", "v2"):
        vectors = np.load(tmp_path / f"feats.{version}.npy")
        errors = json.loads((tmp_path / f"feats.{version}.errors.json").read_text())
        assert (tmp_path / f"feats.{version}.files.txt").read_text().split()[-1].endswith("z-big.png")
        assert json.loads((tmp_path / f"feats.{version}.provenance.json").read_text())["model_id"] == "tiny-timm"
        assert [e["code"] for e in errors.values()] == ["too_large"]
        assert np.isfinite(vectors[:3]).all() and np.isnan(vectors[3]).all()
    assert not (tmp_path / "feats.files.txt").exists()


def test_models_and_health_commands(tiny_server):
    env = {**os.environ, "MEDEMBED_TARGET": tiny_server.target}
    models = medembed("models", "--json", env=env)
    assert models.returncode == 0
    assert {json.loads(line)["id"] for line in models.stdout.splitlines()} == {"tiny-clip", "tiny-timm"}
    healthy = medembed("health", env=env)
    assert healthy.returncode == 0 and healthy.stdout.strip() == f"{tiny_server.target} SERVING"
    unknown_model = medembed("health", "--service", "nope", env=env)
    assert unknown_model.returncode == 1 and unknown_model.stdout.strip() == f"{tiny_server.target} nope NOT_FOUND"
    assert f"{tiny_server.target} serves no model 'nope' (`medembed models` lists them)" in unknown_model.stderr
    target = f"127.0.0.1:{free_port()}"
    nobody = medembed("--target", target, "health", "--timeout", "0.5")
    assert nobody.returncode == 1 and nobody.stdout.strip() == f"{target} UNAVAILABLE"
    assert f"no encoder answers at {target}: is the encoder running? Start it with `medembed-encoder serve" \
        in nobody.stderr
