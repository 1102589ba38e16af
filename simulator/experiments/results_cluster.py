"""Sweeps on a cluster, packed: SLURM array tasks (submitit) and Ray tasks, the Hydra side.

A sweep of 10,000 runs as 10,000 scheduler jobs costs the scheduler, and every job pays
a Python start-up and a composition. Here the launching process composes each run once
(simulator/experiments/results_launch.py) and sends them in chunks of `runs_per_task`
(default: the runs spread over the tasks that can run at once); each task runs its chunk
one run after another with Hydra's `run_job`.

- SLURM (`hydra/launcher=slurm`): one job array, one array task per chunk, on the shared
  file system the cluster has anyway: each run writes its own folder, as on any launcher.
- Ray (`hydra/launcher=ray_cluster`): one Ray task per chunk. No shared file system is
  assumed: a task runs each job in a scratch folder of its node (given the job's earlier
  summary and digest, so resuming reuses it as anywhere) and returns the folder's files
  with the JobReturn; this process writes them into the job's folder, summary last.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from simulator.errors import ConfigError
from simulator.experiments.outputs import DIGEST_FILE, SUMMARY_FILE, clear_run, write_atomic
from simulator.experiments.progress import advance_progress
from simulator.experiments.results_launch import (
    PackedLauncher,
    chunks,
    count_key,
    job_dir,
    run_jobs,
    runs_per_task,
)

log = logging.getLogger(__name__)

RUNS_PER_TASK = "hydra.launcher.runs_per_task"
RUNS_PER_TASK_ALLOWED = ("null (the runs spread over the tasks that can run at once) or a "
                         "whole number of runs per task >= 1")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _require(package: str, launcher: str, extra: str) -> Any:
    """`package` imported, or the one-line error saying how to install it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ConfigError("hydra/launcher", launcher, f"needs {package}, not installed: "
                          f"pip install -e '.[{extra}]'") from None


# ---- SLURM ----------------------------------------------------------------------------

#: submitit's parameters common to its executors (passed as they are); the others are
#: SLURM's, passed as slurm_<key> (as Hydra's submitit launcher does).
SUBMITIT_COMMON = frozenset({"timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node",
                             "mem_gb", "nodes", "name", "stderr_to_stdout"})


class SlurmChunk:
    """An array task's work: its chunk of composed runs, one after another."""

    def __init__(self, hydra_context: HydraContext, task_function: TaskFunction,
                 singleton_state: dict) -> None:
        self.hydra_context, self.task_function = hydra_context, task_function
        self.singleton_state = singleton_state

    def __call__(self, configs: list[DictConfig]) -> list[JobReturn]:
        import submitit

        return run_jobs(self.hydra_context, self.task_function, configs,
                        self.singleton_state, job_id=submitit.JobEnvironment().job_id)


class SlurmLauncher(PackedLauncher):
    """`hydra/launcher=slurm`: the sweep as one SLURM job array of packed tasks."""

    def __init__(self, runs_per_task: Any = None,
                 submitit_folder: str = ".submitit/%j", max_num_timeout: int = 0,
                 **params: Any) -> None:
        super().__init__()
        self.runs_per_task = count_key(RUNS_PER_TASK, runs_per_task, RUNS_PER_TASK_ALLOWED)
        self.folder, self.max_num_timeout = str(submitit_folder), max_num_timeout
        self.params = {key: _plain(value) for key, value in params.items()}

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        submitit = _require("submitit", "slurm", "slurm")
        assert self.hydra_context is not None and self.task_function is not None
        configs = list(self.compose(job_overrides, initial_job_idx))
        per_task = runs_per_task(len(configs), self.runs_per_task,
                                 int(self.params.get("array_parallelism") or 256))
        groups = chunks(configs, per_task)
        executor = submitit.AutoExecutor(cluster="slurm", folder=self.folder,
                                         slurm_max_num_timeout=self.max_num_timeout)
        executor.update_parameters(**{key if key in SUBMITIT_COMMON else f"slurm_{key}": value
                                      for key, value in self.params.items()})
        log.info(f"SLURM: {len(configs)} runs as a job array of {len(groups)} tasks, up to "
                 f"{per_task} runs each; sbatch logs in {self.folder}")
        work = SlurmChunk(self.hydra_context, self.task_function, Singleton.get_state())
        tasks = executor.map_array(work, groups)
        sizes = [len(group) for group in groups]
        del configs, groups  # submitted (pickled into the sweep's .submitit/ folder)
        self.open_progress(job_overrides)
        returns: list[JobReturn] = []
        for task, size in zip(tasks, sizes, strict=True):
            done = task.results()[0]
            assert len(done) == size, f"a task ran {len(done)} of its {size} runs"
            returns.extend(done)
            for ret in done:
                advance_progress(failed=ret.status == JobStatus.FAILED)
        return returns


# ---- Ray ------------------------------------------------------------------------------


