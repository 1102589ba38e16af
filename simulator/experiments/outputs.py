"""A run's files and its printed summary, without Hydra.

The files of a run directory (summary.csv, events.csv, config.sha256) and of a sweep
(runs.csv), written atomically; whether a run is complete; a sweep's table; the mean and
confidence half-width of a metric; the text `python -m simulator` prints. The Hydra side
(configuration digest, sweep callback, resuming) is simulator/experiments/results.py.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from simulator.errors import ConfigError
from simulator.experiments.table import Rows, any_present, any_true, as_rows, mean_std

if TYPE_CHECKING:  # pandas is imported where a table is built (~0.3-0.5 s): see table.py
    import pandas as pd

SUMMARY_FILE = "summary.csv"
EVENTS_FILE = "events.csv"
POWER_FILE = "power.csv"  # power.series=true: the first replicate's facility draw over time
TIMELINE_FILE = "timeline.json"  # timeline=true: trace events (experiments/timeline.py)
TIMELINE_FIGURE = "timeline.png"  # timeline=true: a Gantt-style figure of one replicate
RUNS_FILE = "runs.csv"
RUNS_PARQUET = "runs.parquet"  # the same table as runs.csv, typed (pyarrow)
REPORT_DIR = "report"  # python -m simulator.report writes here by default
#: The SHA-256 of the resolved configuration (without `name`) that produced summary.csv.
DIGEST_FILE = "config.sha256"
#: Metrics of the printed summary (`python -m simulator`), with their display format
#: (the report's tables have their own: simulator/experiments/report.py REPORT_HEADLINE).
SUMMARY_HEADLINE = {
    "goodput": "{:.4f}",
    "useful_h": "{:.1f}",
    "checkpoint_h": "{:.1f}",
    "rework_h": "{:.1f}",
    "restart_h": "{:.1f}",
    "wait_h": "{:.1f}",
    "degraded_h": "{:.1f}",
    "replicas_out_h": "{:.1f}",
    "input_stall_h": "{:.1f}",
    "lost_gpu_h": "{:,.0f}",
    "failures": "{:.1f}",
    "planned": "{:.1f}",
    "checkpoints": "{:.1f}",
    "replica_failures": "{:.1f}",
    "in_process_restarts": "{:.1f}",
    "storage_outages": "{:.1f}",
    "storage_outage_h": "{:.1f}",
    "failed_writes": "{:.1f}",
    "skipped_checkpoints": "{:.1f}",
}
#: Rows of the headline shown only when they are not zero (a policy that has them).
SUMMARY_IF_USED = ("replicas_out_h", "replica_failures", "in_process_restarts",
                   "input_stall_h", "storage_outages", "storage_outage_h", "failed_writes",
                   "skipped_checkpoints")
#: Decision metrics shown under the headline ones when the run has them (a model
#: workload, a training budget, a price), with their display format.
SUMMARY_DECISION = {
    "facility_peak_mw": "{:,.3f}",
    "facility_mean_mw": "{:,.3f}",
    "power_swing_mw": "{:,.3f}",
    "energy_mwh": "{:,.1f}",
    "tokens_per_s": "{:,.0f}",
    "effective_tokens_per_s": "{:,.0f}",
    "time_to_train_days": "{:,.2f}",
    "usd_per_mtoken": "{:.4f}",
    "mwh_per_mtoken": "{:.3g}",
}


#: What `name` may be: results/<name>/ must be a folder directly inside results/.
NAME_ALLOWED = ("a plain folder name inside results/: not empty, not . or .., no / or \\, "
                "no control characters, at most 255 bytes")


def check_name(name: object, typed: object = None) -> str:
    """`name` if it is a plain folder name (results/<name>/ stays inside results/), else a
    ConfigError on `name` showing `typed` (the value as written, e.g. `${oc.env:HOME}`)
    or, without it, `name`."""
    text = name if isinstance(name, str) else None
    if (text is None or text.strip() in ("", ".", "..") or "/" in text or "\\" in text
            or any(ord(c) < 32 or ord(c) == 127 for c in text)
            or len(text.encode("utf-8", "surrogateescape")) > 255):
        raise ConfigError("name", name if typed is None else typed, NAME_ALLOWED)
    return text


# ---- atomic writes -------------------------------------------------------------------


def write_atomic(path: str | os.PathLike, write: Callable[[IO], object],
                 binary: bool = False) -> Path:
    """Write through `write(handle)` to a temporary file, then rename it over `path`.

    A reader (or a sweep killed midway) sees the old file or the new, never half of
    one; the temporary file is `.<name>.<random>.tmp` in the same directory. `write`
    gets a text handle (UTF-8, newlines as written) or, with `binary`, a binary one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open, not mkstemp: the file gets the permissions open() gives (umask), not 0o600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        handle_args = {"mode": "wb"} if binary else {"mode": "w", "newline": "",
                                                       "encoding": "utf-8"}
        with os.fdopen(fd, **handle_args) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv_atomic(frame: pd.DataFrame | Rows, path: str | os.PathLike) -> Path:
    """Write `frame` to `path` so that readers see the old file or the new, never half.
    `Rows` are written without pandas when they can be (the same bytes: table.py)."""
    if isinstance(frame, Rows):
        text = frame.csv_text()
        if text is not None:
            return write_atomic(path, lambda handle: handle.write(text))
        frame = frame.frame()
    return write_atomic(path, lambda handle: frame.to_csv(handle, index=False))


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write `frame` to `path` as Parquet (pyarrow), atomically like `write_csv_atomic`.

    A column that mixes types across runs (an override that is a number in one job and
    text in another) is written as text; missing values stay missing.
    """
    return write_atomic(path, lambda handle: parquet_ready(frame).to_parquet(
        handle, engine="pyarrow", index=False), binary=True)


def parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every object column of mixed value types turned to text (Parquet
    columns have one type); missing values stay missing."""
    import pandas as pd

    mixed = {}
    for column in frame.select_dtypes(include="object").columns:
        values = frame[column].dropna()
        if values.map(type).nunique() > 1:
            mixed[column] = frame[column].map(lambda v: v if pd.isna(v) else str(v))
    return frame.assign(**mixed) if mixed else frame


