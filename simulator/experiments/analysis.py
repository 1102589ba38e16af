"""Statistics over replicates: summaries with confidence intervals and paired comparisons
under common random numbers. (Sampling until a confidence interval is narrow enough runs
the simulator: `simulator.adaptive`, an entry point.)

A sweep's tidy table has one row per run x replicate: the configuration columns (the
chosen group options `<group>_config` and every overridden key, e.g.
`checkpoint.interval_minutes`) followed by the summary columns of
`simulator.reliability.metrics.SUMMARY_COLUMNS`. Runs of a sweep share their seeds, so
replicate r of every configuration sees the same hardware failures: differences between
configurations are best estimated replicate by replicate (paired), not from the two
means (unpaired).

    python -m simulator.analysis summarize results/<sweep>
    python -m simulator.analysis paired results/<sweep> --factor checkpoint_config --baseline fixed
    python -m simulator.analysis adaptive --target 0.002 -- checkpoint=young_daly
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simulator.experiments.outputs import RUNS_FILE, SUMMARY_FILE, gather_runs, mean_ci
from simulator.reliability.metrics import CONFIG_COLUMNS, SUMMARY_COLUMNS

#: Overridden keys that say how much was sampled or written, not what was simulated.
SAMPLE_KEYS = ("replicates", "first_replicate", "events")
#: Columns `with_efficiency` derives from the summary (metrics, not configuration).
DERIVED_COLUMNS = ("usd_per_useful_gpu_h", "kwh_per_useful_gpu_h")
#: What identifies a replicate across configurations (common random numbers).
REPLICATE_KEYS = ["seed", "replicate"]


class NoRunsError(FileNotFoundError):
    """A path holds no summary rows."""


def load_sweep(path: str | Path) -> pd.DataFrame:
    """A sweep's rows as one tidy table.

    `path` is a sweep directory (its `runs.csv`, else every `<job>/summary.csv`, for a
    sweep that was interrupted before it gathered them), a single run's directory
    (`summary.csv`), or a CSV file. Raises NoRunsError if there are no rows.
    """
    path = Path(path)
    if path.is_file():
        frame = pd.read_csv(path)
    elif (path / RUNS_FILE).is_file():
        frame = pd.read_csv(path / RUNS_FILE)
    elif (path / SUMMARY_FILE).is_file():
        frame = pd.read_csv(path / SUMMARY_FILE)
    else:
        frame = gather_runs(path) if path.is_dir() else pd.DataFrame()
    if frame.empty:
        raise NoRunsError(f"no runs found under {path} "
                          f"(expected {RUNS_FILE} or */{SUMMARY_FILE})")
    return frame


def config_columns(frame: pd.DataFrame, drop_constant: bool = False) -> list[str]:
    """The columns that identify a configuration, in table order.

    Every column that is not a summary metric (nor a sample-size key such as
    `replicates`, nor a derived metric) and not one of the rows' own configuration
    columns (`simulator.reliability.metrics.CONFIG_COLUMNS`): the CLI's `<group>_config` choices and
    overridden keys, or columns a user tagged frames with. A row configuration column
    (e.g. `checkpoint_write_min`) identifies too when those do not determine it (rows of
    `simulate()` that differ in it, untagged); one that follows from them only describes.
    With `drop_constant`, only the columns that vary.
    """
    skip = {*SUMMARY_COLUMNS, *SAMPLE_KEYS, *DERIVED_COLUMNS}
    named = [c for c in frame.columns if c not in skip and c not in CONFIG_COLUMNS]
    columns = [c for c in frame.columns if c in named
               or (c in CONFIG_COLUMNS and not _follows(frame, c, named))]
    if drop_constant:
        columns = [c for c in columns if frame[c].nunique(dropna=False) > 1]
    return columns


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric columns that are measurements (not configuration, not replicate ids,
    not entirely missing)."""
    skip = {*config_columns(frame), *CONFIG_COLUMNS, *SAMPLE_KEYS, *REPLICATE_KEYS}
    numeric = frame.select_dtypes(include=["number", "bool"]).columns
    return [c for c in numeric if c not in skip and frame[c].notna().any()]


