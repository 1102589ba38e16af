"""trainsim: a discrete-event simulator of AI training clusters.

Failures, checkpoints and restarts of a training job on a cluster, in SimPy, with the
job's wall clock accounted to useful work, checkpointing, rework, restart, waiting and
degraded running. See README.md for the tour.

`import simulator` loads no Hydra: the public names are imported on first use (PEP 562),
and only the entry points (`simulate`, `load_scenario`, the command line) compose
configurations with Hydra.
"""

from __future__ import annotations

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.api import load_scenario, simulate
    from simulator.errors import ConfigError, TrainsimWarning
    from simulator.experiments.runner import run_replicate, run_scenario
    from simulator.reliability.scenario import CheckpointSpec, ClusterSpec, RestartSpec, Scenario

#: Public name -> the module that defines it.
_HOMES = {
    "CheckpointSpec": "simulator.reliability.scenario",
    "ClusterSpec": "simulator.reliability.scenario",
    "ConfigError": "simulator.errors",
    "RestartSpec": "simulator.reliability.scenario",
    "Scenario": "simulator.reliability.scenario",
    "TrainsimWarning": "simulator.errors",
    "load_scenario": "simulator.api",
    "run_replicate": "simulator.experiments.runner",
    "run_scenario": "simulator.experiments.runner",
    "simulate": "simulator.api",
}

#: The distribution whose version `simulator.__version__` is (pyproject.toml).
DISTRIBUTION = "trainsim"

__all__ = [
    "CheckpointSpec",
    "ClusterSpec",
    "ConfigError",
    "RestartSpec",
    "Scenario",
    "TrainsimWarning",
    "load_scenario",
    "run_replicate",
    "run_scenario",
    "simulate",
]


def version() -> str:
    """trainsim's version, as installed (pyproject.toml's `version`); "unknown" when the
    package runs from a folder that was never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562)."""
    if name == "__version__":
        globals()[name] = value = version()
        return value
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES, "__version__"})
