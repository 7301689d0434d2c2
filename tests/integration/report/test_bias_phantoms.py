"""The text-overlay bias test on phantoms through a real encoder: a word perfectly correlated with the
class is decodable, neutral uncorrelated text barely moves the embedding, and a rerun embeds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from medembed_evaluator.plan.load import parse_plan
from medembed_evaluator.plan.schema import Plan
from medembed_evaluator.runner import RunSettings, run_plan

MODELS = ("raw-pixels", "tiny-timm")


def bias_plan(target: str, **bias: object) -> Plan:
    return parse_plan({
        "name": "bias", "encoders": {"default": target},
        "models": [{"id": model, "group": "non-VLM"} for model in MODELS],
        "datasets": [{"name": "phantoms", "kind": "phantoms",
                      "options": {"n_per_class": 40, "size": 64, "overlay": False}}],
        "protocol": {"seed": 0, "folds": 5},
        "analysis": {"maps": "off", "separability": False, "bias": {"max_images": 60, **bias}},
    })


def neutral_effects(plan: Plan, out: Path) -> dict[str, object]:
    outcome = run_plan(plan, RunSettings(out_dir=out, data_root=out, progress=False), echo=lambda _: None)
    return {r.model_id: next(c for c in r.bias.conditions if c.condition == "neutral") for r in outcome.results}


@pytest.fixture(scope="module")
def correlated_big_text(tiny_server, tmp_path_factory):
    plan = bias_plan(tiny_server.target, neutral_correlation=1.0, size_frac=0.2, position=[0.05, 0.7], contrast=1.0)
    out = tmp_path_factory.mktemp("correlated")
    return plan, out, neutral_effects(plan, out)


def test_a_word_perfectly_correlated_with_the_class_is_decodable(correlated_big_text) -> None:
    _, _, effects = correlated_big_text
    for model in MODELS:
        effect = effects[model]
        assert effect.word_accuracy >= 0.9, model
        # the clean images carry the word only through the class: the text itself adds the rest
        assert effect.word_accuracy > effect.word_accuracy_clean + 0.15, model


def test_uncorrelated_neutral_text_barely_shifts_the_embedding(tiny_server, tmp_path, correlated_big_text) -> None:
    _, _, big = correlated_big_text
    effects = neutral_effects(bias_plan(tiny_server.target, neutral_correlation=0.0), tmp_path)
    for model in MODELS:
        small = effects[model]
        assert small.shift < 0.1, model
        # the metrics do respond to text that matters (a weak probe flips on small shifts too, so flips are relative)
        assert big[model].shift > 3 * small.shift and big[model].flip_rate > 2 * small.flip_rate, model


def test_a_rerun_reuses_every_stored_overlaid_embedding(tiny_server, correlated_big_text) -> None:
    plan, out, effects = correlated_big_text
    before = tiny_server.metric("medembed_forward_items_total", model="tiny-timm")
    again = neutral_effects(plan, out)
    assert tiny_server.metric("medembed_forward_items_total", model="tiny-timm") == before
    assert again["tiny-timm"] == effects["tiny-timm"]
