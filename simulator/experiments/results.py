"""Results on disk, the Hydra side: configuration digests, resumable sweeps, the callback
that gathers a sweep. The files themselves, written atomically, and the printed summary
are simulator/experiments/outputs.py (no Hydra there); their names are importable from here too.

A run writes `summary.csv` in its own directory, last and atomically, next to
`config.sha256` (the digest of the configuration that produced it): a summary whose
digest matches the run's configuration is complete. A Hydra multirun gathers every
run's rows into `results/<name>/runs.csv` when it ends (the `GatherRuns` callback), so
a sweep killed midway leaves every finished run's file intact and no half-written
table; running the same command again reuses those runs and simulates the rest.

`name` is checked before Hydra makes any folder (a plain folder name, so that
results/<name>/ stays inside results/), a sweep holds a lock on its folder from start to
end (simulator/experiments/sweeplock.py: a second sweep of the same name is refused), an
empty sweep is an error, and `runs.csv` gathers this sweep's own jobs only: job folders
0 .. n-1 whose saved overrides are this sweep's.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from simulator.errors import ConfigError
from simulator.experiments.outputs import (
    DIGEST_FILE,
    EVENTS_FILE,
    NAME_ALLOWED,
    REPORT_DIR,
    RUNS_FILE,
    RUNS_PARQUET,
    SUMMARY_FILE,
    check_name,
    clear_run,
    format_profile,
    format_summary,
    format_sweep,
    gather_runs,
    mean_ci,
    read_complete_summary,
    remove_temp_files,
    save_run,
    write_csv_atomic,
    write_parquet_atomic,
)
from simulator.experiments.progress import advance_progress, close_progress, start_progress
from simulator.experiments.results_compose import ComposeOnce, compose_once
from simulator.experiments.sweeplock import acquire, release

#: Names that moved to simulator/experiments/outputs.py (no Hydra there), still importable
#: from here.
__all__ = [
    "DIGEST_FILE",
    "EVENTS_FILE",
    "REPORT_DIR",
    "RUNS_FILE",
    "RUNS_PARQUET",
    "SUMMARY_FILE",
    "ComposeOnce",
    "GatherRuns",
    "clear_run",
    "compose_once",
    "config_digest",
    "format_profile",
    "format_summary",
    "format_sweep",
    "gather_runs",
    "mean_ci",
    "read_complete_summary",
    "save_run",
    "sweep_jobs",
    "swept_keys",
    "write_csv_atomic",
    "write_parquet_atomic",
]

_BASIC_SWEEPER = f"{BasicSweeper.__module__}.{BasicSweeper.__name__}"
_BASIC_LAUNCHER = f"{BasicLauncher.__module__}.{BasicLauncher.__name__}"


# ---- one run's configuration ----------------------------------------------------------


def config_digest(cfg: DictConfig) -> str:
    """SHA-256 of a run's resolved configuration, leaving out `name` (where results go).

    Equal digests mean equal simulations (with the same code): a summary is reused only
    under its digest.
    """
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(resolved, dict):
        raise TypeError(f"expected a mapping configuration, got {type(resolved).__name__}")
    resolved.pop("name", None)
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---- which runs a sweep launches; resuming ------------------------------------------


def sweep_jobs(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides, in Hydra's job-number order, as Hydra's basic sweeper will
    launch them (the cartesian product of `hydra.sweeper.params` and the command line's
    overrides); None when that cannot be known (another sweeper). A `glob` over a config
    group's options is expanded with the running Hydra's config loader, as the sweeper
    does."""
    sweeper = OmegaConf.select(config, "hydra.sweeper")
    if sweeper is None or OmegaConf.select(sweeper, "_target_") != _BASIC_SWEEPER:
        return None
    try:  # as the sweeper sees them: params resolved, the command line's overrides not
        params = OmegaConf.to_container(sweeper, resolve=True).get("params") or {}
        task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        arguments = [f"{key}={value}" for key, value in params.items()] + list(task)
        loader = GlobalHydra.instance().config_loader() \
            if GlobalHydra.instance().is_initialized() else None
        overrides = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
        return [list(job) for job in BasicSweeper.split_arguments(overrides, None)[0]]
    except Exception:  # Hydra rejects it later with its own message, or sweeps another way
        return None


