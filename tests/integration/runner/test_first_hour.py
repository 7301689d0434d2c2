"""A newcomer's first runs, end to end against real encoders: a public-BUSI-style folder with masks,
random weights visible in every output, every missing dataset named at once, a one-class folder
named with its class, and the published table beside a plan whose names map to it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
import yaml

from helpers.images import encode, random_image
from helpers.servers import free_port, start_server
from medembed_evaluator.cli import main as evaluate
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.plan.load import load_plan
from medembed_evaluator.runner import RunSettings, run_plan

ROOT = Path(__file__).resolve().parents[3]


def busi_download(root: Path, *, masks: bool, per_class: int = 8) -> Path:
    """The public BUSI layout: `benign (1).png` and, with masks, `benign (1)_mask.png` (some `_mask_1.png`)."""
    for label, name in enumerate(("benign", "malignant", "normal")):
        folder = root / name
        folder.mkdir(parents=True)
        for index in range(1, per_class + 1):
            image = random_image(100 * label + index, size=40)
            image.paste(60 * label + 30, (10, 10, 30, 30))
            (folder / f"{name} ({index}).png").write_bytes(encode(image))
            if masks:
                (folder / f"{name} ({index})_mask.png").write_bytes(encode(random_image(7, size=40)))
                if index % 3 == 0:
                    (folder / f"{name} ({index})_mask_1.png").write_bytes(encode(random_image(8, size=40)))
    return root


def run_evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medembed_evaluator.cli", "run", *args, "--quiet"],
                          capture_output=True, text=True, timeout=600)


def write_plan(path: Path, target: str, models: list[dict], datasets: list[dict], **extra: object) -> Path:
    path.write_text(yaml.safe_dump({"name": "t", "encoders": {"default": target}, "models": models,
                                    "datasets": datasets, "protocol": {"seed": 0, "folds": 3}, **extra}))
    return path


def test_add_imagefolder_on_a_download_with_masks_gives_the_same_n_as_without(tiny_server, tmp_path):
    plan = write_plan(tmp_path / "plan.yaml", tiny_server.target,
                      [{"id": "raw-pixels", "group": "non-VLM"}, {"id": "tiny-timm", "group": "non-VLM"}],
                      [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 10, "size": 48}}])
    counts = {}
    for masks in (True, False):
        folder = busi_download(tmp_path / f"masks-{masks}" / "busi", masks=masks)
        completed = run_evaluate(str(plan), "--out", str(tmp_path / f"out-{masks}"), "--run-id", "r",
                                 "--add-imagefolder", str(folder))
        assert completed.returncode == 0, completed.stderr
        document = json.loads((tmp_path / f"out-{masks}" / "r" / "results.json").read_text())
        counts[masks] = {(r["model"], r["dataset"]): (r["n"], r["class_counts"]) for r in document["results"]}
        if masks:
            assert "left out 30 segmentation mask(s)" in completed.stderr
    assert counts[True] == counts[False]
    assert counts[True][("tiny-timm", "busi")] == (24, {"benign": 8, "malignant": 8, "normal": 8})


@pytest.fixture(scope="module")
def trained_and_random(tmp_path_factory):
    """One encoder serving the same tiny timm network twice: random init, and weights from a checkpoint."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(5)
    torch.save(timm.create_model("test_efficientnet").state_dict(), root / "tiny.pth")
    catalog = root / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"models": [
        {"id": "tiny-random", "family": "timm", "architecture": "test_efficientnet",
         "weights": {"kind": "random", "seed": 0}, "input_size": 64},
        {"id": "tiny-trained", "family": "timm", "architecture": "test_efficientnet",
         "weights": {"kind": "local", "ref": str(root / "tiny.pth")}, "input_size": 64}]}))
    server = start_server("tiny-random,tiny-trained", root, catalog=catalog)
    yield server
    server.stop()


