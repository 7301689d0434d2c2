from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy
import pytest
import redis
import sklearn

from medembed_evaluator.errors import PublishError
from medembed_evaluator.pair_result import PairResult, RunInfo
from medembed_evaluator.plan.schema import ModelEntry
from medembed_evaluator.probe import ProbeResult, Protocol, Score
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.publish import (
    RESULTS_STREAM,
    publish_to_stream,
    render_table,
    write_run_files,
)


def _score(mean: float, spread: float = 0.0) -> Score:
    return Score(folds=[mean - spread, mean + spread], holdouts=[mean])


def _pair(label: str, group: str, dataset: str, accuracy: float, f1: float, *, binary: bool = False) -> PairResult:
    probe = ProbeResult(
        protocol=Protocol(folds=2),
        class_names=["a", "b"] if binary else ["a", "b", "c"],
        n_train=8,
        n_test=2,
        accuracy=_score(accuracy, 0.012),
        macro_f1=_score(f1, 0.005),
        binary_f1=_score(f1 + 0.01) if binary else None,
        fold_n_train=[4, 4],
    )
    return PairResult(
        model_id=label.lower(),
        model_label=label,
        group=group,
        dataset=dataset,
        n=10,
        class_counts={"a": 5, "b": 5},
        content_hash="c0ffee",
        provenance=ModelProvenance(model_id=label.lower(), weights_digest="w" + label, preprocess_digest="p",
                                   embedding_spec=""),
        probe=probe,
        n_failed=1,
        failed_keys=["a/broken.png"],
    )


RESULTS = [
    _pair("ResNet50", "non-VLM", "busi", 0.873, 0.85),
    _pair("BiomedCLIP", "medical", "busi", 0.80, 0.86),
    _pair("BiomedCLIP", "medical", "phantoms", 0.95, 0.949),
    _pair("CLIP", "non-medical", "busi", 0.8729, 0.70),
]


def _body_rows(table: str) -> list[list[str]]:
    lines = table.strip().splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[3:]]


def test_table_groups_in_study_order_with_header_rows() -> None:
    rows = _body_rows(render_table(RESULTS, ["busi", "phantoms"]))
    assert [row[0] for row in rows] == ["*medical*", "BiomedCLIP", "*non-medical*", "CLIP", "*non-VLM*", "ResNet50"]


def test_table_header_has_an_accuracy_and_f1_column_per_dataset() -> None:
    lines = render_table(RESULTS, ["busi", "phantoms"]).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["Model", "busi", "", "phantoms", ""]
    assert set(lines[1]) <= {"|", "-"}
    assert [c.strip() for c in lines[2].strip("|").split("|")] == ["", "Accuracy", "F1-score", "Accuracy", "F1-score"]


def test_cells_format_bold_best_and_missing() -> None:
    rows = {row[0]: row[1:] for row in _body_rows(render_table(RESULTS, ["busi", "phantoms"]))}
    # CLIP 87.29 and ResNet50 87.3 both display 87.3: both are best as shown.
    assert rows["ResNet50"] == ["**87.3±1.2%**", "85.0±0.5%", "–", "–"]
    assert rows["CLIP"] == ["**87.3±1.2%**", "70.0±0.5%", "–", "–"]
    assert rows["BiomedCLIP"] == ["80.0±1.2%", "**86.0±0.5%**", "**95.0±1.2%**", "**94.9±0.5%**"]


def test_models_without_results_still_get_a_row() -> None:
    models = [ModelEntry(id="uni", group="modality-specific", label="UNI", target="h:1")]
    rows = _body_rows(render_table(RESULTS[:1], ["busi"], models=models))
    assert rows == [
        ["*modality-specific*", "", ""],
        ["UNI", "–", "–"],
        ["*non-VLM*", "", ""],
        ["ResNet50", "**87.3±1.2%**", "**85.0±0.5%**"],
    ]


def _run() -> RunInfo:
    return RunInfo(
        run_id="run-1",
        plan_name="demo",
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:01:00Z",
        protocol=Protocol(repeats=2),
    )


def test_run_files_hold_every_number_and_the_provenance(tmp_path) -> None:
    results = [*RESULTS, _pair("Lite0", "non-VLM", "phantoms", 0.6, 0.55, binary=True)]
    files = write_run_files(tmp_path / "run", results, ["busi", "phantoms"], _run())
    table = files.table.read_text()
    assert table.startswith(render_table(results, ["busi", "phantoms"]))
    assert "Probe: the study's StandardScaler → LinearSVC (C = 100/n_train)" in table  # every number's probe

    rows = list(csv.DictReader(files.csv.open()))
    assert len(rows) == 5
    lite = rows[-1]
    assert float(lite["accuracy_mean"]) == pytest.approx(0.6)
    assert float(lite["accuracy_std"]) == pytest.approx(0.012)
    assert float(lite["holdout_binary_f1"]) == pytest.approx(0.56)
    assert [float(v) for v in lite["fold_accuracy"].split(";")] == pytest.approx([0.588, 0.612])
    assert (lite["n"], lite["n_failed"], lite["weights_digest"], lite["content_hash"]) == (
        "10",
        "1",
        "wLite0",
        "c0ffee",
    )
    assert rows[0]["binary_f1_mean"] == ""

    document = json.loads(files.json.read_text())
    assert document["run"]["run_id"] == "run-1"
    assert document["run"]["seeds"] == [0, 1]
    assert document["run"]["protocol"]["c_rule"] == "100/n_train"
    evaluator = document["versions"]["evaluator"]
    assert {"numpy", "scipy", "scikit-learn", "umap-learn", "pillow", "medembed-evaluator"} <= set(evaluator)
    assert (evaluator["numpy"], evaluator["scikit-learn"]) == (numpy.__version__, sklearn.__version__)
    assert document["versions"]["encoders"] == {}  # no encoder reported its libraries in these results
    first = document["results"][0]
    assert first["provenance"]["weights_digest"] == "wResNet50"
    assert first["failed_keys"] == ["a/broken.png"]
    assert first["probe"]["accuracy"]["folds"] == pytest.approx([0.861, 0.885])


