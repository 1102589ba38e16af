"""Results on disk: atomic writes, resumable sweeps, gathering a sweep, and printed digests.

A run writes `summary.csv` in its own directory, last and atomically, next to
`config.sha256` (the digest of the configuration that produced it): a summary whose
digest matches the run's configuration is complete. A Hydra multirun gathers every
run's rows into `results/<name>/runs.csv` when it ends (the `GatherRuns` callback), so
a sweep killed midway leaves every finished run's file intact and no half-written
table; running the same command again reuses those runs and simulates the rest.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pandas as pd
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from scipy import stats

from simulator.progress import advance_progress, close_progress, start_progress

SUMMARY_FILE = "summary.csv"
EVENTS_FILE = "events.csv"
RUNS_FILE = "runs.csv"
REPORT_DIR = "report"  # python -m simulator.report writes here by default
#: The SHA-256 of the resolved configuration (without `name`) that produced summary.csv.
DIGEST_FILE = "config.sha256"
#: Metrics shown in the printed summary, with their display format.
HEADLINE = {
    "goodput": "{:.4f}",
    "useful_h": "{:.1f}",
    "checkpoint_h": "{:.1f}",
    "rework_h": "{:.1f}",
    "restart_h": "{:.1f}",
    "wait_h": "{:.1f}",
    "degraded_h": "{:.1f}",
    "lost_gpu_h": "{:,.0f}",
    "failures": "{:.1f}",
    "planned": "{:.1f}",
    "checkpoints": "{:.1f}",
}
#: Decision metrics shown under the headline ones when the run has them (a model
#: workload, a training budget, a price), with their display format.
DECISION = {
    "tokens_per_s": "{:,.0f}",
    "effective_tokens_per_s": "{:,.0f}",
    "time_to_train_days": "{:,.2f}",
    "usd_per_mtoken": "{:.4f}",
    "mwh_per_mtoken": "{:.3g}",
}
_BASIC_SWEEPER = f"{BasicSweeper.__module__}.{BasicSweeper.__name__}"


# ---- atomic writes -------------------------------------------------------------------


def _write_atomic(path: str | os.PathLike, write: Callable[[IO[str]], object]) -> Path:
    """Write through `write(handle)` to a temporary file, then rename it over `path`.

    A reader (or a sweep killed midway) sees the old file or the new, never half of
    one; the temporary file is `.<name>.<random>.tmp` in the same directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open, not mkstemp: the file gets the permissions open() gives (umask), not 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write `frame` to `path` so that readers see the old file or the new, never half."""
    return _write_atomic(path, lambda handle: frame.to_csv(handle, index=False))


def _remove_temp_files(directory: Path) -> None:
    """Delete the temporary files a killed write of ours left in `directory`."""
    for name in (SUMMARY_FILE, EVENTS_FILE, DIGEST_FILE, RUNS_FILE):
        for tmp in directory.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


# ---- one run's files: complete or not ------------------------------------------------


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


def read_complete_summary(run_dir: str | os.PathLike, digest: str,
                          events: bool = False) -> pd.DataFrame | None:
    """The summary in `run_dir` if it is complete for the configuration `digest`, else None.

    Complete: `config.sha256` holds `digest`, summary.csv parses with at least one row
    (and events.csv exists when `events`).
    """
    run_dir = Path(run_dir)
    try:
        if (run_dir / DIGEST_FILE).read_text().strip() != digest:
            return None
        if events and not (run_dir / EVENTS_FILE).is_file():
            return None
        frame = pd.read_csv(run_dir / SUMMARY_FILE)
    except (OSError, ValueError):  # missing, unreadable, empty or malformed
        return None
    return frame if len(frame) and "goodput" in frame.columns else None


def clear_run(run_dir: str | os.PathLike) -> None:
    """Remove an earlier attempt's results from `run_dir`, the summary first.

    Then no summary can sit next to a digest it does not belong to while the run is redone.
    """
    for name in (SUMMARY_FILE, DIGEST_FILE, EVENTS_FILE):
        (Path(run_dir) / name).unlink(missing_ok=True)


def save_run(run_dir: str | os.PathLike, frame: pd.DataFrame, digest: str,
             events: pd.DataFrame | None = None) -> Path:
    """Write a run's events, its configuration digest and, last, its summary; return the
    summary's path. Only a finished run has a summary.csv (call `clear_run` first)."""
    run_dir = Path(run_dir)
    if events is not None:
        write_csv_atomic(events, run_dir / EVENTS_FILE)
    _write_atomic(run_dir / DIGEST_FILE, lambda handle: handle.write(digest + "\n"))
    return write_csv_atomic(frame, run_dir / SUMMARY_FILE)


# ---- a sweep's table -----------------------------------------------------------------


