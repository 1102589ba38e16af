"""`simulate()`: the same run as the command line, from Python, as a DataFrame."""

from __future__ import annotations

import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from simulator.config import config_dir, explain, to_scenario
from simulator.runner import run_scenario
from simulator.scenario import Scenario

#: Config groups a user swaps; their chosen option becomes a column of every CLI row.
GROUPS = ("cluster", "topology", "failures", "checkpoint", "restart", "workload")


def with_choices(frame: pd.DataFrame, choices, groups: tuple[str, ...] = GROUPS
                 ) -> pd.DataFrame:
    """Prefix `frame` with a `<group>_config` column per group of `groups`: its chosen
    option (e.g. `topology_config=gb200_nvl72`)."""
    front = pd.DataFrame({f"{group}_config": [choices.get(group)] * len(frame)
                          for group in groups}, index=frame.index)
    return pd.concat([front, frame], axis=1)


def _compose(overrides: list[str] | None, config_name: str) -> DictConfig:
    """The composed config, with its `hydra` node (the chosen group options)."""
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3",
                                   job_name="trainsim"):
            return compose(config_name=config_name, overrides=list(overrides or []),
                           return_hydra_config=True)
    except Exception as exc:  # composing only reads config: any failure is bad input
        raise explain(exc, list(overrides or [])) from None


def load_scenario(overrides: list[str] | None = None, config_name: str = "config") -> Scenario:
    """Compose `scenarios/<config_name>.yaml` with `overrides` and validate it.

    Raises ConfigError (one line: key, bad value, what is allowed) on bad input.
    """
    return to_scenario(_compose(overrides, config_name))


def simulate(overrides: list[str] | None = None, config_name: str = "config",
             progress: bool | None = None) -> pd.DataFrame:
    """Run a scenario with Hydra-style overrides; one summary row per replicate, led by
    `topology_config`, the topology preset the run used (a cluster preset brings its own).

    >>> simulate(["cluster.gpus=4096", "replicates=20"])  # doctest: +SKIP
    """
    cfg = _compose(overrides, config_name)
    frame = run_scenario(to_scenario(cfg), progress=progress)
    return with_choices(frame, cfg.hydra.runtime.choices, ("topology",))
