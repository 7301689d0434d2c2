"""Honest tables: a random-weights model is one marked row named alike in the table, its maps and the
separability table; the study's published values get a Δ only beside the same model with pretrained
weights, a differing n is said in the cell, and every – of the table is listed with why. And the
stages after embedding (probe fits, maps, separability) draw progress bars on stderr during a run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from medembed_evaluator.analysis.pair import PairData, analyse_pair
from medembed_evaluator.comparison import build_comparison
from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.feature_store import DatasetFeatures
from medembed_evaluator.features import ModelFeatures
from medembed_evaluator.pair_failure import PairFailure
from medembed_evaluator.pair_result import PairResult, RunExtras, RunInfo
from medembed_evaluator.pairs import evaluate_pair
from medembed_evaluator.plan.load import parse_plan
from medembed_evaluator.plan.schema import CompareSettings, ModelEntry
from medembed_evaluator.probe import ProbeInput, ProbeResult, Protocol, Score, run_probe, run_probe_set
from medembed_evaluator.progress import progress_enabled
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.publish import render_report, render_tables

PROVENANCE = ModelProvenance(model_id="resnet50", weights_digest="w", preprocess_digest="p", embedding_spec="default")


def two_blobs(n_per_class: int = 30, dim: int = 8) -> tuple[Dataset, DatasetFeatures]:
    """A two-class dataset and features that separate the classes (no item failed)."""
    rng = np.random.default_rng(0)
    samples = [Sample(f"{cls}/{i}", label, {}, lambda: b"") for label, cls in enumerate(("a", "b"))
               for i in range(n_per_class)]
    vectors = rng.normal(size=(2 * n_per_class, dim)).astype(np.float32)
    vectors[n_per_class:, 0] += 4.0
    return Dataset("phantoms", ["a", "b"], samples), DatasetFeatures(vectors, {}, 0)


def test_a_random_weights_model_is_one_marked_row_named_alike_in_table_maps_and_separability(tmp_path):
    plan = parse_plan({"models": [{"id": "resnet50", "group": "non-VLM", "label": "ResNet-50",
                                   "target": "127.0.0.1:1"}],
                       "datasets": [{"name": "phantoms", "kind": "phantoms"}],
                       "analysis": {"maps": "default", "max_points": 100}})
    dataset, features = two_blobs()
    features_of = ModelFeatures(plan.models[0], replace(PROVENANCE, random_weights=True), None, None, False)
    probe = run_probe(features.vectors, dataset.labels(), plan.protocol, dataset.class_names)
    result = evaluate_pair(features_of, dataset, features, plan, tmp_path, [probe])

    text = render_tables([result], ["phantoms"], models=plan.models, extras=RunExtras())
    benchmark = text.split("\n\n")[0]
    rows = [line.split("|")[1].strip() for line in benchmark.splitlines() if "ResNet" in line]
    assert rows == ["ResNet-50 [random weights]"]  # one row, marked; no empty "ResNet-50 – –" above it
    assert "Pairs without a result" not in text
    separability = text.split("## Separability")[1]
    assert [line.split("|")[1].strip() for line in separability.splitlines() if "ResNet" in line] == [
        "ResNet-50 [random weights]"]
    (figure,) = result.analysis.figures
    assert figure.caption.startswith("UMAP of ResNet-50 [random weights] features on phantoms")
    page = render_report(tmp_path, [result], ["phantoms"], _run(), models=plan.models)
    assert "ResNet-50 – –" not in page and "<h3>Pairs without a result" not in page


def test_a_plan_label_that_says_random_is_still_marked():
    model = ModelEntry(id="resnet50", group="non-VLM", label="ResNet-50 random init")
    assert replace(PROVENANCE, random_weights=True).row_label(model.label) == "ResNet-50 random init [random weights]"
    assert PROVENANCE.row_label(model.label) == "ResNet-50 random init"


def pair(model_id: str, dataset: str, accuracy: float, *, n: int = 399, random_weights: bool = False,
         label: str | None = None) -> PairResult:
    score = Score([accuracy - 0.01, accuracy + 0.01], [accuracy])
    probe = ProbeResult(protocol=Protocol(), class_names=["a", "b"], n_train=80, n_test=20, accuracy=score,
                        macro_f1=score, binary_f1=score)
    return PairResult(model_id=model_id, model_label=label or model_id, group="non-VLM", dataset=dataset, n=n,
                      class_counts={"a": 1, "b": 1}, content_hash="c",
                      provenance=replace(PROVENANCE, model_id=model_id, random_weights=random_weights),
                      probe=probe)


def benchmark_rows(text: str) -> dict[str, list[str]]:
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.split("\n\n")[0].splitlines()[3:] if "±" in line or "–" in line}


def test_published_delta_only_beside_pretrained_rows_and_a_differing_n_is_said():
    models = [ModelEntry(id="vgg16", group="non-VLM", label="VGG16"),
              ModelEntry(id="resnet50", group="non-VLM", label="ResNet50")]
    comparison = build_comparison(CompareSettings(), {"vgg16": "VGG16", "resnet50": "ResNet50"},
                                  {"BrainMR": "brainmr", "Pneu": "pneumoniamnist"})
    results = [pair("vgg16", "BrainMR", 0.561, random_weights=True, label="VGG16 [random weights]"),
               pair("vgg16", "Pneu", 0.7, n=4708, random_weights=True, label="VGG16 [random weights]"),
               pair("resnet50", "BrainMR", 0.8, n=399, label="ResNet50"),
               pair("resnet50", "Pneu", 0.9, n=4708, label="ResNet50")]
    text = render_tables(results, ["BrainMR", "Pneu"], models=models, extras=RunExtras(comparison=comparison))
    rows = benchmark_rows(text)
    assert set(rows) == {"VGG16 [random weights]", "ResNet50"}  # no empty "VGG16 – –" row
    # the study's trained VGG16 (83±1.1 on Brain MR) is not set against an untrained network
    assert rows["VGG16 [random weights]"][0] == "56.1±1.0%"
    assert "pub." not in " ".join(rows["VGG16 [random weights]"])
    assert "Not compared with the published table: VGG16 [random weights] (random weights" in text
    # ResNet50 Brain MR accuracy 85±0.9 in the study's table (published/study_table.csv), on its n = 2,870
    assert rows["ResNet50"][0] == "**80.0±1.0%** (pub. 85±0.9, Δ −5.0, n 399 vs 2,870)"
    # PneumoniaMNIST (97±0.3 published): the same n = 4,708 as the study's, no mark
    assert rows["ResNet50"][2] == "**90.0±1.0%** (pub. 97±0.3, Δ −7.0)"
    assert "PneumoniaMNIST: n = 4,708 is its train split" in text


def test_every_cell_without_a_result_is_listed_under_the_table_with_why():
    models = [ModelEntry(id="a", group="non-VLM", label="A"), ModelEntry(id="b", group="non-VLM", label="B"),
              ModelEntry(id="c", group="non-VLM", label="C")]
    failures = [PairFailure("a", "A", "d2", "every one of its 10 items failed (DECODE 10)"),
                PairFailure("c", "C [random weights]", "d1", "every one of its 10 items failed (DECODE 10)")]
    results = [pair("a", "d1", 0.8, label="A"), pair("b", "d1", 0.7, label="B")]
    text = render_tables(results, ["d1", "d2"], models=models, extras=RunExtras(failures=failures))
    listed = text.split("## Pairs without a result (– in the table)")[1].split("##")[0]
    assert "- A on d2: every one of its 10 items failed (DECODE 10)" in listed
    assert "- B on d2: no result in this run" in listed
    assert "A on d1" not in listed and "B on d1" not in listed
    # a random-weights model without any result: one row, named as its failure names it
    assert "- C [random weights] on d2: no result in this run" in listed
    assert set(benchmark_rows(text)) == {"A", "B", "C [random weights]"}


def test_probe_fits_and_analysis_draw_progress_on_stderr_when_a_run_asks(tmp_path, capsys):
    dataset, features = two_blobs()
    inputs = [ProbeInput(features.vectors, dataset.labels(), dataset.class_names)]
    protocol = Protocol(probes=("svm", "knn"))
    run_probe_set(inputs, protocol, jobs=1)
    assert capsys.readouterr().err == ""  # outside a run: quiet
    with progress_enabled(True):
        run_probe_set(inputs, protocol, jobs=1)
        fits = capsys.readouterr().err
        plan = parse_plan({"models": [{"id": "raw-pixels", "group": "non-VLM"}],
                           "datasets": [{"name": "phantoms", "kind": "phantoms"}], "analysis": {}})
        pair_data = PairData("Raw", "phantoms", features.vectors, dataset.labels(), dataset.class_names,
                             [{} for _ in dataset.samples])
        analyse_pair(pair_data, plan.analysis, protocol, tmp_path)
        analysis = capsys.readouterr().err
    # every fit of the protocol counted: (5 CV folds + the holdout) x 2 probes
    assert "probe fits (svm, knn; 1 worker(s))" in fits and "12/12" in fits
    assert "Raw x phantoms: analysis" in analysis and "UMAP map" in analysis
    assert "separability" in analysis and "kNN folds" in analysis and "5/5" in analysis


def _run() -> RunInfo:
    return RunInfo("r", "p", "t0", "t1", Protocol())