def _job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((d for d in sweep_dir.glob("*") if d.is_dir() and d.name.isdigit()),
                  key=lambda d: int(d.name))


def _saved_overrides(job_dir: Path) -> list[str] | None:
    """The overrides Hydra saved for a job, or None if unreadable (killed at its start)."""
    try:
        saved = OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
    except Exception:
        return None
    return [str(o) for o in saved] if isinstance(saved, list) else None


def _belongs_to(job_dir: Path, jobs: list[list[str]]) -> bool:
    """Whether `job_dir` was launched as the job of the same number in `jobs`."""
    number = int(job_dir.name)
    if number >= len(jobs):
        return False
    saved = _saved_overrides(job_dir)
    return saved is None or saved == jobs[number]


def _move_aside(sweep_dir: Path, job_dirs: list[Path]) -> None:
    stamp = f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
    keep, n = sweep_dir / stamp, 1
    while keep.exists():  # two sweeps set aside within one second
        n += 1
        keep = sweep_dir / f"{stamp}-{n}"
    keep.mkdir()
    for job_dir in job_dirs:
        job_dir.rename(keep / job_dir.name)
    for name in (RUNS_FILE, RUNS_PARQUET, REPORT_DIR):  # the old sweep's table and report
        if (sweep_dir / name).exists():
            (sweep_dir / name).rename(keep / name)
    print(f"{sweep_dir} held {len(job_dirs)} runs of an earlier sweep: moved to {keep}")


def _resume(sweep_dir: Path, job_dirs: list[Path], jobs: int) -> None:
    for directory in (sweep_dir, *job_dirs):
        remove_temp_files(directory)
    done = sum((d / SUMMARY_FILE).is_file() for d in job_dirs)
    print(f"{sweep_dir} holds {done} of this sweep's {jobs} runs: resuming (a run is reused "
          f"if its configuration is unchanged, else simulated again)")


def swept_keys(config: DictConfig) -> list[str]:
    """The keys a sweep varies: command-line sweeps as Hydra's own override parser reads
    them (`a,b`, `range(...)`, `choice(...)`, `glob(...)`, `interval(...)`, `tag(...)`;
    not a quoted `'a,b'` nor a list `[a,b]`) and a search sweeper's own `params` (e.g.
    the Optuna preset's)."""
    parser = OverridesParser.create()
    keys: list[str] = []
    for text in config.hydra.overrides.task:
        try:
            (override,) = parser.parse_overrides([str(text)])
        except Exception:  # Hydra itself rejected or will reject it, with its own message
            continue
        if override.is_sweep_override() and override.key_or_group not in keys:
            keys.append(override.key_or_group)
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    return keys + [k for k in params if k not in keys]