def test_random_weights_show_in_models_embed_and_every_evaluator_output(trained_and_random, tmp_path):
    target = trained_and_random.target
    listing = subprocess.run([sys.executable, "-m", "medembed_client.cli", "--target", target, "models"],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0
    weights = {line.split()[0]: line.split()[5] for line in listing.stdout.splitlines()[1:]}
    assert weights == {"tiny-random": "RANDOM", "tiny-trained": "pretrained"}
    assert "RANDOM: served without pretrained weights" in listing.stderr
    as_json = subprocess.run([sys.executable, "-m", "medembed_client.cli", "--target", target, "models", "--json"],
                             capture_output=True, text=True, timeout=60)
    lines = {json.loads(line)["id"]: json.loads(line) for line in as_json.stdout.splitlines()}
    assert (lines["tiny-random"]["random_weights"], lines["tiny-trained"]["random_weights"]) == (True, False)
    assert lines["tiny-trained"]["library_versions"]["torch"] == torch.__version__
    assert lines["tiny-trained"]["library_versions"]["timm"] == timm.__version__

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(encode(random_image(0)))
    for model, flag in (("tiny-random", True), ("tiny-trained", False)):
        embedded = subprocess.run([sys.executable, "-m", "medembed_client.cli", "--target", target, "embed",
                                   str(tmp_path / "images"), "--model", model, "--out", str(tmp_path / model),
                                   "--quiet"], capture_output=True, text=True, timeout=60)
        assert embedded.returncode == 0, embedded.stderr
        assert json.loads((tmp_path / f"{model}.provenance.json").read_text())["random_weights"] is flag
        assert ("served with random weights" in embedded.stderr) is flag

    plan = write_plan(tmp_path / "plan.yaml", target,
                      [{"id": "tiny-random", "group": "non-VLM", "label": "Tiny A"},
                       {"id": "tiny-trained", "group": "non-VLM", "label": "Tiny B"}],
                      [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 10, "size": 48}}])
    assert evaluate(["run", str(plan), "--out", str(tmp_path / "out"), "--run-id", "r", "--quiet"]) == 0
    run_dir = tmp_path / "out" / "r"
    document = json.loads((run_dir / "results.json").read_text())
    assert {r["model"]: r["random_weights"] for r in document["results"]} == {"tiny-random": True,
                                                                            "tiny-trained": False}
    assert {r["model"]: r["provenance"]["random_weights"] for r in document["results"]} == {
        "tiny-random": True, "tiny-trained": False}
    assert document["versions"]["encoders"]["tiny-trained"]["torch"] == torch.__version__
    rows = {row["model"]: row["random_weights"] for row in csv.DictReader((run_dir / "results.csv").open())}
    assert rows == {"tiny-random": "true", "tiny-trained": "false"}
    table = (run_dir / "table.md").read_text()
    assert "Tiny A [random weights]" in table and "Random weights: Tiny A [random weights] served" in table
    assert "Tiny B [" not in table
    report = (run_dir / "report.html").read_text()
    assert "Tiny A [random weights]" in report and f"timm {timm.__version__}" in report


def test_the_study_plan_names_every_missing_dataset_at_once(tmp_path):
    with pytest.raises(DatasetError) as caught:
        run_plan(load_plan(ROOT / "deploy" / "plans" / "study.yaml"),
                 RunSettings(out_dir=tmp_path / "out", data_root=tmp_path, progress=False))
    message = str(caught.value)
    assert message.startswith("8 datasets cannot be used:")
    for name, folder in (("BrainMR", "brain-tumor-classification-mri"), ("BreastUS", "Dataset_BUSI_with_GT"),
                         ("ISIC2019", "ISIC2019"), ("PneumoniaMNIST", "pneumoniamnist")):
        assert f"dataset '{name}' (" in message and str(tmp_path / folder) in message
    assert f"--data-root {tmp_path}" in message


