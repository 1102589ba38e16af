"""trainsim: a discrete-event simulator of AI training clusters.

Failures, checkpoints and restarts of a training job on a cluster, in SimPy, with the
job's wall clock accounted to useful work, checkpointing, rework, restart, waiting and
degraded running. See README.md for the tour.
"""

from simulator.api import load_scenario, simulate
from simulator.errors import ConfigError, TrainsimWarning
from simulator.runner import run_replicate, run_scenario
from simulator.scenario import CheckpointSpec, ClusterSpec, RestartSpec, Scenario

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
