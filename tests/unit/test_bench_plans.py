"""`make bench` and `make bench-full`: the plans load, and the local encoder serves exactly their models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from medembed_encoder.catalog import load_catalog
from medembed_evaluator.plan.load import load_plan

ROOT = Path(__file__).resolve().parents[2]
PLANS = ROOT / "deploy" / "plans"


def _bench_script():
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_compares_the_imagenet_encoder_with_the_same_network_untrained():
    served = _bench_script().served_models(PLANS / "bench.yaml")
    assert served == "efficientnet-lite0-random,efficientnet-lite0-imagenet"
    catalog = load_catalog()
    assert catalog["efficientnet-lite0-random"].weights.is_random
    assert [m.id for m in load_plan(PLANS / "bench.yaml").models][0] == "raw-pixels"


def test_the_full_plan_adds_the_expensive_controls():
    served = _bench_script().served_models(PLANS / "bench-full.yaml").split(",")
    assert served == ["efficientnet-lite0-random", "efficientnet-lite0-imagenet", "vit-b-16-random"]
    assert set(served) <= set(load_catalog())
