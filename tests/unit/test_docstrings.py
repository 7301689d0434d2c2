"""Every public door of the three packages says what it does: each module, public class, public
function and public method of medembed_encoder, medembed_client and medembed_evaluator (and the
shared medembed_proto / medembed_decode) has a docstring. Read from the source with `ast`, so no
optional family library needs to be importable."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "services/encoder/medembed_encoder", ROOT / "clients/python/medembed_client",
            ROOT / "services/evaluator/medembed_evaluator", ROOT / "libs/proto/medembed_proto",
            ROOT / "libs/decode/medembed_decode"]
GENERATED = ROOT / "libs/proto/medembed_proto/v1"  # protoc's output


def public(name: str) -> bool:
    return not name.startswith("_")


def undocumented(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT)
    if ast.get_docstring(tree) is None and path.stat().st_size > 0:
        yield f"{where}: module"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and public(node.name):
            if ast.get_docstring(node) is None:
                yield f"{where}: {node.name}"
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    if (isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(member.name)
                            and ast.get_docstring(member) is None and not overrides_setter(member)):
                        yield f"{where}: {node.name}.{member.name}"


def overrides_setter(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A property's setter shares the getter's docstring."""
    return any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in function.decorator_list)


def test_every_public_module_class_and_function_has_a_docstring():
    missing = [entry for package in PACKAGES for path in sorted(package.rglob("*.py"))
               if GENERATED not in path.parents for entry in undocumented(path)]
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)
