"""`simulate()`: the same run as the command line, from Python, as a DataFrame.

The entry points compose the stages: Hydra composes a config, configuration validates it
(`to_spec`, simulator/config/validate.py: a StudySpec, no graph), elaboration builds what the
model runs on (`elaborate`, simulator/elaborate.py: a Scenario), the runner runs it.
"""

from __future__ import annotations

import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from simulator.config.validate import config_dir, explain, to_spec
from simulator.elaborate import elaborate, over_budget
from simulator.experiments.budget import check_budget
from simulator.experiments.feasibility import result_warnings, scenario_warnings, warn
from simulator.experiments.progress import fabric_progress
from simulator.experiments.runner import run_scenario
from simulator.reliability.scenario import Scenario


def to_scenario(cfg: DictConfig, overrides: list[str] | None = None) -> Scenario:
    """A composed Hydra config -> the Scenario to run: validated, then elaborated once,
    with a bar of the fabric's build stages for a large fabric on a terminal (raises
    ConfigError)."""
    spec = to_spec(cfg, overrides or [])
    bar = fabric_progress(spec.cluster.gpus)
    try:
        return elaborate(spec, progress=bar)
    finally:
        if bar is not None:  # off the terminal before an error is printed
            bar.close()


def load_scenario(overrides: list[str] | None = None, config_name: str = "config") -> Scenario:
    """Compose `scenarios/<config_name>.yaml` with `overrides`, validate and elaborate it.

    Raises ConfigError (one line: key, bad value, what is allowed) on bad input.
    """
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3",
                                   job_name="trainsim"):
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
    except Exception as exc:  # composing only reads config: any failure is bad input
        raise explain(exc, list(overrides or [])) from None
    return to_scenario(cfg, list(overrides or []))


def simulate(overrides: list[str] | None = None, config_name: str = "config",
             progress: bool | None = None) -> pd.DataFrame:
    """Run a scenario with Hydra-style overrides; one summary row per replicate.

    Configurations that run but cannot work (simulator/experiments/feasibility.py) raise a
    `TrainsimWarning` each; the run still runs.

    >>> simulate(["cluster.gpus=4096", "replicates=20"])  # doctest: +SKIP
    """
    scenario = load_scenario(overrides, config_name)
    check_budget(scenario)  # a run past max_events is refused before any warning
    excess = over_budget(scenario)
    if excess is not None:
        raise excess
    warn(scenario_warnings(scenario))  # TrainsimWarning: filter with the warnings module
    frame = run_scenario(scenario, progress=progress)
    warn(result_warnings(frame))
    return frame
