"""Hydra launcher plugins of trainsim: `hydra/launcher=laptop`, `slurm`, `ray_cluster`.

Hydra instantiates launchers only from the `hydra_plugins` package and imports every
module here whenever it starts (to discover plugins), so these are thin: each delegates
to its implementation in simulator/experiments/results_launch.py or results_cluster.py,
imported when a sweep uses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


class _Delegate(Launcher):
    _IMPL = ""  # "module:Class" of the implementation

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.impl: Any = None

    def setup(self, **kwargs: Any) -> None:
        # made here, not in __init__: Hydra's instantiate() would wrap the implementation's
        # ConfigError (a bad key) in its own error, losing trainsim's one line
        module, name = self._IMPL.split(":")
        self.impl = getattr(importlib.import_module(module), name)(**self.params)
        self.impl.setup(**kwargs)

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        return self.impl.launch(job_overrides, initial_job_idx)


class LaptopLauncher(_Delegate):
    """Runs on this machine's cores, in worker processes forked once per sweep."""

    _IMPL = "simulator.experiments.results_launch:LaptopLauncher"


class SlurmLauncher(_Delegate):
    """Runs packed into the tasks of one SLURM job array (submitit)."""

    _IMPL = "simulator.experiments.results_cluster:SlurmLauncher"


class RayLauncher(_Delegate):
    """Runs packed into Ray tasks; results come back as the tasks' return values."""

    _IMPL = "simulator.experiments.results_cluster:RayLauncher"