def _follows(frame: pd.DataFrame, column: str, by: list[str]) -> bool:
    """Whether `column` has one value for each combination of `by` (one value in all when
    `by` is empty)."""
    if not by:
        return frame[column].nunique(dropna=False) <= 1
    counts = frame.groupby(by, sort=False, dropna=False)[column].nunique(dropna=False)
    return bool((counts <= 1).all())


def with_efficiency(frame: pd.DataFrame) -> pd.DataFrame:
    """Add cost and energy per useful GPU-hour (what a useful GPU-hour really costs:
    the cluster is paid for and powered over the whole horizon)."""
    useful_gpu_h = frame["useful_h"] * frame["gpus"]
    useful_gpu_h = useful_gpu_h.where(useful_gpu_h > 0)
    return frame.assign(  # nan where the table predates the cost and energy columns
        usd_per_useful_gpu_h=frame.get("cost_usd", math.nan) / useful_gpu_h,
        kwh_per_useful_gpu_h=frame.get("energy_mwh", math.nan) * 1000.0 / useful_gpu_h)


def format_value(value: object) -> str:
    """A configuration value as written in an override: 60.0 -> 60, nan -> null."""
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "null"
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def summarize(frame: pd.DataFrame, by: Sequence[str] | None = None,
              metrics: Sequence[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Per configuration: `n` and every metric's mean and Student-t CI half-width.

    by: grouping columns (default: the configuration columns that vary; none: one row).
    metrics: default every numeric measurement. Columns are `<metric>_mean` and
    `<metric>_ci` (nan when n < 2).
    """
    by = config_columns(frame, drop_constant=True) if by is None else list(by)
    metrics = [m for m in metric_columns(frame) if m not in by] if metrics is None \
        else list(metrics)
    _require_columns(frame, [*by, *metrics])
    rows = []
    for key, group in _groups(frame, by):
        row: dict[str, object] = dict(zip(by, key, strict=True))
        row["n"] = len(group)
        for metric in metrics:
            row[f"{metric}_mean"], row[f"{metric}_ci"] = mean_ci(group[metric], level)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_differences(frame: pd.DataFrame, factor: str, baseline: object,
                       metric: str = "goodput", by: Sequence[str] | None = None,
                       level: float = 0.95) -> pd.DataFrame:
    """Each level of `factor` against `baseline`: the mean difference (level - baseline)
    of `metric`, with its paired CI and the unpaired (Welch) CI of the same difference.

    Rows are matched on (seed, replicate) and every other configuration column. `by`:
    report separately for each value of these columns (default: every other
    configuration column that varies); the remaining configuration columns are pooled,
    still matched. Raises ValueError if a level's replicates do not match the baseline's.
    """
    _require_columns(frame, [factor, metric, *REPLICATE_KEYS])
    others = [c for c in config_columns(frame) if c != factor]
    # a row configuration column that follows from the factor (a policy's own write time)
    # neither splits nor matches the comparison
    named = [factor, *(c for c in others if c not in CONFIG_COLUMNS)]
    others = [c for c in others if c not in CONFIG_COLUMNS or not _follows(frame, c, named)]
    if by is None:
        by = [c for c in others if frame[c].nunique(dropna=False) > 1]
    by = list(by)
    _require_columns(frame, by)
    match = REPLICATE_KEYS + [c for c in others if c not in by]
    if not _mask(frame, factor, baseline).any():
        levels = ", ".join(format_value(v) for v in frame[factor].unique())
        raise ValueError(f"baseline {factor}={format_value(baseline)} is not in the table; "
                         f"levels: {levels}")
    baseline = frame.loc[_mask(frame, factor, baseline), factor].iloc[0]  # as in the table
    base_name = f"{factor}={format_value(baseline)}"
    rows = []
    for key, group in _groups(frame, by):
        base = _by_replicate(group[_mask(group, factor, baseline)], match, metric, base_name)
        for value in group[factor].unique():
            name = f"{factor}={format_value(value)}"
            if name == base_name:
                continue
            other = _by_replicate(group[_mask(group, factor, value)], match, metric, name)
            _check_same_replicates(other, base, name, base_name)
            mean, paired = mean_ci(other - base.loc[other.index], level)
            rows.append({**dict(zip(by, key, strict=True)), factor: value,
                         "baseline": baseline, "n": len(other),
                         f"{metric}_mean": other.mean(), "baseline_mean": base.mean(),
                         "diff": mean, "paired_ci": paired,
                         "unpaired_ci": welch_halfwidth(other, base, level)})
    return pd.DataFrame(rows)


def welch_halfwidth(a: pd.Series, b: pd.Series, level: float = 0.95) -> float:
    """Half-width of the CI of mean(a) - mean(b) treating the samples as independent
    (Welch: unequal variances, Welch-Satterthwaite degrees of freedom)."""
    a, b = a.astype(float).dropna(), b.astype(float).dropna()
    if len(a) < 2 or len(b) < 2:
        return math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return 0.0
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(stats.t.ppf(0.5 + level / 2, dof)) * math.sqrt(va + vb)


# ---- helpers -----------------------------------------------------------------------------


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"no column {', '.join(map(repr, missing))}; "
                         f"columns: {', '.join(frame.columns)}")


def _groups(frame: pd.DataFrame, by: list[str]):
    """(key tuple, rows) per group; one group with an empty key when `by` is empty."""
    if not by:
        return [((), frame)]
    return list(frame.groupby(by, sort=True, dropna=False))


def _mask(frame: pd.DataFrame, column: str, value: object) -> pd.Series:
    """Rows whose `column` equals `value` (compared as written, so "60" matches 60.0)."""
    return frame[column].map(format_value) == format_value(value)


def _by_replicate(rows: pd.DataFrame, match: list[str], metric: str, name: str) -> pd.Series:
    index = pd.MultiIndex.from_frame(rows[match].map(format_value))
    series = pd.Series(rows[metric].to_numpy(dtype=float), index=index)
    if series.index.has_duplicates:
        raise ValueError(f"{name} has several rows for the same ({', '.join(match)}): "
                         "add the columns that tell them apart to `by`")
    return series


def _check_same_replicates(other: pd.Series, base: pd.Series, name: str, base_name: str):
    only_other = other.index.difference(base.index)
    only_base = base.index.difference(other.index)
    if len(only_other) or len(only_base):
        raise ValueError(
            f"{name} and the baseline {base_name} do not have the same replicates "
            f"(seed, replicate, ...): {len(only_other)} only in {name}, {len(only_base)} "
            f"only in the baseline; paired differences need common random numbers "
            "(the same seeds and replicates for both)")


# ---- command line ------------------------------------------------------------------------


def _print(frame: pd.DataFrame) -> None:
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.6g}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.analysis",
                                     description="Statistics over a sweep's replicates.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summarize", help="mean and 95%% CI of metrics per configuration")
    p.add_argument("path")
    p.add_argument("--metrics", nargs="+", default=["goodput", "lost_gpu_h", "failures"])
    p = sub.add_parser("paired", help="paired (CRN) differences against a baseline level")
    p.add_argument("path")
    p.add_argument("--factor", required=True)
    p.add_argument("--baseline", required=True)
    p.add_argument("--metric", default="goodput")
    sub.add_parser("adaptive", help="replicates until the CI is narrow enough: "
                                     "python -m simulator.adaptive (its options follow)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "summarize":
            _print(summarize(load_sweep(args.path), metrics=args.metrics))
        else:
            _print(paired_differences(load_sweep(args.path), args.factor, args.baseline,
                                      args.metric))
    except (NoRunsError, ValueError) as error:
        print(f"trainsim analysis: {error}", file=sys.stderr)
        return 2
    return 0