class GatherRuns(Callback):
    """Hydra callback: resume or set aside an earlier sweep's runs, show progress, and at
    the end of a multirun write `runs.csv` and print a digest.

    Job folders in `results/<name>/` that were launched with the same overrides under the
    same job numbers as this sweep are kept (the task reuses each complete run whose
    configuration digest matches); any other folder means a different sweep of the same
    name, and all are moved to `results/<name>/previous-<time>/` with that sweep's
    `runs.csv` and `report/`, so `runs.csv` and the report hold this sweep only.

    Before any folder exists it checks `name` (a run's too) and, for a sweep, that it has
    jobs and that no other live sweep holds `results/<name>/sweep.lock`; a refusal is a
    `StartRefused` (Hydra would turn an Exception into a warning and carry on). It holds
    the lock until the sweep ends and gathers its own jobs only.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            checked_name(config)
        except ConfigError as error:
            raise StartRefused(error) from None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._start_sweep(config)
        except ConfigError as error:
            raise StartRefused(error) from None

    def _start_sweep(self, config: DictConfig) -> None:
        name = checked_name(config)
        if "name" in swept_keys(config):
            raise ConfigError("name", _typed_name(config), "a sweep writes one folder, "
                              "results/<name>/: give name one value (sweep other keys)")
        jobs = sweep_jobs(config)
        if jobs == []:
            key, value = _empty_sweep(config)
            raise ConfigError(key, value, "this sweep has no jobs: a sweep needs at least "
                              "one value (e.g. range(start, stop) with start < stop)")
        sweep_dir = Path(str(config.hydra.sweep.dir))
        self._lock = acquire(sweep_dir, name)
        self._jobs = jobs
        existing = _job_dirs(sweep_dir)
        if existing and jobs is not None and all(_belongs_to(d, jobs) for d in existing):
            _resume(sweep_dir, existing, len(jobs))
        elif existing:
            _move_aside(sweep_dir, existing)
        in_process = OmegaConf.select(config, "hydra.launcher._target_") == _BASIC_LAUNCHER
        # every job composed cheaply here (the sweeper's up-front check, a launcher that
        # composes in this process); kept for a second request on the default launcher
        compose_once(keep=in_process)
        start_progress(jobs, f"sweep {name}", in_process)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        failed = job_return.status == JobStatus.FAILED
        advance_progress(failed=failed)
        if failed and isinstance(job_return._return_value, ConfigError):
            job_return.__class__ = QuietJobReturn  # trainsim prints the one line

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        close_progress()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            frame = gather_runs(sweep_dir, _own_job_dirs(sweep_dir, getattr(self, "_jobs", None)))
            if frame.empty:
                return
            path = write_csv_atomic(frame, sweep_dir / RUNS_FILE)
            write_parquet_atomic(frame, sweep_dir / RUNS_PARQUET)  # the same rows, typed
            print(format_sweep(frame, swept_keys(config)))
            print(f"{len(frame)} rows -> {path}")
        finally:
            compose_once(False)
            lock = getattr(self, "_lock", None)
            if lock is not None:
                release(lock)
                self._lock = None

    def __getstate__(self) -> dict:  # joblib ships the callback to its workers: not the lock
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}


class StartRefused(BaseException):
    """A run or sweep that must not start, carrying the ConfigError saying why.

    Hydra turns an Exception raised in a callback into a warning and goes on (making the
    folders); a BaseException stops it before any folder exists. `python -m simulator`
    prints `error` as its one line and exits 2.
    """

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.error = error


class QuietJobReturn(JobReturn):
    """A job that failed on a ConfigError: raises it without Hydra's "Error executing job
    with overrides" line (the error names the key and value; trainsim prints it as its
    one line)."""

    @property
    def return_value(self) -> Any:
        if self.status == JobStatus.FAILED:
            raise self._return_value
        return JobReturn.return_value.fget(self)

    @return_value.setter
    def return_value(self, value: Any) -> None:
        self._return_value = value


def _typed_name(config: DictConfig) -> object:
    """`name` as written: the last `name=` override's text, else the config's own value
    (unresolved, e.g. `${now:...}`)."""
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    for text in reversed(task):
        key, sep, value = str(text).partition("=")
        if sep and key.lstrip("+") == "name":
            return value
    node = config._get_node("name")
    return None if node is None else node._value()


def checked_name(config: DictConfig) -> str:
    """The run's resolved `name`, if a plain folder name (results/<name>/ inside results/);
    else a ConfigError on `name` showing the value as written."""
    try:
        name = OmegaConf.select(config, "name", throw_on_missing=True)
    except Exception as exc:  # an interpolation that does not resolve
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError("name", _typed_name(config),
                          f"cannot be resolved ({reason}); {NAME_ALLOWED}") from None
    return check_name(name, _typed_name(config))


def _empty_sweep(config: DictConfig) -> tuple[str, str]:
    """The key and text of the sweep override that has no values."""
    loader = GlobalHydra.instance().config_loader() \
        if GlobalHydra.instance().is_initialized() else None
    parser = OverridesParser.create(config_loader=loader)
    for text in OmegaConf.to_container(config.hydra.overrides.task, resolve=False):
        try:
            (override,) = parser.parse_overrides([str(text)])
            if override.is_sweep_override() and not list(override.sweep_iterator()):
                return override.key_or_group, str(text).partition("=")[2]
        except Exception:
            continue
    return "hydra.sweeper.params", str(OmegaConf.select(config, "hydra.sweeper.params"))


def _own_job_dirs(sweep_dir: Path, jobs: list[list[str]] | None) -> list[Path]:
    """This sweep's job folders: 0 .. n-1 launched with this sweep's overrides (all
    numbered folders when the sweeper's jobs cannot be known; the lock keeps others out)."""
    if jobs is None:
        return _job_dirs(sweep_dir)
    own = [sweep_dir / str(number) for number in range(len(jobs))]
    return [d for d in own if d.is_dir() and _saved_overrides(d) == jobs[int(d.name)]]
