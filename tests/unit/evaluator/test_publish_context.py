"""What the tables and the report show beside the scores: n, classes and the majority baseline per
dataset, random weights, every package version, and the study's published values with our Δ."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from medembed_evaluator.baseline import summarize_dataset
from medembed_evaluator.comparison import build_comparison, published_table
from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.errors import PlanError
from medembed_evaluator.pair_result import PairResult, RunExtras, RunInfo
from medembed_evaluator.plan.load import parse_plan
from medembed_evaluator.plan.schema import CompareSettings
from medembed_evaluator.probe import ProbeResult, Protocol, Score
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.publish import render_report, render_tables, write_run_files

TORCH_VERSIONS = {"python": "3.11.7", "torch": "2.14.1+cpu", "timm": "1.0.31", "pillow": "12.0.0"}


def dataset(name: str, counts: dict[str, int]) -> Dataset:
    samples = [Sample(f"{cls}/{i}", label, {}, lambda: b"") for label, (cls, n) in enumerate(counts.items())
               for i in range(n)]
    return Dataset(name, list(counts), samples)


def pair(model_id: str, dataset_name: str, accuracy: float, *, random_weights: bool = False,
         versions: dict[str, str] | None = None) -> PairResult:
    score = Score([accuracy - 0.01, accuracy + 0.01], [accuracy])
    probe = ProbeResult(protocol=Protocol(), class_names=["a", "b"], n_train=80, n_test=20, accuracy=score,
                        macro_f1=score, binary_f1=score)
    provenance = ModelProvenance(model_id=model_id, weights_digest="w", preprocess_digest="p",
                                 embedding_spec="default", random_weights=random_weights,
                                 library_versions=versions or {})
    return PairResult(model_id=model_id, model_label=model_id.upper(), group="non-VLM", dataset=dataset_name, n=100,
                      class_counts={"a": 70, "b": 30}, content_hash="c", provenance=provenance, probe=probe)


def run() -> RunInfo:
    return RunInfo("r", "p", "t0", "t1", Protocol())


def test_the_majority_baseline_is_what_always_guessing_the_big_class_scores_on_the_probes_folds():
    summary = summarize_dataset(dataset("busi-like", {"benign": 70, "malignant": 30}), "imagefolder", Protocol())
    assert (summary.n, summary.class_counts, summary.majority_class) == (100, {"benign": 70, "malignant": 30},
                                                                         "benign")
    assert len(summary.majority_accuracy.folds) == 5  # the protocol's 5 folds
    assert summary.majority_accuracy.mean == pytest.approx(0.7, abs=0.01)  # stratified folds keep 70 %
    # F1 of the majority class is 2p/(1+p) (precision p, recall 1); the other class scores 0
    assert summary.majority_macro_f1.mean == pytest.approx(2 * 0.7 / 1.7 / 2, abs=0.01)


def test_tables_and_report_show_n_class_counts_and_the_majority_baseline(tmp_path):
    summary = summarize_dataset(dataset("busi-like", {"benign": 70, "malignant": 30}), "imagefolder", Protocol())
    extras = RunExtras(datasets=[summary])
    text = render_tables([pair("m", "busi-like", 0.75)], ["busi-like"], extras=extras)
    row = next(line for line in text.split("## Datasets")[1].splitlines() if line.startswith("| busi-like"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["busi-like", "100", "2", "benign 70, malignant 30", "benign"]
    assert cells[5].startswith("70.0±")
    page = render_report(tmp_path, [pair("m", "busi-like", 0.75)], ["busi-like"], run(), extras=extras)
    assert "<h2>Datasets</h2>" in page and "benign 70, malignant 30" in page


def test_random_weights_are_a_json_boolean_a_csv_column_and_a_note(tmp_path):
    results = [pair("real", "d", 0.8), pair("control", "d", 0.5, random_weights=True)]
    files = write_run_files(tmp_path, results, ["d"], run())
    document = json.loads(files.json.read_text())
    assert [r["random_weights"] for r in document["results"]] == [False, True]
    assert document["results"][1]["provenance"]["random_weights"] is True
    assert [row["random_weights"] for row in csv.DictReader(files.csv.open())] == ["false", "true"]
    (note,) = [line for line in files.table.read_text().splitlines() if line.startswith("Random weights:")]
    assert "Random weights: CONTROL served without pretrained weights" in note and "REAL" not in note
    assert "Random weights: CONTROL" in render_report(tmp_path, results, ["d"], run())


def test_every_encoder_library_version_reaches_results_json_and_the_report(tmp_path):
    other = {**TORCH_VERSIONS, "timm": "1.0.32"}
    results = [pair("a", "d", 0.8, versions=TORCH_VERSIONS), pair("b", "d", 0.8, versions=TORCH_VERSIONS),
               pair("c", "d", 0.8, versions=other)]
    files = write_run_files(tmp_path, results, ["d"], run())
    versions = json.loads(files.json.read_text())["versions"]
    assert versions["encoders"] == {"a": TORCH_VERSIONS, "b": TORCH_VERSIONS, "c": other}
    assert versions["evaluator"]["scikit-learn"]
    page = render_report(tmp_path, results, ["d"], run())
    assert "<dt>Encoder for a, b</dt><dd>python 3.11.7, torch 2.14.1+cpu, timm 1.0.31, pillow 12.0.0</dd>" in page
    assert "<dt>Encoder for c</dt>" in page and "timm 1.0.32" in page
    assert "<dt>Evaluator</dt><dd>numpy " in page


def test_the_published_table_is_the_studys_own_numbers():
    table = published_table()
    assert len(table) == 272  # 17 models x 8 datasets x 2 metrics
    biomedclip = table[("BiomedCLIP B-16", "BrainMR", "accuracy")]
    assert (biomedclip.mean, biomedclip.std, biomedclip.mark) == (91.0, 0.2, "†")
    assert table[("FLAIR ResNet50", "BreastUS", "f1")].mean == 70.0 and table[("FLAIR ResNet50", "BreastUS",
                                                                                 "f1")].comparable
    assert not table[("CLIP B/16", "BreastUS", "accuracy")].comparable  # a copy of Brain MR in the source


def test_study_ids_and_kinds_map_to_published_rows_and_cells_show_the_published_value_and_delta():
    comparison = build_comparison(CompareSettings(),
                                  {"biomedclip": "BiomedCLIP", "flair": "FLAIR", "raw-pixels": "Raw"},
                                  {"Brain": "brainmr", "busi": "imagefolder", "phantoms": "phantoms"})
    assert comparison.rows == {"biomedclip": "BiomedCLIP B-16", "flair": "FLAIR ResNet50"}
    assert comparison.columns == {"Brain": "BrainMR", "busi": "BreastUS"}  # by kind, then by name
    results = [pair("biomedclip", "Brain", 0.873), pair("biomedclip", "busi", 0.8), pair("flair", "busi", 0.8),
               pair("raw-pixels", "Brain", 0.6)]
    text = render_tables(results, ["Brain", "busi"], extras=RunExtras(comparison=comparison))
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines()[3:] if line.startswith("| ") and "±" in line}
    # best of the column: bold; our 100 images against the study's 2,870 (published/README.md) are marked
    assert rows["BIOMEDCLIP"][0] == "**87.3±1.0%** (pub. 91±0.2†, Δ −3.7, n 100 vs 2,870)"
    assert rows["BIOMEDCLIP"][2] == "**80.0±1.0%** (pub. n/a‡)"
    assert rows["FLAIR"][2] == "**80.0±1.0%** (pub. 76±1.1, Δ +4.0)"
    assert rows["RAW-PIXELS"][0] == "60.0±1.0%"
    assert "BreastUS: the published BreastUS columns repeat Brain MR" in text
    assert "biomedclip as BiomedCLIP B-16" in text


def parse_compare(entry):
    """The `compare:` section as a plan loads it."""
    return parse_plan({"models": [{"id": "raw-pixels", "group": "non-VLM"}],
                       "datasets": [{"name": "p", "kind": "phantoms"}], "compare": entry}).compare


def test_a_plan_maps_its_own_names_and_bad_mappings_are_named():
    settings = parse_compare({"models": {"my-clip": "CLIP B/16"}, "datasets": {"mine": "ISIC2019"}})
    comparison = build_comparison(settings, {"my-clip": "Mine"}, {"mine": "csv"})
    assert comparison.cell("my-clip", "mine", "macro_f1") == published_table()[("CLIP B/16", "ISIC2019", "f1")]
    assert parse_compare("published") == CompareSettings()
    with pytest.raises(PlanError, match="compare.models.x: 'CLIP Z/9' is not a published row"):
        parse_compare({"models": {"x": "CLIP Z/9"}})
    with pytest.raises(PlanError, match="compare.datasets.y: 'BUSI' is not a published dataset"):
        parse_compare({"datasets": {"y": "BUSI"}})
    with pytest.raises(PlanError, match=r"compare: unknown key\(s\) tables .*tables: did you mean table\?"):
        parse_compare({"tables": "published"})


def test_results_csv_and_json_carry_the_published_values(tmp_path):
    comparison = build_comparison(CompareSettings(), {"resnet50": "ResNet50"}, {"x": "isic2019"})
    files = write_run_files(tmp_path, [pair("resnet50", "x", 0.5)], ["x"], run(),
                            extras=RunExtras(comparison=comparison))
    (row,) = csv.DictReader(files.csv.open())
    published = published_table()
    assert float(row["published_accuracy_pct"]) == published[("ResNet50 ResNet50", "ISIC2019", "accuracy")].mean
    assert float(row["published_macro_f1_pct"]) == published[("ResNet50 ResNet50", "ISIC2019", "f1")].mean
    document = json.loads(files.json.read_text())
    assert document["comparison"]["rows"] == {"resnet50": "ResNet50 ResNet50"}
    assert np.isclose(document["comparison"]["cells"][0]["published_mean_pct"],
                      published[("ResNet50 ResNet50", "ISIC2019", "accuracy")].mean)
