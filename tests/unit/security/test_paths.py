"""Paths built from plan names, run ids and model ids stay inside their root."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from PIL import Image

from medembed_evaluator.datasets import load_dataset
from medembed_evaluator.errors import DatasetError, PlanError
from medembed_evaluator.feature_store import FeatureStore
from medembed_evaluator.paths import UnsafePathError, check_name, inside, path_component
from medembed_evaluator.plan.load import parse_plan
from medembed_evaluator.plan.schema import DatasetEntry
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.runner import RunSettings, run_plan


def plan_document(**extra: object) -> dict:
    return {"name": "ok", "models": [{"id": "raw-pixels", "group": "non-VLM"}],
            "datasets": [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 12, "size": 32}}],
            "protocol": {"folds": 2}, **extra}


@pytest.mark.parametrize("name", ["x/../../escaped", "../up", "/abs", "a/b", "..", ".hidden", "", "a b", "x" * 200])
def test_plan_names_that_are_not_plain_names_are_refused_naming_the_field(name):
    with pytest.raises(PlanError, match=r"^name: .*not a plain name|^name: missing"):
        parse_plan(plan_document(name=name))


@pytest.mark.parametrize("name", ["study", "small-v2", "bench_2026.1", "A1"])
def test_plain_names_pass(name):
    assert parse_plan(plan_document(name=name)).name == name


def test_a_run_id_that_climbs_out_is_refused_before_any_work(tmp_path):
    plan = parse_plan(plan_document())
    with pytest.raises(PlanError, match=r"^--run-id: "):
        run_plan(plan, RunSettings(out_dir=tmp_path / "out", data_root=tmp_path, run_id="../../elsewhere",
                                   progress=False), echo=lambda line: None)
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "out").exists()


def test_the_run_folder_is_inside_out(tmp_path):
    outcome = run_plan(parse_plan(plan_document()), RunSettings(out_dir=tmp_path / "out", data_root=tmp_path,
                                                                 progress=False), echo=lambda line: None)
    assert (tmp_path / "out").resolve() in outcome.run_dir.resolve().parents
    assert {p.name for p in outcome.run_dir.iterdir()} >= {"table.md", "results.csv", "results.json"}


@pytest.mark.parametrize("path", ["../outside", "a/../../b", "..\\win"])
def test_dataset_paths_that_climb_out_of_the_data_root_are_refused(path):
    document = plan_document(datasets=[{"name": "d", "kind": "imagefolder", "path": path}])
    with pytest.raises(PlanError, match=r"datasets\[0\] \(d\)\.path: .*climbs out of the data root"):
        parse_plan(document)


def test_a_dataset_name_used_as_its_path_cannot_climb_out():
    with pytest.raises(PlanError, match=r"\.name \(the default path\)"):
        parse_plan(plan_document(datasets=[{"name": "../../etc", "kind": "imagefolder"}]))


def test_absolute_dataset_paths_stay_allowed(tmp_path):
    document = plan_document(datasets=[{"name": "d", "kind": "imagefolder", "path": str(tmp_path)}])
    assert parse_plan(document).datasets[0].path == str(tmp_path)


@pytest.mark.parametrize("model_id", ["org/model", "../../evil", "..", "a\\b", "x" * 300, "ok-model_1.0"])
def test_feature_folders_of_any_model_id_stay_in_the_store(tmp_path, model_id):
    store = FeatureStore(tmp_path / "features")
    provenance = ModelProvenance(model_id=model_id, weights_digest="w", preprocess_digest="p", embedding_spec="s")
    directory = store.pair_dir(provenance, "d" * 40)
    assert (tmp_path / "features").resolve() in directory.resolve().parents
    assert directory.parent.parent == tmp_path / "features"  # one component for the model


def test_path_components_keep_safe_ids_and_never_collide():
    assert path_component("efficientnet-lite0-imagenet") == "efficientnet-lite0-imagenet"
    assert path_component("a/b") != path_component("a_b") and path_component("a/b") != path_component("a:b")
    assert "/" not in path_component("a/b") and ".." not in path_component("../..")


def test_inside_and_check_name(tmp_path):
    assert inside(tmp_path, tmp_path / "a" / "b", "x") == tmp_path / "a" / "b"
    with pytest.raises(UnsafePathError, match="report: .* is outside"):
        inside(tmp_path / "root", tmp_path / "root" / ".." / "other", "report")
    assert check_name("fine", "f") == "fine"


def test_the_evaluator_cli_names_the_field(tmp_path, capsys):
    from medembed_evaluator.cli import main

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(plan_document(name="x/../../escaped")))
    assert main(["run", str(plan), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "name: 'x/../../escaped' is not a plain name" in capsys.readouterr().err
    assert not Path(tmp_path / "escaped").exists()


def csv_dataset(tmp_path: Path, rows: str, **options: object):
    root = tmp_path / "data" / "manifest"
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 7).save(root / "imgs" / "a.png")
    (root / "manifest.csv").write_text(f"path,label\nimgs/a.png,x\n{rows}")
    return load_dataset(DatasetEntry(name="c", kind="csv", path="manifest", options=options), tmp_path / "data")


@pytest.mark.parametrize("row", ["../../../../etc/hostname", "/etc/passwd", "imgs/../../outside.png",
                                 "..\\..\\outside.png"])
def test_csv_rows_outside_the_dataset_folder_fail_the_load_naming_the_row(tmp_path, row):
    (tmp_path / "data" / "outside.png").parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 1).save(tmp_path / "data" / "outside.png")
    with pytest.raises(DatasetError, match=r"manifest\.csv line 3: path .* is outside the dataset folder"):
        csv_dataset(tmp_path, f"{row},x\n")


def test_a_manifest_file_option_outside_the_dataset_folder_fails(tmp_path):
    (tmp_path / "outside.csv").write_text("path,label\n/etc/passwd,x\n")
    with pytest.raises(DatasetError, match=r"option file '\.\./\.\./outside\.csv'.* is outside the dataset folder"):
        csv_dataset(tmp_path, "", file="../../outside.csv")


def test_rows_that_stay_inside_and_links_the_user_placed_are_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("L", (8, 8), 3).save(elsewhere / "linked.png")
    root = tmp_path / "data" / "manifest"
    root.mkdir(parents=True)
    (root / "shared").symlink_to(elsewhere, target_is_directory=True)
    dataset = csv_dataset(tmp_path, "imgs/./../imgs/a.png,x\nshared/linked.png,x\n")
    assert len(dataset.samples) == 3
