"""`simulate()`: the same run as the command line, from Python, as a DataFrame.

The entry points compose the stages: Hydra composes a config, configuration validates it
(`to_spec`, simulator/config/validate.py: a StudySpec, no graph), elaboration builds what the
model runs on (`elaborate`, simulator/elaborate.py: a Scenario), the runner runs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from simulator.config.validate import config_dir as scenarios_dir
from simulator.config.validate import explain, to_spec
from simulator.elaborate import elaborate, over_budget
from simulator.errors import ConfigError
from simulator.experiments.budget import check_budget
from simulator.experiments.feasibility import result_warnings, scenario_warnings, warn
from simulator.experiments.progress import fabric_progress
from simulator.experiments.runner import ReplicateResult, run_scenario
from simulator.experiments.timeline import trace_events
from simulator.reliability.scenario import Scenario

if TYPE_CHECKING:  # `simulate` returns a DataFrame; the command line's single run
    import pandas as pd  # imports no pandas (simulator/experiments/table.py)


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


#: What `config_dir` may be (`simulate`, `load_scenario`).
CONFIG_DIR_ALLOWED = ("an existing directory of your own config group options, laid out "
                      "like scenarios/ (e.g. <dir>/failures/myfleet.yaml, chosen with "
                      "failures=myfleet)")


def load_scenario(overrides: list[str] | None = None, config_name: str = "config",
                  config_dir: str | os.PathLike | None = None) -> Scenario:
    """Compose `scenarios/<config_name>.yaml` with `overrides`, validate and elaborate it.

    config_dir: a directory of your own YAML files, searched after trainsim's scenarios/
    as the command line's `--config-dir` is (a group option there, e.g.
    `<dir>/failures/myfleet.yaml`, is chosen with `failures=myfleet`; an option named like
    a shipped one is shadowed by the shipped one).
    Raises ConfigError (one line: key, bad value, what is allowed) on bad input.
    """
    user = list(overrides or [])
    extra = [] if config_dir is None else [_search_path(config_dir)]
    try:
        with initialize_config_dir(config_dir=str(scenarios_dir()), version_base="1.3",
                                   job_name="trainsim"):
            cfg = compose(config_name=config_name, overrides=[*extra, *user])
    except Exception as exc:  # composing only reads config: any failure is bad input
        raise explain(exc, user) from None
    return to_scenario(cfg, user)


def _search_path(directory: str | os.PathLike) -> str:
    """The `hydra.searchpath` override that adds `directory` (ConfigError if it is not
    one)."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ConfigError("config_dir", str(directory), CONFIG_DIR_ALLOWED)
    text = str(path.resolve())
    if any(c in text for c in "[],'\"\n"):  # would break the override's list syntax
        raise ConfigError("config_dir", str(directory),
                          "a path without [ ] , or quotes: " + CONFIG_DIR_ALLOWED)
    return f"hydra.searchpath=[file://{text}]"


def simulate(overrides: list[str] | None = None, config_name: str = "config",
             progress: bool | None = None,
             config_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Run a scenario with Hydra-style overrides; one summary row per replicate.

    config_dir: a directory of your own YAML config (as `--config-dir` on the command
    line), e.g. the `failures` file `python -m simulator.fit --out` writes.
    With `timeline=true` the rows carry the replicates' trace events (the contents of
    the command line's timeline.json) in `frame.attrs["timeline"]`.
    Configurations that run but cannot work (simulator/experiments/feasibility.py) raise a
    `TrainsimWarning` each; the run still runs.

    >>> simulate(["cluster.gpus=4096", "replicates=20"])  # doctest: +SKIP
    >>> simulate(["failures=myfleet"], config_dir="my_configs")  # doctest: +SKIP
    """
    scenario = load_scenario(overrides, config_name, config_dir)
    check_budget(scenario)  # a run past max_events is refused before any warning
    excess = over_budget(scenario)
    if excess is not None:
        raise excess
    warn(scenario_warnings(scenario))  # TrainsimWarning: filter with the warnings module
    timelines: list[ReplicateResult] | None = [] if scenario.timeline else None
    frame = run_scenario(scenario, progress=progress, timelines=timelines)
    if timelines:
        frame.attrs["timeline"] = trace_events(timelines)
    warn(result_warnings(frame))
    return frame
