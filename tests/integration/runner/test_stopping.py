"""Ctrl-C, SIGTERM and a full disk in `medembed embed` and `medembed-evaluate run`, as a user meets
them: a real signal to a real process, a real full file system (a small tmpfs). One line, no
traceback, the shell's exit code (130 / 143), what was done is kept and the same command continues."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers.images import encode, random_image
from helpers.servers import WAIT_FOR_BATCHES, start_server
from medembed_client import Client

CHUNK_ITEMS = 128  # medembed_evaluator.features.CHUNK_ITEMS, the unit a resumed run skips


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """tiny-timm where every batch waits out 300 ms to fill: a run of a few hundred images takes
    seconds, so a signal lands mid-run; no vector cache, so every forward is counted."""
    server = start_server("tiny-timm", tmp_path_factory.mktemp("slow"), env=WAIT_FOR_BATCHES,
                          max_queue_delay_ms=300, max_batch_size=64)
    yield server
    server.stop()


def write_plan(path: Path, target: str, n_per_class: int = 100) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "t", "encoders": {"default": target}, "models": [{"id": "tiny-timm", "group": "non-VLM"}],
        "datasets": [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": n_per_class, "size": 64}}],
        "protocol": {"seed": 0, "folds": 3}}))
    return path


def evaluate(plan: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "medembed_evaluator.cli", "run", str(plan), "--out", str(out),
                             "--quiet", "--run-id", "r"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, what: str, timeout: float = 180) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        time.sleep(0.05)


def chunks(out: Path) -> list[Path]:
    return sorted((out / "features").rglob("chunk-*.npz"))


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_mid_run_stops_the_evaluator_in_one_line_and_the_same_command_continues(
        slow_server, tmp_path, sig, code, word):
    plan = write_plan(tmp_path / "plan.yaml", slow_server.target)
    out = tmp_path / "out"
    run = evaluate(plan, out)
    wait_for(lambda: chunks(out), "the first stored chunk")
    run.send_signal(sig)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == code, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    (line,) = [line for line in stderr.splitlines() if line.startswith("medembed-evaluate:")]
    assert line.startswith(f"medembed-evaluate: {word}; stored features are kept under {out / 'features'}; "
                           "run the same command again to continue: medembed-evaluate run ")
    assert str(plan) in line and "--run-id r" in line
    kept = len(chunks(out))
    assert 1 <= kept < math.ceil(300 / CHUNK_ITEMS)  # stopped mid-run, the finished chunks kept

    before = slow_server.metric("medembed_forward_items_total", model="tiny-timm")
    again = evaluate(plan, out)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert f"{kept} stored chunk(s) reused" in stdout + stderr
    assert slow_server.metric("medembed_forward_items_total", model="tiny-timm") - before == 300 - CHUNK_ITEMS * kept


def image_folder(root: Path, count: int) -> Path:
    root.mkdir(parents=True)
    for index in range(count):
        (root / f"{index:04d}.png").write_bytes(encode(random_image(index, size=40)))
    return root


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_mid_embed_stops_the_client_in_one_line(slow_server, tmp_path, sig, code, word):
    images = image_folder(tmp_path / "images", 400)
    out = tmp_path / "feats.npy"
    before = slow_server.metric("medembed_forward_items_total", model="tiny-timm")
    run = subprocess.Popen([sys.executable, "-m", "medembed_client.cli", "--target", slow_server.target, "embed",
                            str(images), "--model", "tiny-timm", "--out", str(out), "--batch", "16",
                            "--concurrency", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: slow_server.metric("medembed_forward_items_total", model="tiny-timm") > before,
             "the first computed batch")
    run.send_signal(sig)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == code, stderr
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith(f"medembed: {word}")]
    assert line.startswith(f"medembed: {word}; nothing was written; the vectors the encoder finished stay in its "
                           "vector cache; run the same command again to continue: medembed --target ")
    assert not out.exists()


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A tmpfs of this test's own (root only), resized by the test with `remount(bytes)`."""
    mount = tmp_path / "disk"
    mount.mkdir()
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                           text=True)
    if tried.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here (needs root / CAP_SYS_ADMIN): {tried.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, size: int) -> None:
    pages = -(-size // 4096) * 4096
    subprocess.run(["mount", "-o", f"remount,size={pages}", str(mount)], check=True)


def test_a_full_disk_ends_the_evaluator_in_one_line_with_folder_and_bytes_then_resumes(
        slow_server, tmp_path, small_disk):
    with Client(slow_server.target) as client:
        dim = next(m.dim for m in client.list_models() if m.id == "tiny-timm")
    chunk = CHUNK_ITEMS * dim * 4
    remount(small_disk, int(chunk * 1.5) + 64 * 1024)  # room for the first chunk, not the second
    plan = write_plan(tmp_path / "plan.yaml", slow_server.target)
    out = small_disk / "out"
    run = evaluate(plan, out)
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 2, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    (line,) = [line for line in stderr.splitlines() if line.startswith("medembed-evaluate:")]
    (folder,) = {path.parent for path in chunks(out)}  # the first chunk is stored
    assert line.startswith(f"medembed-evaluate: disk full in {folder}: about ")
    needed = int(line.split(" more needed")[0].rsplit("(", 1)[1].split()[0])
    assert needed >= 2 * chunk  # the two chunks left: at least their vectors
    assert "for the features of tiny-timm x phantoms" in line and "run the same command again" in line
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left behind

    remount(small_disk, 16 * 2**20)
    again = evaluate(plan, out)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert "1 stored chunk(s) reused" in stdout + stderr


def test_a_full_disk_ends_medembed_embed_in_one_line_and_the_rerun_writes_the_vectors(
        slow_server, tmp_path, small_disk):
    images = image_folder(tmp_path / "images", 200)
    remount(small_disk, 4096 * 4)
    out = small_disk / "feats.npy"
    command = [sys.executable, "-m", "medembed_client.cli", "--target", slow_server.target, "embed", str(images),
               "--model", "tiny-timm", "--out", str(out), "--quiet"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stderr.count("disk full") == 1, completed.stderr
    (line,) = [line for line in completed.stderr.splitlines() if line.startswith("medembed: disk full")]
    assert line.startswith(f"medembed: disk full in {small_disk}: about ")
    assert "nothing was written" in line and "run the same command again" in line
    assert os.listdir(small_disk) == []

    remount(small_disk, 16 * 2**20)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert np.load(out).shape[0] == 200
