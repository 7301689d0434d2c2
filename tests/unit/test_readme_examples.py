"""The README's own-plan and AsyncClient examples stay valid: the plan loads through the one
validation path (load_plan), the Python example compiles and calls what the client has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from medembed_client import AsyncClient, EmbedResult
from medembed_encoder.catalog import load_catalog
from medembed_evaluator.plan.load import load_plan

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _block(language: str, containing: str) -> str:
    (found,) = [b for b in re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL) if containing in b]
    return found


def test_the_own_plan_example_loads_with_an_imagefolder_and_two_catalog_models(tmp_path):
    text = _block("yaml", "kind: imagefolder")
    (tmp_path / "plan.yaml").write_text(text)
    plan = load_plan(tmp_path / "plan.yaml")
    (dataset,) = plan.datasets
    assert (dataset.name, dataset.kind, dataset.path) == ("busi", "imagefolder", "Dataset_BUSI_with_GT")
    assert len(plan.models) == 2 and {m.id for m in plan.models} <= set(load_catalog())
    assert yaml.safe_load(text)["name"] == plan.name


def test_the_async_client_example_uses_what_the_client_has():
    code = _block("python", "async with AsyncClient")
    tree = ast.parse(code)
    awaited = {node.value.func.attr for node in ast.walk(tree) if isinstance(node, ast.Await)
               and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)}
    assert awaited == {"embed"} and hasattr(AsyncClient, "embed") and hasattr(AsyncClient, "__aenter__")
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "result"}
    assert used <= set(EmbedResult.__dataclass_fields__)
    assert "cache_hits" in used
