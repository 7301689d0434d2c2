"""The plan's `analysis:` section: defaults, YAML's `off`, and problems named at load."""

from __future__ import annotations

import pytest
import yaml

from medembed_evaluator.errors import PlanError
from medembed_evaluator.plan.load import parse_plan
from medembed_evaluator.plan.schema import STUDY_MIN_DIST, STUDY_N_NEIGHBORS

BASE = """
models: [{id: raw-pixels, group: non-VLM, label: Raw}]
datasets: [{name: phantoms, kind: phantoms}]
"""


def plan_with(analysis_yaml: str):
    return parse_plan(yaml.safe_load(BASE + analysis_yaml))


def test_no_section_means_no_analysis_and_an_empty_one_the_defaults() -> None:
    assert plan_with("").analysis is None
    analysis = plan_with("analysis: {}").analysis
    assert (analysis.maps, analysis.separability, analysis.bias) == ("default", True, None)
    assert (analysis.n_neighbors, analysis.min_dist) == (STUDY_N_NEIGHBORS, STUDY_MIN_DIST)


def test_bare_off_and_a_bias_section() -> None:
    analysis = plan_with("analysis:\n  maps: off\n  bias: {max_images: 30, models: [Raw], position: [0.1, 0.2]}"
                         ).analysis
    assert analysis.maps == "off"
    assert (analysis.bias.max_images, analysis.bias.position) == (30, (0.1, 0.2))
    assert analysis.bias.applies_to("phantoms", "raw-pixels", "Raw")
    assert not analysis.bias.applies_to("phantoms", "other", "Other")


@pytest.mark.parametrize(("section", "message"), [
    ("analysis: {maps: all}", "analysis.maps must be one of default, grid, off"),
    ("analysis: {umap: 1}", r"analysis: unknown key\(s\) umap"),
    ("analysis: {n_neighbors: [1, 5]}", "analysis.n_neighbors"),
    ("analysis: {max_points: lots}", "analysis.max_points: expected an integer"),
    ("analysis: {bias: {datasets: [busi]}}", "analysis.bias.datasets: 'busi' is not a dataset of the plan"),
    ("analysis: {bias: {models: [clip]}}", "analysis.bias.models: 'clip'"),
    ("analysis: {bias: {neutral_words: [ONE]}}", "at least 2"),
    ("analysis: {bias: {position: [0.5]}}", "position"),
    ("analysis: {bias: {wordz: [A, B]}}", r"analysis.bias: unknown key\(s\) wordz"),
])
def test_problems_are_named(section, message) -> None:
    with pytest.raises(PlanError, match=message):
        plan_with(section)
