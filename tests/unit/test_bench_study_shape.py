"""The cost benchmarks' picture of the study stays complete as the plan and catalog change."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from study_shape import STAND_INS, STUDY_DATASETS, study_models, synthetic_features  # noqa: E402

from medembed_evaluator.plan.load import load_plan  # noqa: E402
from medembed_evaluator.probe import Protocol, validate_for_protocol  # noqa: E402


def test_every_study_model_has_a_dimension_and_a_tower_stand_in() -> None:
    models = study_models()
    assert len(models) == 20
    assert {m.dim for m in models} == {512, 768, 1024, 1280, 2048, 4096, 5120}
    assert {m.id for m in models if m.family != "raw-pixels"} == set(STAND_INS)


def test_the_study_datasets_are_the_plans_and_go_through_the_protocol() -> None:
    plan_names = [d.name for d in load_plan(Path(__file__).resolve().parents[2] / "deploy/plans/study.yaml").datasets]
    assert [d.name for d in STUDY_DATASETS] == plan_names
    for dataset in STUDY_DATASETS:
        for scaled in (dataset, dataset.scaled(0.05)):
            X, y = synthetic_features(scaled, 8)
            assert X.shape == (scaled.n, 8) and X.dtype == np.float32
            assert np.bincount(y).tolist() == list(scaled.class_counts)
            validate_for_protocol(y, [str(c) for c in range(len(scaled.class_counts))], Protocol())
    assert next(d for d in STUDY_DATASETS if d.name == "HiCervix").n == 22000