def remove_temp_files(directory: Path) -> None:
    """Delete the temporary files a killed write of ours left in `directory`."""
    for name in (SUMMARY_FILE, EVENTS_FILE, POWER_FILE, DIGEST_FILE, RUNS_FILE,
                 RUNS_PARQUET, TIMELINE_FILE, TIMELINE_FIGURE):
        for tmp in directory.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


# ---- one run's files: complete or not ------------------------------------------------


def read_complete_summary(run_dir: str | os.PathLike, digest: str,
                          events: bool = False, power: bool = False,
                          timeline: bool = False) -> pd.DataFrame | None:
    """The summary in `run_dir` if it is complete for the configuration `digest`, else None.

    Complete: `config.sha256` holds `digest`, summary.csv parses with at least one row
    (and events.csv exists when `events`, power.csv when `power`, timeline.json when
    `timeline`).
    """
    run_dir = Path(run_dir)
    try:
        if (run_dir / DIGEST_FILE).read_text().strip() != digest:
            return None
        if events and not (run_dir / EVENTS_FILE).is_file():
            return None
        if power and not (run_dir / POWER_FILE).is_file():
            return None
        if timeline and not (run_dir / TIMELINE_FILE).is_file():
            return None
        import pandas as pd

        frame = pd.read_csv(run_dir / SUMMARY_FILE)
    except (OSError, ValueError):  # missing, unreadable, empty or malformed
        return None
    return frame if len(frame) and "goodput" in frame.columns else None


