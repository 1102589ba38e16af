"""`simulate()`: the same run as the command line, from Python, as a DataFrame."""

from __future__ import annotations

import pandas as pd
from hydra import compose, initialize_config_dir

from simulator.config import config_dir, explain, to_scenario
from simulator.runner import run_scenario
from simulator.scenario import Scenario


def load_scenario(overrides: list[str] | None = None, config_name: str = "config") -> Scenario:
    """Compose `scenarios/<config_name>.yaml` with `overrides` and validate it.

    Raises ConfigError (one line: key, bad value, what is allowed) on bad input.
    """
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3",
                                   job_name="trainsim"):
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
    except Exception as exc:  # composing only reads config: any failure is bad input
        raise explain(exc, list(overrides or [])) from None
    return to_scenario(cfg)


def simulate(overrides: list[str] | None = None, config_name: str = "config",
             progress: bool | None = None) -> pd.DataFrame:
    """Run a scenario with Hydra-style overrides; one summary row per replicate.

    >>> simulate(["cluster.gpus=4096", "replicates=20"])  # doctest: +SKIP
    """
    return run_scenario(load_scenario(overrides, config_name), progress=progress)