def _seed_files(folder: Path) -> dict[str, bytes]:
    """A job folder's complete earlier run (summary and digest), for a task to resume."""
    files = {name: folder / name for name in (DIGEST_FILE, SUMMARY_FILE)}
    if all(path.is_file() for path in files.values()):
        return {name: path.read_bytes() for name, path in files.items()}
    return {}


def ray_chunk(shared: tuple[HydraContext, TaskFunction, dict],
              payload: list[tuple[DictConfig, dict[str, bytes]]]
              ) -> list[tuple[JobReturn, dict[str, bytes], str, str]]:
    """A Ray task: each job in a scratch folder of this node, seeded with its earlier
    summary; returns (JobReturn, the folder's files, printed text, the scratch path)."""
    hydra_context, task_function, singleton_state = shared
    out = []
    for config, seeds in payload:
        with tempfile.TemporaryDirectory(prefix="trainsim-") as scratch:
            with open_dict(config):
                config.hydra.sweep.dir = scratch
            folder = job_dir(config).resolve()
            folder.mkdir(parents=True)
            for name, data in seeds.items():
                (folder / name).write_bytes(data)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                (ret,) = run_jobs(hydra_context, task_function, [config], singleton_state)
            files = {str(p.relative_to(folder)): p.read_bytes()
                     for p in sorted(folder.rglob("*")) if p.is_file()}
        out.append((ret, files, printed.getvalue(), str(folder)))
    return out


def write_returned(folder: Path, files: dict[str, bytes], seeds: dict[str, bytes]) -> None:
    """Write a Ray task's files of a job into its folder here: an earlier attempt's
    results removed first (unless the task reused them), each file atomically, the
    summary last (a folder with a summary is a complete run)."""
    folder.mkdir(parents=True, exist_ok=True)
    if files.get(SUMMARY_FILE) != seeds.get(SUMMARY_FILE):
        clear_run(folder)
    for name in sorted(files, key=lambda n: n == SUMMARY_FILE):
        write_atomic(folder / name, lambda handle, data=files[name]: handle.write(data),
                     binary=True)


class RayLauncher(PackedLauncher):
    """`hydra/launcher=ray_cluster`: the sweep as Ray tasks of packed runs; results come
    back as the tasks' return values."""

    RAY_KEYS = frozenset({"init", "remote"})

    def __init__(self, ray: Any = None, runs_per_task: Any = None) -> None:
        super().__init__()
        settings = _plain(ray) or {}
        unknown = sorted(set(settings) - self.RAY_KEYS)
        if unknown:
            raise ConfigError(f"hydra.launcher.ray.{unknown[0]}", settings[unknown[0]],
                              "hydra.launcher.ray has init (ray.init's arguments) and "
                              "remote (each task's resources, e.g. num_cpus)")
        self.init = dict(settings.get("init") or {})
        self.remote = dict(settings.get("remote") or {})
        self.runs_per_task = count_key(RUNS_PER_TASK, runs_per_task, RUNS_PER_TASK_ALLOWED)

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        ray = _require("ray", "ray_cluster", "ray")
        assert self.hydra_context is not None and self.task_function is not None
        configs = list(self.compose(job_overrides, initial_job_idx))
        started = not ray.is_initialized()
        if started:
            ray.init(**self.init)
        try:
            return self._run(ray, configs, job_overrides)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, configs: list[DictConfig],
             job_overrides: Sequence[Sequence[str]]) -> list[JobReturn]:
        cpus = float(ray.cluster_resources().get("CPU", 1))
        slots = int(cpus // float(self.remote.get("num_cpus") or 1))
        per_task = runs_per_task(len(configs), self.runs_per_task, slots)
        folders = [job_dir(c).resolve() for c in configs]
        seeds = [_seed_files(f) for f in folders]
        shared = ray.put((self.hydra_context, self.task_function, Singleton.get_state()))
        task = ray.remote(ray_chunk).options(**self.remote)
        numbered = chunks(list(range(len(configs))), per_task)
        log.info(f"Ray: {len(configs)} runs as {len(numbered)} tasks, up to {per_task} "
                 f"runs each, on {cpus:g} CPUs")
        pending = {task.remote(shared, [(configs[i], seeds[i]) for i in group]): group
                   for group in numbered}
        self.open_progress(job_overrides)
        returns: list[JobReturn | None] = [None] * len(configs)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            for i, (ret, files, printed, scratch) in zip(pending.pop(ref), ray.get(ref),
                                                         strict=True):
                write_returned(folders[i], files, seeds[i])
                runtime = ret.hydra_cfg.hydra.runtime  # as run_job set it, for this folder
                with read_write(runtime), open_dict(runtime):
                    runtime.output_dir = str(folders[i])
                print(printed.replace(scratch, str(folders[i])), end="", flush=True)
                returns[i] = ret
                advance_progress(failed=ret.status == JobStatus.FAILED)
        return returns  # type: ignore[return-value]
