"""Launchers that pack a sweep's runs into few long-lived processes, the Hydra side.

Hydra's joblib launcher starts a worker per core that imports the package and composes
every run again (its parent composed them already, to check them); its SLURM and Ray
launchers make one scheduler job or task per run. These keep Hydra's Launcher interface
(`launch(job_overrides, initial_job_idx)` returns one JobReturn per run, in order; each
run goes through Hydra's `run_job`, so callbacks, the job's folder and its `.hydra/`
files are Hydra's) but compose each run once, in the launching process, through the
config loader's `load_sweep_config` (so `ComposeOnce` and any cheaper composition
installed there apply), and hand the composed configurations to workers:

- `LaptopLauncher` (`hydra/launcher=laptop`): `n_jobs` worker processes forked once
  per sweep, each taking runs from a queue; no import, no composition in a worker;
- simulator/experiments/results_cluster.py: SLURM array tasks (submitit) and Ray tasks,
  each running a chunk of `runs_per_task` runs.

Every replicate's randomness depends only on (seed, replicate), so the rows are the same
on every launcher and for every packing.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import logging
import math
import multiprocessing
import os
import pickle
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from simulator.errors import ConfigError
from simulator.experiments.progress import advance_progress, start_progress

log = logging.getLogger(__name__)

JOB_DIR_KEY, JOB_SUBDIR_KEY = "hydra.sweep.dir", "hydra.sweep.subdir"


def count_key(key: str, value: Any, allowed: str, *, auto: Any = None) -> int | None:
    """`value` as a whole number >= 1, or `auto` (returned as None); else a ConfigError
    naming `key`, the value and `allowed`."""
    if value is None or (auto is not None and value == auto):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, value, allowed)
    return value


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    """`items` in consecutive chunks of `size` (the last may be shorter), in order."""
    return [list(items[start:start + size]) for start in range(0, len(items), size)]


def runs_per_task(runs: int, chosen: int | None, slots: int) -> int:
    """Runs per scheduler task: the user's choice, else spread over `slots` tasks (the
    tasks that can run at once), so that no task waits for a free slot."""
    return chosen if chosen is not None else max(1, math.ceil(runs / max(1, slots)))


def job_dir(config: DictConfig) -> Path:
    """A composed job's folder, as Hydra's `run_job` makes it (sweep dir / subdir)."""
    return Path(str(OmegaConf.select(config, JOB_DIR_KEY))) / str(
        OmegaConf.select(config, JOB_SUBDIR_KEY))


def run_jobs(hydra_context: HydraContext, task_function: TaskFunction,
             configs: Sequence[DictConfig], singleton_state: dict | None = None,
             job_id: str | None = None) -> list[JobReturn]:
    """Run composed jobs one after another as Hydra's launchers do (`run_job`: the job's
    folder, its `.hydra/` files, the callbacks' on_job_start / on_job_end), in a worker
    process or a scheduler task. `job_id`: the scheduler's id for hydra.job.id."""
    setup_globals()
    if singleton_state is not None:
        Singleton.set_state(singleton_state)
    returns = []
    for config in configs:
        if job_id is not None:
            with open_dict(config):
                config.hydra.job.id = job_id
        returns.append(run_job(hydra_context=hydra_context, task_function=task_function,
                               config=config, job_dir_key=JOB_DIR_KEY,
                               job_subdir_key=JOB_SUBDIR_KEY))
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    return returns


class PackedLauncher(Launcher):
    """What the packing launchers share: Hydra's setup, and composing each job once in
    this process through the config loader."""

    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        # launch() composes each job in this process through the loader, where the sweep's
        # callback installed ComposeOnce: a job is derived from its combination of group
        # choices again (~2 ms) rather than kept from the sweeper's check (a kept copy
        # costs ~10 ms to restore)
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def compose(self, job_overrides: Sequence[Sequence[str]],
                initial_job_idx: int) -> Iterator[DictConfig]:
        """Each job's configuration, numbered as Hydra's basic launcher numbers them."""
        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            config = self.hydra_context.config_loader.load_sweep_config(self.config,
                                                                        list(overrides))
            with open_dict(config):
                config.hydra.job.id = idx
                config.hydra.job.num = idx
            yield config

    def open_progress(self, jobs: Sequence[Sequence[str]]) -> None:
        """The sweep's bar over runs (on a terminal, outside CI), advanced by this process
        as runs come back."""
        assert self.config is not None
        start_progress([list(j) for j in jobs], f"sweep {OmegaConf.select(self.config, 'name')}",
                       in_process=True)