def clear_run(run_dir: str | os.PathLike) -> None:
    """Remove an earlier attempt's results from `run_dir`, the summary first.

    Then no summary can sit next to a digest it does not belong to while the run is redone.
    """
    for name in (SUMMARY_FILE, DIGEST_FILE, EVENTS_FILE, POWER_FILE, TIMELINE_FILE,
                 TIMELINE_FIGURE):
        (Path(run_dir) / name).unlink(missing_ok=True)


def save_run(run_dir: str | os.PathLike, frame: pd.DataFrame | Rows, digest: str,
             events: pd.DataFrame | None = None, power: pd.DataFrame | None = None) -> Path:
    """Write a run's events and power series, its configuration digest and, last, its
    summary; return the summary's path. Only a finished run has a summary.csv (call
    `clear_run` first)."""
    run_dir = Path(run_dir)
    if events is not None:
        write_csv_atomic(events, run_dir / EVENTS_FILE)
    if power is not None:
        write_csv_atomic(power, run_dir / POWER_FILE)
    write_atomic(run_dir / DIGEST_FILE, lambda handle: handle.write(digest + "\n"))
    return write_csv_atomic(frame, run_dir / SUMMARY_FILE)


# ---- a sweep's table -----------------------------------------------------------------


def gather_runs(sweep_dir: str | os.PathLike,
                job_dirs: list[Path] | None = None) -> pd.DataFrame:
    """The summary rows of `job_dirs` (default: every folder directly under `sweep_dir`),
    in job order, as one tidy table; a job without a summary (failed) has no rows."""
    import pandas as pd

    if job_dirs is None:
        files = list(Path(sweep_dir).glob(f"*/{SUMMARY_FILE}"))
    else:
        files = [d / SUMMARY_FILE for d in job_dirs if (d / SUMMARY_FILE).is_file()]
    frames = [pd.read_csv(f) for f in sorted(files, key=_job_order)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _job_order(path: Path) -> tuple[int, str]:
    name = path.parent.name
    return (int(name), name) if name.isdigit() else (math.inf, name)  # type: ignore[return-value]


def mean_ci(values: pd.Series | list, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (nan for n < 2).
    A list (a column of `Rows`) gets pandas' numbers without pandas (table.py)."""
    if isinstance(values, list):
        n, mean, std = mean_std(values)
    else:
        values = values.astype(float).dropna()
        n = len(values)
        mean = float(values.mean()) if n else math.nan
        std = float(values.std(ddof=1)) if n >= 2 else math.nan
    if n < 2:
        return mean, math.nan
    sem = std / math.sqrt(n)
    # scipy.special, not scipy.stats (~0.4 s more to import): scipy.stats.t.ppf(q, df) is
    # stdtrit(df, q) for 0 < q < 1, the same number
    from scipy.special import stdtrit

    return mean, float(stdtrit(n - 1, 0.5 + level / 2)) * sem


def format_summary(frame: pd.DataFrame | Rows) -> str:
    """Mean and 95% confidence half-width of the headline metrics across replicates, and
    below them the decision metrics the rows have (not all nan). Rows of a policy the
    run does not use (SUMMARY_IF_USED, all zero) are left out."""
    rows = as_rows(frame)
    headline = {c: f for c, f in SUMMARY_HEADLINE.items()
                if c not in SUMMARY_IF_USED or (c in rows.columns and any_true(rows.column(c)))}
    lines = _metric_table(rows, headline, "metric")
    decision = {c: f for c, f in SUMMARY_DECISION.items()
                if c in rows.columns and any_present(rows.column(c))}
    if decision:
        lines += ["", *_metric_table(rows, decision, "decision metric")]
    return "\n".join(lines)


def _metric_table(rows: Rows, formats: dict[str, str], title: str) -> list[str]:
    width = max(14, *(len(c) + 2 for c in formats))
    lines = [f"{title:<{width}}{'mean':>14}{'± 95% CI':>14}"]
    for column, fmt in formats.items():
        mean, half = mean_ci(rows.column(column))
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
