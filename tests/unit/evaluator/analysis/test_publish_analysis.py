"""Separability and bias results in table.md, results.csv, bias.csv, results.json and report.html."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import pytest
from PIL import Image

from medembed_evaluator.analysis.bias import ConditionEffect, OverlayBias
from medembed_evaluator.analysis.figures import FigureFile
from medembed_evaluator.analysis.pair import PairAnalysis
from medembed_evaluator.analysis.separability import Separability
from medembed_evaluator.pair_result import PairResult, RunInfo
from medembed_evaluator.plan.schema import BiasSettings
from medembed_evaluator.probe import ProbeResult, Protocol, Score
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.publish import render_report, render_table, render_tables, write_run_files
from medembed_evaluator.publish.tabular import Cell, Table, to_html

MAP = FigureFile("figures/A__phantoms__map.png", "UMAP of A <by class>")
EXAMPLE = FigureFile("figures/phantoms__overlay-examples.png", "Overlays")


def separability(silhouette: float, davies_bouldin: float, trust: float | None) -> Separability:
    return Separability(silhouette=silhouette, davies_bouldin=davies_bouldin, knn_folds=[0.8, 0.9], kmeans_nmi=0.5,
                        kmeans_ari=0.4, trustworthiness=trust, silhouette_points=90)


def bias() -> OverlayBias:
    effect = ConditionEffect(condition="true-class", description="own name", shift=0.25, flip_rate=0.1,
                             accuracy_clean=0.8, accuracy_overlaid=0.7, word_accuracy=None, word_accuracy_clean=None,
                             word_chance=0.34)
    return OverlayBias(n_images=60, settings=BiasSettings(), within_class_distance=0.4, example=EXAMPLE,
                       conditions=[effect])


def result(label: str, analysis: PairAnalysis | None, overlay: OverlayBias | None = None) -> PairResult:
    score = Score([0.8, 0.9], [0.85])
    probe = ProbeResult(protocol=Protocol(folds=2), class_names=["a", "b", "c"], n_train=72, n_test=18,
                        accuracy=score, macro_f1=score, binary_f1=None)
    return PairResult(model_id=label.lower(), model_label=label, group="non-VLM", dataset="phantoms", n=90,
                      class_counts={"a": 30, "b": 30, "c": 30}, content_hash="c0ffee", probe=probe,
                      provenance=ModelProvenance(label.lower(), weights_digest="", preprocess_digest="",
                                                 embedding_spec=""),
                      analysis=analysis, bias=overlay)


@pytest.fixture
def results() -> list[PairResult]:
    return [
        result("A", PairAnalysis(separability(0.30, 1.5, 0.91), [MAP], ["a note"]), bias()),
        result("B", PairAnalysis(separability(0.10, 0.9, None))),
    ]


def test_tables_md_adds_separability_with_the_best_per_column_bold(results) -> None:
    text = render_tables(results, ["phantoms"])
    assert text.startswith(render_table(results, ["phantoms"]))
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[3:-1]]
            for line in text.split("## Separability")[1].split("## Text-overlay bias")[0].splitlines()
            if line.startswith("| A ") or line.startswith("| B ")}
    assert rows["A"] == ["**0.300**", "1.500", "**85.0±5.0%**", "**0.500**", "**0.400**", "**0.910**"]
    assert rows["B"] == ["0.100", "**0.900**", "**85.0±5.0%**", "**0.500**", "**0.400**", "–"]
    bias_row = next(line for line in text.split("## Text-overlay bias")[1].splitlines() if line.startswith("| A "))
    assert [c.strip() for c in bias_row.split("|")[3:-1]] == [
        "true-class", "60", "0.25", "10.0%", "80.0% → 70.0%, drop 10.0", "–", "–", "34.0%"]


def test_bias_cells_carry_their_intervals_and_a_small_shift_keeps_its_digits() -> None:
    effect = ConditionEffect(condition="neutral", description="word", shift=0.00421, flip_rate=0.15,
                             accuracy_clean=0.6, accuracy_overlaid=0.55, word_accuracy=0.4, word_accuracy_clean=0.3,
                             word_chance=0.34, intervals={"shift": (0.0031, 0.0055), "flip_rate": (0.0667, 0.25),
                                                          "accuracy_drop": (-0.0333, 0.133)},
                             word_accuracy_std=0.05)
    overlay = OverlayBias(n_images=60, settings=BiasSettings(), within_class_distance=0.4, example=EXAMPLE,
                          conditions=[effect])
    text = render_tables([result("A", None, overlay)], ["phantoms"])
    row = next(line for line in text.split("## Text-overlay bias")[1].splitlines() if line.startswith("| A "))
    assert [c.strip() for c in row.split("|")[5:-1]] == [
        "0.00421 [0.0031, 0.0055]", "15.0% [6.7, 25.0]", "60.0% → 55.0%, drop 5.0 [-3.3, 13.3]", "40.0±5.0%",
        "30.0%", "34.0%"]
    assert "0.00 " not in text and "A small shift can still flip many predictions" in text


def test_no_analysis_keeps_table_md_as_the_benchmark_table(results) -> None:
    plain = [result("C", None)]
    tables = render_tables(plain, ["phantoms"])
    assert tables.startswith(render_table(plain, ["phantoms"]))
    assert "## Separability" not in tables and "## Text-overlay bias" not in tables


def test_csvs_and_json_carry_the_new_numbers(results, tmp_path) -> None:
    run = RunInfo("r", "p", "t0", "t1", Protocol())
    files = write_run_files(tmp_path, results, ["phantoms"], run)
    rows = list(csv.DictReader(files.csv.open()))
    assert float(rows[0]["silhouette_cosine"]) == pytest.approx(0.3)
    assert float(rows[0]["knn_accuracy_mean"]) == pytest.approx(0.85)
    assert (rows[0]["trustworthiness"], rows[1]["trustworthiness"]) == ("0.91", "")
    (bias_row,) = list(csv.DictReader(files.bias_csv.open()))
    assert (bias_row["model"], bias_row["condition"], bias_row["word_accuracy"]) == ("a", "true-class", "")
    assert float(bias_row["accuracy_drop"]) == pytest.approx(0.1)
    document = json.loads(files.json.read_text())
    assert document["results"][0]["analysis"]["separability"]["knn_accuracy"]["k"] == 20
    assert document["results"][0]["bias"]["conditions"][0]["shift"] == 0.25
    assert document["results"][1]["bias"] is None


def test_html_table_spans_a_dataset_over_its_metric_columns() -> None:
    table = Table(header=["Model", "busi", ""], subheader=["", "Accuracy", "F1"],
                  rows=[[Cell("x", italic=True), Cell("<1>", bold=True), Cell("")]])
    html = to_html(table)
    assert '<th>Model</th><th colspan="2">busi</th>' in html
    assert "<th></th><th>Accuracy</th><th>F1</th>" in html
    assert "<td><em>x</em></td><td><strong>&lt;1&gt;</strong></td>" in html


def test_report_inlines_every_figure_once_and_escapes_captions(results, tmp_path) -> None:
    for figure in (MAP, EXAMPLE):
        path = tmp_path / figure.path
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 4), "red").save(path)
    page = render_report(tmp_path, results, ["phantoms"], RunInfo("r<1>", "p", "t0", "t1", Protocol()))
    sources = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(sources) == 2
    with Image.open(io.BytesIO(base64.b64decode(sources[0]))) as image:
        assert image.size == (8, 4)
    assert "UMAP of A &lt;by class&gt;" in page and "r&lt;1&gt;" in page
    assert "<h2>Separability</h2>" in page and "<h2>Text-overlay bias</h2>" in page
    assert "A on phantoms: a note" in page
    assert "http" not in page.replace('name="viewport"', "")  # nothing to fetch
