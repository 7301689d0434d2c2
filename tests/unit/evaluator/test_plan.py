from __future__ import annotations

import textwrap

import pytest

from medembed_evaluator.errors import PlanError
from medembed_evaluator.plan.load import load_plan
from medembed_evaluator.plan.schema import DatasetEntry
from medembed_evaluator.probe import Protocol

PLAN = """
name: demo
encoders:
  default: localhost:50051
  gpu: encoder-gpu:50052
models:
  - id: raw-pixels
    group: non-VLM
  - id: efficientnet-lite0-imagenet
    group: non-VLM
    label: EfficientNet-Lite0
  - id: biomedclip
    target: gpu
    group: medical
    spec: projected
  - id: clip-b16
    target: 10.0.0.5:6000
    group: non-medical
datasets:
  - name: phantoms
    kind: phantoms
    options: {n_per_class: 60}
  - name: busi
    kind: imagefolder
    path: busi
protocol: {seed: 3, folds: 4, c_rule: 1.0}
output: {stream: true}
"""


def _write(tmp_path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _plan_with(tmp_path, old: str, new: str):
    assert old in PLAN
    return _write(tmp_path, PLAN.replace(old, new))


def test_valid_plan_is_parsed_with_defaults_and_resolved_targets(tmp_path) -> None:
    plan = load_plan(_write(tmp_path, PLAN))
    assert plan.name == "demo"
    raw, lite, biomed, clip = plan.models
    assert (raw.id, raw.target, raw.label) == ("raw-pixels", None, "raw-pixels")
    assert (lite.target, lite.label, lite.spec) == ("localhost:50051", "EfficientNet-Lite0", "")
    assert (biomed.target, biomed.spec, biomed.group) == ("encoder-gpu:50052", "projected", "medical")
    assert clip.target == "10.0.0.5:6000"
    assert plan.datasets[0] == DatasetEntry(name="phantoms", kind="phantoms", options={"n_per_class": 60})
    assert plan.datasets[1].path == "busi"
    assert plan.protocol == Protocol(seed=3, folds=4, c_rule="1.0")
    assert plan.output.stream is True and plan.output.redis_url is None


def test_protocol_lists_probes_and_their_settings(tmp_path) -> None:
    written = "{probes: [svm, logreg, knn], bootstrap: 50, logreg: {c_grid: [0.1, 1]}, knn: {k: 11}}"
    plan = load_plan(_plan_with(tmp_path, "{seed: 3, folds: 4, c_rule: 1.0}", written))
    assert plan.protocol.probes == ("svm", "logreg", "knn") and plan.protocol.bootstrap == 50
    assert plan.protocol.logreg.c_grid == (0.1, 1.0) and plan.protocol.logreg.inner_folds == 5
    assert (plan.protocol.knn.k, plan.protocol.knn.metric) == (11, "cosine")
    one = load_plan(_plan_with(tmp_path, "{seed: 3, folds: 4, c_rule: 1.0}", "{probes: knn}"))
    assert one.protocol.probes == ("knn",)
    assert load_plan(_write(tmp_path, PLAN)).protocol.probes == ("svm",)  # the study's alone by default


def test_extra_datasets_are_appended(tmp_path) -> None:
    extra = [{"name": "more", "kind": "busi", "path": "BUSI"},
             DatasetEntry(name="mnist", kind="medmnist", path="x.npz")]
    plan = load_plan(_write(tmp_path, PLAN), extra_datasets=extra)
    assert [d.name for d in plan.datasets] == ["phantoms", "busi", "more", "mnist"]
    with pytest.raises(PlanError, match="duplicate dataset name 'busi'"):
        load_plan(_write(tmp_path, PLAN), extra_datasets=[{"name": "busi", "kind": "busi"}])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("output: {stream: true}", "outputs: {stream: true}", r"unknown key\(s\) outputs"),
        (
            "    label: EfficientNet-Lite0",
            "    lable: EfficientNet-Lite0",
            r"models\[1\] \(efficientnet-lite0-imagenet\): unknown key\(s\) lable",
        ),
        ("    group: medical", "    group: medicine", "group: 'medicine' is not one of medical, modality-specific"),
        ("    kind: imagefolder", "    kind: folders",
         r"datasets\[1\] \(busi\)\.kind: unknown dataset kind 'folders'"),
        ("{n_per_class: 60}", "{n_per_klass: 60}",
         r"datasets\[0\] \(phantoms\)\.options: unknown key\(s\) n_per_klass .*did you mean n_per_class\?"),
        ("{n_per_class: 60}", "{n_per_class: lots}",
         r"datasets\[0\] \(phantoms\)\.options\.n_per_class: expected an integer"),
        ("{n_per_class: 60}", "{n_per_class: 0}",
         r"datasets\[0\] \(phantoms\)\.options\.n_per_class must be at least 1"),
        ("  - name: busi\n", "  - name: phantoms\n", "duplicate dataset name 'phantoms'"),
        ("    label: EfficientNet-Lite0\n", "    label: raw-pixels\n", "duplicate model label 'raw-pixels'"),
        ("    target: gpu", "    target: cpu", "target: 'cpu' is neither a key of encoders"),
        ("  gpu: encoder-gpu:50052", "  gpu: encoder-gpu", "encoders.gpu: 'encoder-gpu' is not HOST:PORT"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{seed: 3, fold: 4}", r"protocol: unknown key\(s\) fold"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{folds: 1}", "protocol.folds must be at least 2"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{folds: 2.5}", "protocol.folds: expected an integer"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{probes: [svm, ridge]}",
         r"protocol.probes: unknown probe\(s\) ridge \(known: svm, logreg, knn\)"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{probe: knn}",
         r"protocol: unknown key\(s\) probe .*did you mean probes\?"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{logreg: {c_grid: [0.1, -1]}}",
         r"protocol.logreg.c_grid must be positive numbers"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{knn: {metric: manhattan}}",
         "protocol.knn.metric must be one of cosine, euclidean"),
        ("{seed: 3, folds: 4, c_rule: 1.0}", "{bootstrap: -5}", "protocol.bootstrap must be 0"),
        ("output: {stream: true}", "output: {stream: maybe}", "output.stream: expected true or false"),
        (
            "  - id: raw-pixels\n    group: non-VLM\n",
            "  - id: raw-pixels\n    group: non-VLM\n    target: default\n",
            "raw-pixels .* takes no target",
        ),
        ("    kind: phantoms\n", "    kind: phantoms\n    path: somewhere\n",
         r"datasets\[0\] \(phantoms\)\.path: kind 'phantoms' is generated and takes no path"),
        ("  - id: clip-b16\n", "  - group: medical\n", r"models\[3\].id: missing"),
        ("  - id: clip-b16\n", "  - ids: clip-b16\n",
         r"models\[3\]: unknown key\(s\) ids \(known: group, id, label, spec, target\); ids: did you mean id\?"),
        ("  - name: busi\n", "  - nmae: busi\n", r"datasets\[1\]: unknown key\(s\) nmae .*nmae: did you mean name\?"),
        ("output: {stream: true}", "compare: publish", "compare: 'publish' is not a table to compare with"),
    ],
)
def test_invalid_plans_name_the_problem(tmp_path, old, new, message) -> None:
    with pytest.raises(PlanError, match=message):
        load_plan(_plan_with(tmp_path, old, new))


def test_unreadable_and_malformed_files(tmp_path) -> None:
    with pytest.raises(PlanError, match="cannot read plan .*absent.yaml"):
        load_plan(tmp_path / "absent.yaml")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan(_write(tmp_path, "models: [unclosed"))
    with pytest.raises(PlanError, match="the plan lists no models"):
        load_plan(_write(tmp_path, "datasets: [{name: p, kind: phantoms}]"))
    with pytest.raises(PlanError, match="the plan: expected a mapping"):
        load_plan(_write(tmp_path, "- just a list"))


def test_compare_published_is_a_plan_option(tmp_path) -> None:
    plan = load_plan(_plan_with(tmp_path, "output: {stream: true}", "compare: published"))
    assert plan.compare is not None and plan.compare.table == "published"
    assert load_plan(_write(tmp_path, PLAN)).compare is None
