"""The evaluator against real encoder servers: end to end, resume after a kill, encoder loss,
plan problems named at start, and the Redis results stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers.dicom import dicom_bytes
from helpers.images import encode, png_bytes, png_with_claimed_size, random_image
from helpers.servers import start_server
from medembed_client import Client
from medembed_evaluator.cli import main as evaluate
from medembed_evaluator.errors import EvaluatorError
from medembed_evaluator.plan.load import load_plan
from medembed_evaluator.runner import RunSettings, run_plan


def write_plan(path: Path, target: str, models: list[dict], datasets: list[dict], **extra: object) -> Path:
    document = {"name": "t", "encoders": {"default": target}, "models": models, "datasets": datasets,
                "protocol": {"seed": 0, "folds": 3}, **extra}
    path.write_text(yaml.safe_dump(document))
    return path


def image_folder(root: Path, per_class: int = 8, broken: int = 0) -> Path:
    for label, shade in (("calm", 40), ("bright", 200)):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            image = random_image(i + shade, size=40)
            image.paste(shade, (8, 8, 32, 32))
            (folder / f"{i}.png").write_bytes(encode(image))
    for i in range(broken):
        (root / "calm" / f"broken{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def test_plan_end_to_end_with_a_bad_item(tiny_server, tmp_path):
    folder = image_folder(tmp_path / "folder", broken=1)
    plan = write_plan(tmp_path / "plan.yaml", tiny_server.target,
                      [{"id": "raw-pixels", "group": "non-VLM"}, {"id": "tiny-timm", "group": "non-medical"}],
                      [{"name": "folder", "kind": "imagefolder", "path": str(folder)},
                       {"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 12, "size": 64}}])
    outcome = run_plan(load_plan(plan), RunSettings(out_dir=tmp_path / "out", data_root=tmp_path, progress=False))
    assert {(r.model_id, r.dataset) for r in outcome.results} == {
        (m, d) for m in ("raw-pixels", "tiny-timm") for d in ("folder", "phantoms")}
    timm_folder = next(r for r in outcome.results if r.model_id == "tiny-timm" and r.dataset == "folder")
    assert timm_folder.n_failed == 1 and timm_folder.n == 16
    assert timm_folder.failed_keys == ["calm/broken0.png"]
    with Client(tiny_server.target) as client:
        digest = next(m.weights_digest for m in client.list_models() if m.id == "tiny-timm")
    document = json.loads((outcome.run_dir / "results.json").read_text())
    assert {r["provenance"]["weights_digest"] for r in document["results"] if r["model"] == "tiny-timm"} == {digest}
    assert (outcome.run_dir / "table.md").read_text() == outcome.table
    assert "tiny-timm [random weights]" in outcome.table and "phantoms" in outcome.table
    assert timm_folder.provenance.random_weights is True
    assert len((outcome.run_dir / "results.csv").read_text().splitlines()) == 5


@pytest.mark.parametrize(("models", "datasets", "fragment"), [
    ([{"id": "no-such-model", "group": "non-VLM"}], [{"name": "p", "kind": "phantoms"}], "no-such-model"),
    ([{"id": "raw-pixels", "group": "non-VLM"}], [{"name": "gone", "kind": "imagefolder", "path": "nowhere"}],
     "nowhere"),
    ([{"id": "tiny-timm", "group": "non-VLM", "spec": "layer:-2"}], [{"name": "p", "kind": "phantoms"}], "spec"),
])
def test_plan_problems_are_named_at_start(tiny_server, tmp_path, models, datasets, fragment):
    plan = write_plan(tmp_path / "plan.yaml", tiny_server.target, models, datasets)
    with pytest.raises(EvaluatorError, match=fragment):
        run_plan(load_plan(plan), RunSettings(out_dir=tmp_path / "out", data_root=tmp_path, progress=False))
    assert not (tmp_path / "out" / "features").exists()  # nothing was embedded


def test_one_class_and_too_small_classes_fail_at_start(tiny_server, tmp_path):
    one_class = tmp_path / "one"
    image_folder(tmp_path / "two", per_class=3)
    (one_class / "only").mkdir(parents=True)
    (one_class / "only" / "a.png").write_bytes(encode(random_image(0)))
    for folder, fragment in ((one_class, "class"), (tmp_path / "two", "folds")):
        plan = write_plan(tmp_path / "plan.yaml", tiny_server.target, [{"id": "raw-pixels", "group": "non-VLM"}],
                          [{"name": "d", "kind": "imagefolder", "path": str(folder)}])
        with pytest.raises(EvaluatorError, match=fragment):
            run_plan(load_plan(plan), RunSettings(out_dir=tmp_path / "out", data_root=tmp_path, progress=False))


def run_cli(plan: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "medembed_evaluator.cli", "run", str(plan), "--out", str(out),
                             "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_killed_run_resumes_without_recomputing(server_dir, tmp_path):
    server = start_server("tiny-timm", server_dir)  # no vector cache: every forward is counted
    try:
        plan = write_plan(tmp_path / "plan.yaml", server.target, [{"id": "tiny-timm", "group": "non-VLM"}],
                          [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 100, "size": 64}}])
        first = run_cli(plan, tmp_path / "out")
        features = tmp_path / "out" / "features"
        give_up = time.monotonic() + 120
        while not list(features.rglob("chunk-00000.npz")) and time.monotonic() < give_up:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert not list(features.rglob("chunk-00002.npz"))  # killed before the end
        done_chunks = len(list(features.rglob("chunk-*.npz")))
        before = server.metric("medembed_forward_items_total", model="tiny-timm")

        second = run_cli(plan, tmp_path / "out")
        output, _ = second.communicate(timeout=300)
        assert second.returncode == 0, output
        assert f"{done_chunks} stored chunk(s) reused" in output
        recomputed = server.metric("medembed_forward_items_total", model="tiny-timm") - before
        assert recomputed == 300 - 128 * done_chunks
    finally:
        server.stop()


def test_encoder_lost_mid_run_stops_clearly_then_resumes(server_dir, tmp_path):
    server = start_server("tiny-timm", server_dir)
    plan = write_plan(tmp_path / "plan.yaml", server.target, [{"id": "tiny-timm", "group": "non-VLM"}],
                      [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 100, "size": 64}}])
    run = run_cli(plan, tmp_path / "out", "--encoder-wait", "2")
    features = tmp_path / "out" / "features"
    give_up = time.monotonic() + 120
    while not list(features.rglob("chunk-00000.npz")) and time.monotonic() < give_up:
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 2
    assert "run the same command again" in output and "tiny-timm" in output

    replacement = start_server("tiny-timm", server_dir)
    try:
        again = run_cli(plan, tmp_path / "out", "--encoder", f"default={replacement.target}")
        output, _ = again.communicate(timeout=300)
        assert again.returncode == 0, output
        assert "stored chunk(s) reused" in output and " 0 stored chunk(s)" not in output
    finally:
        replacement.stop()


def test_each_finished_pair_goes_on_the_redis_stream(tiny_server, private_redis, tmp_path):
    plan = write_plan(tmp_path / "plan.yaml", tiny_server.target,
                      [{"id": "raw-pixels", "group": "non-VLM"}, {"id": "tiny-clip", "group": "non-medical"}],
                      [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 10, "size": 48}}])
    os.environ["MEDEMBED_RESULTS_REDIS_URL"] = private_redis.url
    try:
        assert evaluate(["run", str(plan), "--out", str(tmp_path / "out"), "--quiet", "--run-id", "r1"]) == 0
    finally:
        del os.environ["MEDEMBED_RESULTS_REDIS_URL"]
    entries = private_redis.client().xrange("medembed:results")
    assert [(e[1][b"model"], e[1][b"dataset"]) for e in entries] == [(b"raw-pixels", b"phantoms"),
                                                                    (b"tiny-clip", b"phantoms")]
    payload = json.loads(entries[1][1][b"json"])
    assert entries[1][1][b"run_id"] == b"r1" and payload["provenance"]["model_id"] == "tiny-clip"


def test_dicom_folder_with_a_bomb_gives_both_rows_and_a_model_failing_every_item_is_named(tiny_server, tmp_path):
    """raw-pixels reads DICOM by the encoder's rules; a bomb fails alone; a dataset whose every item
    the encoder refuses (over its 1 MB image cap) is reported by model and dataset, the rest runs."""
    folder = tmp_path / "dicom"
    for label, shade in (("abnormal", 900), ("normal", 200)):
        (folder / label).mkdir(parents=True)
        for i in range(8):
            pixels = np.random.default_rng(i + shade).integers(0, 300, (48, 48)).astype(np.uint16) + shade
            (folder / label / f"IM{i:04d}.dcm").write_bytes(dicom_bytes(pixels, window=(700, 1200)))
    (folder / "normal" / "bomb.png").write_bytes(png_with_claimed_size(30000, 30000))
    big = tmp_path / "big"
    for label in ("a", "b"):
        (big / label).mkdir(parents=True)
        for i in range(4):
            noise = np.random.default_rng(i).integers(0, 256, (620, 620, 3), dtype=np.uint8)
            (big / label / f"{i}.png").write_bytes(png_bytes(noise))  # 1.15 MB each
    plan = write_plan(tmp_path / "plan.yaml", tiny_server.target,
                      [{"id": "raw-pixels", "group": "non-VLM"}, {"id": "tiny-timm", "group": "non-medical"}],
                      [{"name": "dicom", "kind": "imagefolder", "path": str(folder)},
                       {"name": "big", "kind": "imagefolder", "path": str(big)}],
                      protocol={"seed": 0, "folds": 2})
    outcome = run_plan(load_plan(plan), RunSettings(out_dir=tmp_path / "out", data_root=tmp_path, progress=False))
    pairs = {(r.model_id, r.dataset): r for r in outcome.results}
    assert set(pairs) == {("raw-pixels", "dicom"), ("tiny-timm", "dicom"), ("raw-pixels", "big")}
    for model in ("raw-pixels", "tiny-timm"):
        assert pairs[(model, "dicom")].failed_keys == ["normal/bomb.png"] and pairs[(model, "dicom")].n == 16
    assert pairs[("raw-pixels", "dicom")].probe.accuracy.mean == 1.0  # one window, two brightness classes
    [failure] = outcome.failures
    assert (failure.model_id, failure.dataset, failure.n_failed, failure.error_codes) == ("tiny-timm", "big", 8,
                                                                                          {"too_large": 8})
    assert "every one of its 8 items failed" in failure.reason and "max_image_bytes" in failure.reason
    document = json.loads((outcome.run_dir / "results.json").read_text())
    assert [(f["model"], f["dataset"]) for f in document["failures"]] == [("tiny-timm", "big")]
    table = (outcome.run_dir / "table.md").read_text()
    assert "Pairs without a result" in table and "tiny-timm [random weights] on big: every one" in table
    assert evaluate(["run", str(plan), "--out", str(tmp_path / "out"), "--data-root", str(tmp_path), "--quiet"]) == 1
