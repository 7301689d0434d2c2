"""`medembed` messages name their object and the next step: no server, an empty folder, an unknown
model (before any progress bar), and what `--out` really wrote."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from helpers.images import encode, random_image
from helpers.servers import free_port


def medembed(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medembed_client.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_no_server_fails_at_once_naming_the_target_and_how_to_start_one(tmp_path):
    (tmp_path / "a.png").write_bytes(encode(random_image(0)))
    target = f"127.0.0.1:{free_port()}"
    for command in (["models"], ["embed", str(tmp_path), "--model", "m", "--out", str(tmp_path / "f.npy")]):
        completed = medembed("--target", target, *command)
        assert completed.returncode == 3
        assert completed.stderr.strip() == (
            f"medembed: no encoder answers at {target} (UNAVAILABLE): is the encoder running? Start it with "
            "`medembed-encoder serve --models ID` (`medembed-encoder catalog` lists the ids), or point --target / "
            "MEDEMBED_TARGET at it")
    assert not (tmp_path / "f.npy").exists()


def test_an_empty_folder_is_named_with_the_accepted_formats_and_what_it_holds(tiny_server, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("no image")
    (tmp_path / "empty" / "._scan.png").write_bytes(b"\x00\x05\x16\x07")
    completed = medembed("--target", tiny_server.target, "embed", str(tmp_path / "empty"), "--model", "tiny-clip",
                         "--out", str(tmp_path / "f.npy"))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        f"medembed: no image files in {tmp_path / 'empty'} (searched its sub-folders too; files are known by "
        "their content: PNG, JPEG, TIFF, BMP, WEBP, DICOM (with or without a suffix) or NIfTI; hidden and system "
        "files never count); left out 1 hidden or system file(s) or folder(s) (names starting with '.', "
        "__MACOSX, Thumbs.db, desktop.ini) and 1 file(s) that are neither images nor volumes (sub/notes.txt)")


def test_an_unknown_model_is_refused_before_any_progress_bar(tiny_server, tmp_path):
    (tmp_path / "a.png").write_bytes(encode(random_image(0)))
    completed = medembed("--target", tiny_server.target, "embed", str(tmp_path), "--model", "tiny-clipp",
                         "--out", str(tmp_path / "f.npy"))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        f"medembed: model 'tiny-clipp' is not served by {tiny_server.target}; it serves tiny-clip, tiny-timm "
        "(`medembed models` lists them; `medembed-encoder serve --models ...` picks them)")
    spec = medembed("--target", tiny_server.target, "embed", str(tmp_path), "--model", "tiny-timm", "--spec", "nope",
                    "--out", str(tmp_path / "f.npy"))
    assert spec.returncode == 2 and "model 'tiny-timm' has no spec 'nope'; specs: ['default']" in spec.stderr
    assert "img/s" not in completed.stderr + spec.stderr and not (tmp_path / "f.npy").exists()


def test_out_without_npy_says_what_it_wrote_and_side_files_keep_the_whole_stem(tiny_server, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        (images / f"{i}.png").write_bytes(encode(random_image(i)))
    completed = medembed("--target", tiny_server.target, "embed", str(images), "--model", "tiny-timm",
                         "--out", str(tmp_path / "embed-out" / "feats"), "--quiet")
    assert completed.returncode == 0, completed.stderr
    out = tmp_path / "embed-out"
    assert sorted(p.name for p in out.iterdir()) == [
        "feats.errors.json", "feats.files.txt", "feats.npy", "feats.provenance.json"]
    assert (f"wrote {out / 'feats.npy'} (3, {np.load(out / 'feats.npy').shape[1]}), {out / 'feats.files.txt'}, "
            f"{out / 'feats.errors.json'}, {out / 'feats.provenance.json'};") in completed.stderr
    versioned = medembed("--target", tiny_server.target, "embed", str(images), "--model", "tiny-timm",
                         "--out", str(out / "feats.v1.npy"), "--quiet")
    assert versioned.returncode == 0
    assert {"feats.v1.npy", "feats.v1.files.txt", "feats.v1.errors.json", "feats.v1.provenance.json"} <= {
        p.name for p in out.iterdir()}
    assert json.loads((out / "feats.v1.provenance.json").read_text())["model_id"] == "tiny-timm"