# ---- the laptop: forked workers ------------------------------------------------------

_worker: tuple[HydraContext, TaskFunction] | None = None  # in a worker: what it runs


def _start_worker(hydra_context: HydraContext, task_function: TaskFunction) -> None:
    global _worker
    _worker = (hydra_context, task_function)


def _run_in_worker(config_bytes: bytes) -> tuple[JobReturn, str]:
    """One job in a forked worker; its printed lines come back with its JobReturn, so
    that the launching process prints them whole (above its bar)."""
    assert _worker is not None
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        (ret,) = run_jobs(*_worker, [pickle.loads(config_bytes)])
    return ret, printed.getvalue()


def warm_up(config: DictConfig) -> None:
    """Before forking the workers: validate and elaborate the first run's scenario here,
    so that what a run imports or caches on first use (the fabric's modules, scipy's, a
    solved fabric) is loaded once and inherited by every worker instead of loaded in
    each. Best effort: whatever goes wrong is the run's to report, in its worker."""
    from simulator.config.validate import to_spec
    from simulator.elaborate import elaborate

    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = copy.deepcopy(config)
        with read_write(task), open_dict(task):
            del task["hydra"]
        elaborate(to_spec(task))


def worker_count(n_jobs: int | None, jobs: int) -> int:
    """Workers for `jobs` runs: `n_jobs`, or every core this process may use (None)."""
    if n_jobs is None:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
    return max(1, min(n_jobs, jobs))


class LaptopLauncher(PackedLauncher):
    """`hydra/launcher=laptop`: a sweep on this machine's cores, in `n_jobs` worker
    processes forked once (they inherit the imported package), each taking composed runs
    from a queue and running them with Hydra's `run_job`. Where processes cannot be
    forked (Windows) it hands the sweep to Hydra's joblib launcher."""

    N_JOBS_ALLOWED = "-1 (every core) or a whole number of worker processes >= 1"

    def __init__(self, n_jobs: Any = -1) -> None:
        super().__init__()
        self.n_jobs = count_key("hydra.launcher.n_jobs", n_jobs, self.N_JOBS_ALLOWED, auto=-1)

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.hydra_context is not None and self.task_function is not None
        if not job_overrides:
            return []
        if "fork" not in multiprocessing.get_all_start_methods():
            return self._joblib(job_overrides, initial_job_idx)
        workers = worker_count(self.n_jobs, len(job_overrides))
        log.info(f"Launching {len(job_overrides)} jobs on {workers} worker processes")
        jobs = self.compose(job_overrides, initial_job_idx)
        first = next(jobs)
        warm_up(first)
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_start_worker,
                                   initargs=(self.hydra_context, self.task_function))
        try:  # the workers start on the first runs while this process composes the rest
            pending: dict[Future, int] = {
                pool.submit(_run_in_worker, pickle.dumps(config)): i
                for i, config in enumerate(itertools.chain([first], jobs))}
            del first
            self.open_progress(job_overrides)  # after the fork: workers draw no bar
            returns: list[JobReturn | None] = [None] * len(pending)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    ret, printed = future.result()
                    returns[pending.pop(future)] = ret
                    print(printed, end="", flush=True)
                    advance_progress(failed=ret.status == JobStatus.FAILED)
        except BaseException:  # Ctrl-C, a worker lost: stop the workers' runs too
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()  # a run writes its summary last and atomically
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return returns  # type: ignore[return-value]

    def _joblib(self, job_overrides: Sequence[Sequence[str]],
                initial_job_idx: int) -> Sequence[JobReturn]:
        from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

        joblib = JoblibLauncher(n_jobs=self.n_jobs or -1, backend="loky", prefer="processes")
        joblib.setup(hydra_context=self.hydra_context, task_function=self.task_function,
                     config=self.config)
        return joblib.launch(job_overrides, initial_job_idx)
