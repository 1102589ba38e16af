"""Imports: `import simulator` and the model modules load no Hydra (one units module:
tests/test_units.py); a single run (`python -m simulator`) loads no pandas.

Hydra and OmegaConf belong to the entry points (the command line, `simulate()` /
`load_scenario()`, the sweep callback) and the configuration layer; everything below
(the fabric, the reliability model, the statistics, the report) takes plain specs.
Each check runs in a fresh interpreter, so that modules this test session already
imported cannot hide an import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import simulator

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "simulator"


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


#: Every module of the package by dotted name (sub-packages' __init__ are empty).
MODULES = sorted(_dotted(p) for p in PACKAGE.rglob("*.py") if p.stem != "__init__")
#: Modules allowed to import Hydra or OmegaConf: the entry points at the top (command
#: line, API, the commands that compose from overrides), the sweep callback and the
#: configuration layer that registers Hydra's structured-config schemas; the sweep's
#: Hydra side is every module named simulator.experiments.results* (as in test_layers:
#: results.py, results_compose.py).
ENTRY_POINTS = {"simulator.__main__", "simulator.api", "simulator.adaptive",
                "simulator.bench", "simulator.collectives", "simulator.report",
                "simulator.analysis"}
CONFIG_MODULES = [m for m in MODULES if m.startswith("simulator.config.")]
#: as tests/test_layers.py's HYDRA_ALLOWED_PREFIXES: results*.py are the Hydra side of
#: the results (the sweep's callback, its composition, its launchers)
HYDRA_ALLOWED = {*ENTRY_POINTS, *CONFIG_MODULES,
                 *(m for m in MODULES if m.startswith("simulator.experiments.results"))}
MODEL_MODULES = [m for m in MODULES if m not in HYDRA_ALLOWED]

_HYDRA_LOADED = ("import sys\n"
                 "def hydra_loaded():\n"
                 "    return sorted(m for m in sys.modules\n"
                 "                  if m.split('.')[0] in ('hydra', 'omegaconf'))\n")


def _python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_import_simulator_loads_no_hydra() -> None:
    proc = _python("import simulator, sys\n"
                   "assert not any(m.startswith(('hydra', 'omegaconf')) for m in sys.modules)")
    assert proc.returncode == 0, proc.stderr


def test_model_modules_load_no_hydra() -> None:
    """Import every model module in turn in one fresh interpreter and report the first
    module after whose import Hydra or OmegaConf is loaded (with the modules before it
    clean, that module imports them itself)."""
    assert {"simulator.reliability.cluster", "simulator.reliability.job",
            "simulator.fabric.stepmodel", "simulator.experiments.progress",
            "simulator.experiments.outputs", "simulator.experiments.report",
            "simulator.elaborate", "simulator.reliability.study"} <= set(MODEL_MODULES)
    code = _HYDRA_LOADED + (
        "import importlib\n"
        f"for name in {MODEL_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "    if hydra_loaded():\n"
        "        print(name, hydra_loaded()[:3]); raise SystemExit(1)\n")
    proc = _python(code)
    assert proc.returncode == 0, f"imports Hydra: {proc.stdout.strip()} {proc.stderr[-2000:]}"


def test_elaboration_loads_no_hydra() -> None:
    """Elaboration builds the fabric from a validated spec: no Hydra, no OmegaConf, and
    none of the configuration layer's modules."""
    proc = _python(_HYDRA_LOADED + "import simulator.elaborate\n"
                   "assert not hydra_loaded(), hydra_loaded()[:3]\n"
                   "assert not [m for m in sys.modules\n"
                   "            if m.startswith('simulator.config.validate')]")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_config_layer_loads_no_graph_machinery() -> None:
    """Validation knows nothing of graphs: importing the configuration layer loads no
    networkx and none of the fabric modules that build or solve a graph."""
    assert {"simulator.config.validate", "simulator.config.schema",
            "simulator.config.topology"} <= set(CONFIG_MODULES)
    fabric = ["simulator.fabric.stepmodel", "simulator.fabric.topology",
              "simulator.fabric.network", "simulator.fabric.collectives",
              "simulator.fabric.flows", "simulator.elaborate"]
    code = ("import sys\n"
            f"for name in {CONFIG_MODULES!r}:\n"
            "    __import__(name)\n"
            f"loaded = [m for m in ['networkx', *{fabric!r}] if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _python("import simulator.fabric.stepmodel, sys\n"  # and the check can fail
                   "assert 'networkx' not in sys.modules").returncode != 0


