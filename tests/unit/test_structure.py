"""The import structure of the project's five packages, read by grimp from the source: each package
imports only the layers below it, and no import circle remains, neither between modules nor between
the sibling subpackages/modules of one package (`plan/` <-> `datasets/` counts). Every import is
counted: type-only (`if TYPE_CHECKING:`) and function-level ones included, since each one still ties
the two modules together for a reader and for the tools.

A failure lists each circle as an import chain with the line that makes each step.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from itertools import pairwise
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("medembed_proto", "medembed_decode", "medembed_client", "medembed_encoder", "medembed_evaluator")
MAY_IMPORT = {
    "medembed_proto": set(),  # the wire contract and the helpers every side shares
    "medembed_decode": set(),  # image and volume decoding rules
    "medembed_client": {"medembed_proto"},
    "medembed_encoder": {"medembed_proto", "medembed_decode"},  # never its own client, never the evaluator
    "medembed_evaluator": {"medembed_proto", "medembed_decode", "medembed_client"},  # never the server
}
Edges = Mapping[str, set[str]]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False, cache_dir=None)


@pytest.fixture(scope="module")
def imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """{module: the modules it imports directly}, over the five packages."""
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def test_the_graph_reads_this_checkout():
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None, f"{package} is not importable: run `make install`"
        assert Path(spec.origin).resolve().is_relative_to(ROOT), (
            f"{package} is imported from {spec.origin}, not from {ROOT}: put this checkout's libs/, clients/ and "
            f"services/ folders on PYTHONPATH (README, 'Running the tests')")


def test_each_package_imports_only_the_layers_below_it(graph, imports):
    upward = []
    for importer, imported_modules in sorted(imports.items()):
        for imported in sorted(imported_modules):
            source, target = _top(importer), _top(imported)
            if source != target and target not in MAY_IMPORT[source]:
                upward.append(f"{importer} imports {imported} ({_where(graph, importer, imported)}): "
                              f"{source} may import only {sorted(MAY_IMPORT[source]) or 'none of the others'}")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules(graph, imports):
    cycles = [_describe(graph, chain)
              for component in _cycles(imports) for chain in _covering_cycles(component, imports)]
    assert not cycles, f"{len(cycles)} module import circle(s):\n" + "\n".join(cycles)


def test_no_cycle_between_sibling_packages_or_modules(graph, imports):
    parents = [None, *sorted(module for module in graph.modules if graph.find_children(module))]
    cycles = []
    for parent in parents:
        children = set(PACKAGES) if parent is None else graph.find_children(parent)
        owner = _owner_among(children)
        between: dict[str, set[str]] = {child: set() for child in children}
        for importer, imported_modules in imports.items():
            source = owner(importer)
            for imported in imported_modules:
                target = owner(imported)
                if source is not None and target is not None and source != target:
                    between[source].add(target)
        for chain in (chain for component in _cycles(between) for chain in _covering_cycles(component, between)):
            steps = [f"{a} -> {b} ({_example(graph, imports, a, b)})" for a, b in pairwise(chain)]
            cycles.append(f"under {parent or 'the project'}: {' -> '.join(chain)}\n    " + "\n    ".join(steps))
    assert not cycles, f"{len(cycles)} circle(s) between siblings:\n" + "\n".join(cycles)


def test_the_circle_finder_names_every_node_of_each_circle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e", "b"}, "g": {"g", "a"}}
    assert _cycles(edges) == [{"a", "b", "c"}, {"e", "f"}]
    assert _covering_cycles({"a", "b", "c"}, edges) == [["a", "b", "c", "a"]]
    assert _covering_cycles({"e", "f"}, edges) == [["e", "f", "e"]]


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _owner_among(children: set[str]) -> Callable[[str], str | None]:
    """The child of `children` that `module` is or lies inside, None when outside them all."""
    def owner(module: str) -> str | None:
        parts = module.split(".")
        for depth in range(len(parts), 0, -1):
            if (prefix := ".".join(parts[:depth])) in children:
                return prefix
        return None
    return owner


def _cycles(edges: Edges) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return sorted(found, key=min)


def _covering_cycles(component: set[str], edges: Edges) -> list[list[str]]:
    """Shortest circles, as [a, b, ..., a], until every node of `component` lies on one of them."""
    chains: list[list[str]] = []
    for node in sorted(component):
        if not any(node in chain for chain in chains):
            chains.append(_shortest_cycle(node, component, edges))
    return chains


def _shortest_cycle(start: str, component: set[str], edges: Edges) -> list[str]:
    """A shortest circle from `start` back to it inside `component`, as [start, b, ..., start]."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(edges.get(node, set()) & component):
            if successor == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return [*reversed(chain), start]
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    raise AssertionError(f"no circle through {start} in {sorted(component)}")


def _describe(graph: grimp.ImportGraph, chain: list[str]) -> str:
    steps = [f"{a} -> {b} ({_where(graph, a, b)})" for a, b in pairwise(chain)]
    return " -> ".join(chain) + "\n    " + "\n    ".join(steps)


def _where(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    """`line N: <the import line>` of the first line where `importer` imports `imported`."""
    details = sorted(graph.get_import_details(importer=importer, imported=imported), key=lambda d: d["line_number"])
    if not details:
        return "no line recorded"
    return f"line {details[0]['line_number']}: {details[0]['line_contents']}"


def _example(graph: grimp.ImportGraph, imports: Edges, source: str, target: str) -> str:
    """One module import that makes `source` (a package or module) depend on `target`."""
    for importer in sorted(imports):
        if importer == source or importer.startswith(source + "."):
            for imported in sorted(imports[importer]):
                if imported == target or imported.startswith(target + "."):
                    return f"{importer} imports {imported}, {_where(graph, importer, imported)}"
    raise AssertionError(f"no import from {source} to {target}")
