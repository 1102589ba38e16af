"""The package's architecture as a test: layers import only downwards, no import circles,
Hydra only at the edges, and no module or class past the size a reader can hold.

Layers, lowest first (CONTRIBUTING.md says what goes where):

0. basics: `units`, `errors`, `streams`
1. `fabric/`: topology graphs, routing, flows, collectives, the step model
2. `reliability/`: failures, the cluster and its sources, policies, the job, the ledger,
   the Scenario
3. `config/`: Hydra schemas and validation into pure specs
4. `elaborate`: specs -> the Scenario the model runs (graphs, domains, step profile)
5. `experiments/`: runner, results on disk, statistics, decisions, figures, report, bench
6. entry points: `__init__`, `__main__`, `api`, and the `python -m simulator.<x>` commands

Every import counts, also those inside functions and under TYPE_CHECKING: a lazy import
still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"
BASICS = {"simulator.units", "simulator.errors", "simulator.streams"}
SUBPACKAGES = {"fabric": 1, "reliability": 2, "config": 3, "experiments": 5}
ELABORATION = {"simulator.elaborate"}
#: modules that may import Hydra or OmegaConf: configuration, the sweep callback and the
#: entry points
HYDRA_ALLOWED_PREFIXES = ("simulator.config.", "simulator.experiments.results")
MAX_MODULE_LINES = 420
MAX_CLASS_LINES = 210


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> int:
    if name in BASICS:
        return 0
    if name in ELABORATION:
        return 4
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in SUBPACKAGES:
        return SUBPACKAGES[parts[1]]
    return 6  # the package itself and its top-level entry points


def imports_of(name: str) -> set[str]:
    """The simulator modules `name` imports (anywhere in the file)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from simulator.fabric import topology` imports a module, not a name
            targets = [f"{node.module}.{a.name}" for a in node.names
                       if f"{node.module}.{a.name}" in MODULES] or [node.module]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def all_imports(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


GRAPH = nx.DiGraph([(m, t) for m in MODULES for t in imports_of(m)])
GRAPH.add_nodes_from(MODULES)


def test_layers_import_only_downwards():
    upward = sorted(f"{m} (layer {layer(m)}) -> {t} (layer {layer(t)})"
                    for m, t in GRAPH.edges
                    if layer(t) > layer(m))
    assert upward == []


def test_no_import_circles():
    # a package's __init__ importing its own modules is not a circle of the design
    graph = GRAPH.copy()
    graph.remove_node("simulator")
    circles = sorted(sorted(c) for c in nx.simple_cycles(graph))
    assert circles == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_hydra_only_at_the_edges(name):
    uses_hydra = any(m.split(".")[0] in {"hydra", "omegaconf"} for m in all_imports(name))
    edge = layer(name) == 6 or name.startswith(HYDRA_ALLOWED_PREFIXES)
    assert edge or not uses_hydra, f"{name} imports Hydra/OmegaConf below the edges"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_classes_stay_small(name):
    source = MODULES[name].read_text(encoding="utf-8")
    assert source.count("\n") <= MAX_MODULE_LINES, f"{name}: split it"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_CLASS_LINES, f"{name}.{node.name}: {length} lines"


def test_the_checker_sees_a_violation(tmp_path):
    """The layer rule can fail: a fabric module importing the job is caught."""
    assert layer("simulator.fabric.topology") < layer("simulator.reliability.job")
    assert layer("simulator.experiments.runner") > layer("simulator.elaborate")
    assert layer("simulator.api") == 6 and layer("simulator.units") == 0