def test_publish_to_stream_adds_one_entry_per_pair(redis_url) -> None:
    first = publish_to_stream(redis_url, RESULTS[0], run_id="run-1")
    second = publish_to_stream(redis_url, RESULTS[2], run_id="run-1")
    entries = redis.Redis.from_url(redis_url, decode_responses=True).xrange(RESULTS_STREAM)
    assert [entry_id for entry_id, _ in entries] == [first, second]
    fields = entries[1][1]
    assert (fields["run_id"], fields["model"], fields["dataset"]) == ("run-1", "biomedclip", "phantoms")
    assert json.loads(fields["json"])["probe"]["accuracy"]["mean"] == pytest.approx(0.95)


def test_publish_without_url_is_a_no_op_and_a_dead_server_raises() -> None:
    assert publish_to_stream(None, RESULTS[0], run_id="r") is None
    with pytest.raises(PublishError, match="127.0.0.1:1"):
        publish_to_stream("redis://127.0.0.1:1/0", RESULTS[0], run_id="r", timeout_s=0.5)


def _probe(name: str, accuracy: float, interval: tuple[float, float] | None) -> ProbeResult:
    score = Score(folds=[accuracy - 0.01, accuracy + 0.01], holdouts=[accuracy], interval=interval)
    return ProbeResult(protocol=Protocol(folds=2, probes=("svm", "logreg", "knn")), class_names=["a", "b", "c"],
                       n_train=8, n_test=20, accuracy=score, macro_f1=score, binary_f1=None, fold_n_train=[4, 4],
                       probe=name, balanced_accuracy=score, auroc=None if name == "knn" else score)


def _several(label: str, group: str, accuracies: tuple[float, float, float]) -> PairResult:
    svm, logreg, knn = (_probe(name, accuracy, (accuracy - 0.1, accuracy + 0.05))
                        for name, accuracy in zip(("svm", "logreg", "knn"), accuracies, strict=True))
    return replace(_pair(label, group, "busi", 0, 0), probe=svm, other_probes=(logreg, knn))


SEVERAL = [_several("Lite0", "non-VLM", (0.7, 0.8, 0.6)), _several("Raw", "non-VLM", (0.65, 0.5, 0.62))]


def test_several_probes_give_one_row_block_each_with_its_own_best() -> None:
    rows = _body_rows(render_table(SEVERAL, ["busi"]))
    assert [row[0] for row in rows] == [
        "**Probe: LinearSVC (the study's)**", "*non-VLM*", "Lite0", "Raw",
        "**Probe: LogReg (C by inner CV)**", "*non-VLM*", "Lite0", "Raw",
        "**Probe: kNN (k = 20, cosine)**", "*non-VLM*", "Lite0", "Raw",
    ]
    assert [rows[2][1], rows[3][1]] == ["**70.0±1.0%**", "65.0±1.0%"]
    assert [rows[6][1], rows[7][1]] == ["**80.0±1.0%**", "50.0±1.0%"]
    assert [rows[10][1], rows[11][1]] == ["60.0±1.0%", "**62.0±1.0%**"]


def test_every_number_of_several_probes_names_its_probe_in_csv_json_and_tables(tmp_path) -> None:
    files = write_run_files(tmp_path, SEVERAL, ["busi"], _run())
    rows = list(csv.DictReader(files.csv.open()))
    assert [(row["label"], row["probe"]) for row in rows] == [
        ("Lite0", "svm"), ("Lite0", "logreg"), ("Lite0", "knn"), ("Raw", "svm"), ("Raw", "logreg"), ("Raw", "knn")]
    knn = rows[2]
    assert float(knn["holdout_accuracy"]) == pytest.approx(0.6)
    assert (float(knn["holdout_accuracy_low"]), float(knn["holdout_accuracy_high"])) == pytest.approx((0.5, 0.65))
    assert knn["auroc_mean"] == knn["holdout_auroc"] == knn["holdout_auroc_low"] == ""
    assert "k = 20, cosine distance on L2-normalised rows" in knn["probe_description"]
    document = json.loads(files.json.read_text())
    assert [p["probe"] for p in document["results"][0]["probes"]] == ["svm", "logreg", "knn"]
    assert document["results"][0]["probes"][1]["accuracy"]["holdout_interval"] == pytest.approx([0.7, 0.85])
    table = files.table.read_text()
    assert "Probes, one row block each: **LinearSVC (the study's)**: the study's StandardScaler → LinearSVC" in table
    holdout = table.split("## Holdout scores with 95 % bootstrap intervals")[1]
    assert "| Lite0 | busi    | kNN (k = 20, cosine)    | 20     | 60.0% [50.0, 65.0] |" in holdout