def test_a_one_class_dataset_is_named_with_its_class_and_what_to_add(tiny_server, tmp_path):
    (tmp_path / "one" / "benign").mkdir(parents=True)
    for i in range(6):
        (tmp_path / "one" / "benign" / f"{i}.png").write_bytes(encode(random_image(i)))
    plan = write_plan(tmp_path / "plan.yaml", tiny_server.target, [{"id": "raw-pixels", "group": "non-VLM"}],
                      [{"name": "mine", "kind": "imagefolder", "path": str(tmp_path / "one")}])
    completed = run_evaluate(str(plan), "--out", str(tmp_path / "out"))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        "medembed-evaluate: dataset 'mine' (imagefolder): a probe needs images of at least 2 classes, and all 6 "
        "are of class 'benign'; add images of another class (ImageFolder: one sub-folder per class)")


def brain_mr(root: Path, per_class: int = 6) -> Path:
    """The Kaggle Brain MR layout the `brainmr` kind reads: Training/<class>/*.jpg."""
    for label, name in enumerate(("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")):
        folder = root / "Training" / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            image = random_image(10 * label + index, size=40)
            image.paste(50 * label, (5, 5, 35, 35))
            (folder / f"{index}.jpg").write_bytes(encode(image, "JPEG"))
    return root


def test_compare_published_puts_the_studys_values_beside_a_plans_cells(tiny_server, tmp_path):
    brain_mr(tmp_path / "brain")
    busi_download(tmp_path / "busi", masks=True, per_class=6)
    plan = write_plan(tmp_path / "plan.yaml", tiny_server.target,
                      [{"id": "raw-pixels", "group": "non-VLM"}, {"id": "tiny-timm", "group": "non-VLM"},
                       {"id": "tiny-clip", "group": "non-medical"}],
                      [{"name": "BrainMR", "kind": "brainmr", "path": "brain"},
                       {"name": "BreastUS", "kind": "busi", "path": "busi"}],
                      compare={"table": "published", "models": {"tiny-timm": "ResNet50 ResNet50",
                                                                "tiny-clip": "FLAIR ResNet50"}})
    assert evaluate(["run", str(plan), "--out", str(tmp_path / "out"), "--run-id", "r", "--quiet",
                     "--data-root", str(tmp_path)]) == 0
    run_dir = tmp_path / "out" / "r"
    table = (run_dir / "table.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in table.split("## Datasets")[0].splitlines() if line.startswith("| tiny") or
            line.startswith("| raw")}
    document = json.loads((run_dir / "results.json").read_text())
    # both tiny models are served with random weights: an untrained network is not the study's trained
    # model, so their cells show no published value and no Δ, and a note says why
    assert set(rows) == {"raw-pixels", "tiny-timm [random weights]", "tiny-clip [random weights]"}  # no phantoms
    for row in rows.values():
        assert "pub." not in " ".join(row) and "Δ" not in " ".join(row)
    assert ("Not compared with the published table: tiny-timm [random weights], tiny-clip [random weights] "
            "(random weights") in table
    assert "tiny-timm as ResNet50 ResNet50" in table and "BreastUS: the published BreastUS columns" in table
    report = (run_dir / "report.html").read_text()
    assert "Not compared with the published table" in report and "BreastUS: the published BreastUS columns" in report
    breast = next(d for d in document["datasets"] if d["name"] == "BreastUS")
    assert breast["n"] == 18 and breast["majority_accuracy"]["mean"] == pytest.approx(1 / 3, abs=0.1)


def test_no_encoder_at_the_plans_target_is_named_with_how_to_start_one(tmp_path):
    target = f"127.0.0.1:{free_port()}"
    plan = write_plan(tmp_path / "plan.yaml", target, [{"id": "tiny-timm", "group": "non-VLM"}],
                      [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 10, "size": 48}}])
    completed = run_evaluate(str(plan), "--out", str(tmp_path / "out"), "--encoder-wait", "0")
    assert completed.returncode == 2
    assert (f"medembed-evaluate: no encoder answers at {target} (UNAVAILABLE) within --encoder-wait: is it running? "
            "Start it with `medembed-encoder serve --models ID,...`") in completed.stderr