def gather_runs(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    """Every run's summary rows under `sweep_dir`, in job order, as one tidy table."""
    sweep_dir = Path(sweep_dir)
    files = sorted(sweep_dir.glob(f"*/{SUMMARY_FILE}"), key=_job_order)
    frames = [pd.read_csv(f) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _job_order(path: Path) -> tuple[int, str]:
    name = path.parent.name
    return (int(name), name) if name.isdigit() else (math.inf, name)  # type: ignore[return-value]


def mean_ci(values: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (nan for n < 2)."""
    values = values.astype(float).dropna()
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan
    sem = float(values.std(ddof=1)) / math.sqrt(n)
    return mean, float(stats.t.ppf(0.5 + level / 2, n - 1)) * sem


def format_summary(frame: pd.DataFrame) -> str:
    """Mean and 95% confidence half-width of the headline metrics across replicates, and
    below them the decision metrics the rows have (not all nan)."""
    lines = _metric_table(frame, HEADLINE, "metric")
    decision = {c: f for c, f in DECISION.items()
                if c in frame.columns and frame[c].notna().any()}
    if decision:
        lines += ["", *_metric_table(frame, decision, "decision metric")]
    return "\n".join(lines)


def _metric_table(frame: pd.DataFrame, formats: dict[str, str], title: str) -> list[str]:
    width = max(14, *(len(c) + 2 for c in formats))
    lines = [f"{title:<{width}}{'mean':>14}{'± 95% CI':>14}"]
    for column, fmt in formats.items():
        mean, half = mean_ci(frame[column])
        half_text = "" if math.isnan(half) else fmt.format(half)
        lines.append(f"{column:<{width}}{fmt.format(mean):>14}{half_text:>14}")
    return lines


def format_profile(profile, step_s: float, memory: str | None = None) -> str:
    """One training step: where its time goes, throughput and MFU (against the dense peak
    of the workload's precision); then `memory`, the per-GPU memory line, if given."""
    parts = "  ".join(f"{name} {seconds:.3f}" for name, seconds in profile.breakdown().items())
    note = "" if abs(step_s - profile.step_s) < 1e-12 else \
        f"  (workload.step_seconds={step_s:g} overrides the model's {profile.step_s:.3f} s)"
    peak = f"dense {profile.precision.upper()} peak ({profile.peak_flops / 1e12:,.0f} TFLOP/s)"
    lines = [f"step {profile.step_s:.3f} s = {parts}",
             f"{profile.tokens_per_s:,.0f} tokens/s, MFU {profile.mfu:.1%} of {peak}{note}"]
    if memory is not None:
        lines.append(memory)
    return "\n".join(lines)


def format_sweep(frame: pd.DataFrame, swept: list[str]) -> str:
    """Step time, goodput (mean ± 95% CI), effective tokens/s (with a model workload)
    and lost GPU-hours per swept configuration."""
    if frame.empty:
        return "(no runs)"
    columns = [f"{c}_config" if f"{c}_config" in frame.columns else c for c in swept]
    keys = [c for c in columns if c in frame.columns] or ["seed"]
    rows = []
    for values, group in frame.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        mean, half = mean_ci(group["goodput"])
        lost, _ = mean_ci(group["lost_gpu_h"])
        ci = "" if math.isnan(half) else f" ± {half:.4f}"
        label = "  ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
        mfu = group["mfu"].mean() if "mfu" in group else math.nan
        mfu_text = "" if math.isnan(mfu) else f"  MFU {mfu:.1%}"
        tokens = (group["effective_tokens_per_s"].mean()
                  if "effective_tokens_per_s" in group else math.nan)
        tokens_text = "" if math.isnan(tokens) else f"  eff. tokens/s {tokens:,.0f}"
        rows.append(f"{label:<48} step {group['step_s'].mean():8.3f} s{mfu_text}  goodput "
                    f"{mean:.4f}{ci:<10}{tokens_text}  lost GPU-h {lost:,.0f}  "
                    f"(n={len(group)})")
    return "\n".join(rows)


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
    for name in (RUNS_FILE, REPORT_DIR):  # the old sweep's table and report go with it
        if (sweep_dir / name).exists():
            (sweep_dir / name).rename(keep / name)
    print(f"{sweep_dir} held {len(job_dirs)} runs of an earlier sweep: moved to {keep}")


def _resume(sweep_dir: Path, job_dirs: list[Path], jobs: int) -> None:
    for directory in (sweep_dir, *job_dirs):
        _remove_temp_files(directory)
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
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        jobs = sweep_jobs(config)
        existing = _job_dirs(sweep_dir)
        if existing and jobs is not None and all(_belongs_to(d, jobs) for d in existing):
            _resume(sweep_dir, existing, len(jobs))
        elif existing:
            _move_aside(sweep_dir, existing)
        start_progress(config, jobs)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        advance_progress(failed=job_return.status == JobStatus.FAILED)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        close_progress()
        sweep_dir = Path(str(config.hydra.sweep.dir))
        frame = gather_runs(sweep_dir)
        if frame.empty:
            return
        path = write_csv_atomic(frame, sweep_dir / RUNS_FILE)
        print(format_sweep(frame, swept_keys(config)))
        print(f"{len(frame)} rows -> {path}")