def test_the_checks_above_can_fail() -> None:
    """The API module does load Hydra: the same check catches it."""
    proc = _python(_HYDRA_LOADED + "import simulator.api\nassert not hydra_loaded()")
    assert proc.returncode != 0


def test_public_names_resolve_lazily() -> None:
    from simulator.api import load_scenario, simulate
    from simulator.errors import ConfigError
    from simulator.reliability.scenario import Scenario

    assert simulator.simulate is simulate and simulator.load_scenario is load_scenario
    assert simulator.ConfigError is ConfigError and simulator.Scenario is Scenario
    assert set(simulator.__all__) <= set(dir(simulator))
    for name in simulator.__all__:
        assert getattr(simulator, name).__name__ == name
    with pytest.raises(AttributeError, match="no_such_name"):
        simulator.no_such_name  # noqa: B018


#: Tables need pandas (and parquet pyarrow): ~0.3-0.5 s of a 1-s single run.
_TABLE_LIBRARIES = ("pandas", "pyarrow")
#: What the default scenario does not need either: graphs and their solver (its power
#: model counts switches from the topology's structure), scipy (its one warning that
#: could need a Poisson tail answers from a bound), figures.
_HEAVY = (*_TABLE_LIBRARIES, "networkx", "scipy", "matplotlib", "simulator.fabric.stepmodel")
_SINGLE_RUN = ("import sys\n"
               "from simulator.__main__ import main\n"
               "sys.argv = ['simulator', *{args!r}]\n"
               "main()\n"
               f"print('loaded', sorted(m for m in {_HEAVY!r} if m in sys.modules))\n")


def test_a_single_run_imports_no_pandas(tmp_path) -> None:
    """`python -m simulator` on the default scenario writes summary.csv and prints its
    summary without pandas (simulator/experiments/table.py); pandas is imported where a
    table is really built (a sweep's gathering, events, reports, statistics). Nor does
    it import networkx, scipy or the fabric's step model (~0.3 s together)."""
    proc = _python(_SINGLE_RUN.format(args=["name=lean"]), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "loaded []" in proc.stdout, proc.stdout[-2000:]
    assert (tmp_path / "results" / "lean" / "summary.csv").is_file()


def test_the_single_runs_modules_import_no_pandas() -> None:
    """Each module of the single run's path, imported alone (a top-level `import pandas`
    anywhere below them fails this)."""
    path = ["simulator.__main__", "simulator.api", "simulator.experiments.runner",
            "simulator.experiments.outputs", "simulator.experiments.feasibility",
            "simulator.experiments.results", "simulator.experiments.table",
            "simulator.experiments.timeline", "simulator.elaborate"]
    for name in path:
        proc = _python(f"import sys, {name}\n"
                       f"assert not [m for m in {_TABLE_LIBRARIES!r} if m in sys.modules]")
        assert proc.returncode == 0, f"{name}: {proc.stderr[-1500:]}"


def test_the_pandas_checks_can_fail(tmp_path) -> None:
    """A run that asks for its events builds tables: the same checks see pandas."""
    proc = _python(_SINGLE_RUN.format(args=["name=events", "events=true", "horizon_days=1"]),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "loaded ['pandas'" in proc.stdout, proc.stdout[-2000:]
    assert _python("import sys, simulator.experiments.frames\n"
                   "assert 'pandas' not in sys.modules").returncode != 0
