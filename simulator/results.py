"""Results on disk: atomic CSV writes, gathering a sweep, and the printed summary.

A run writes `summary.csv` in its own directory; a Hydra multirun gathers every run's
rows into `results/<name>/runs.csv` when it ends (the `GatherRuns` callback), so a sweep
killed midway leaves every finished run's file intact and no half-written table.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from scipy import stats

SUMMARY_FILE = "summary.csv"
EVENTS_FILE = "events.csv"
RUNS_FILE = "runs.csv"
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


def write_csv_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write `frame` to `path` so that readers see the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    """Mean and 95% confidence half-width of the headline metrics across replicates."""
    lines = [f"{'metric':<14}{'mean':>14}{'± 95% CI':>14}"]
    for column, fmt in HEADLINE.items():
        mean, half = mean_ci(frame[column])
        half_text = "" if math.isnan(half) else fmt.format(half)
        lines.append(f"{column:<14}{fmt.format(mean):>14}{half_text:>14}")
    return "\n".join(lines)


def format_profile(profile, step_s: float) -> str:
    """One training step: where its time goes, throughput and MFU."""
    parts = "  ".join(f"{name} {seconds:.3f}" for name, seconds in profile.breakdown().items())
    note = "" if abs(step_s - profile.step_s) < 1e-12 else \
        f"  (workload.step_seconds={step_s:g} overrides the model's {profile.step_s:.3f} s)"
    return (f"step {profile.step_s:.3f} s = {parts}\n"
            f"{profile.tokens_per_s:,.0f} tokens/s, MFU {profile.mfu:.1%} of dense BF16 peak"
            f"{note}")


def format_sweep(frame: pd.DataFrame, swept: list[str]) -> str:
    """Step time, goodput (mean ± 95% CI) and lost GPU-hours per swept configuration."""
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
        rows.append(f"{label:<48} step {group['step_s'].mean():8.3f} s{mfu_text}  goodput "
                    f"{mean:.4f}{ci:<10}  lost GPU-h {lost:,.0f}  (n={len(group)})")
    return "\n".join(rows)


class GatherRuns(Callback):
    """Hydra callback: at the end of a multirun, write `runs.csv` and print a digest.

    Job folders left in `results/<name>/` by an earlier sweep of the same name are moved
    to `results/<name>/previous-<time>/` first, so `runs.csv` holds this sweep only.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        stale = [d for d in sweep_dir.glob("*") if d.is_dir() and d.name.isdigit()]
        if not stale:
            return
        keep = sweep_dir / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
        keep.mkdir()
        for job_dir in stale:
            job_dir.rename(keep / job_dir.name)
        runs = sweep_dir / RUNS_FILE
        if runs.exists():
            runs.rename(keep / RUNS_FILE)
        print(f"{sweep_dir} held {len(stale)} runs of an earlier sweep: moved to {keep}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        frame = gather_runs(sweep_dir)
        if frame.empty:
            return
        path = write_csv_atomic(frame, sweep_dir / RUNS_FILE)
        swept = [o.split("=", 1)[0].lstrip("+~") for o in config.hydra.overrides.task
                 if "," in o.split("=", 1)[-1] or o.split("=", 1)[-1].startswith(("range(",
                                                                                  "choice("))]
        print(format_sweep(frame, swept))
        print(f"{len(frame)} rows -> {path}")
