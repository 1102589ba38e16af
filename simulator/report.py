"""`python -m simulator.report results/<sweep> [--out DIR]`: figures and a markdown
summary of a sweep, chosen by what the sweep varied.

- goodput against the checkpoint interval, with 95% CI bands and Young's and Daly's
  optimum intervals (when the interval varies);
- where the lost GPU-hours went, per configuration (always);
- step time, goodput, cost and energy per useful GPU-hour (when the cluster or the
  topology varies);
- `report.md`: what was swept, mean ± CI of the headline metrics per configuration, the
  best configuration and the paired (CRN) differences of the others against it.

Everything is written atomically into `results/<sweep>/report/` by default.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, StrMethodFormatter

from simulator.analysis import (
    NoRunsError,
    config_columns,
    format_value,
    load_sweep,
    paired_differences,
    summarize,
    with_efficiency,
)
from simulator.api import load_scenario
from simulator.policies import daly_interval, young_daly_interval
from simulator.results import SUMMARY_FILE

INTERVAL_KEY = "checkpoint.interval_minutes"
LOST = ("checkpoint", "rework", "restart", "wait", "degraded")  # ledger categories
#: Headline metrics of the results table: column, heading, format.
HEADLINE = [("goodput", "goodput", "{:.4f}"), ("interval_min", "interval (min)", "{:.1f}"),
            ("lost_gpu_h", "lost GPU-h", "{:,.0f}"), ("failures", "failures", "{:.1f}")]
REQUIRED = ["seed", "replicate", "gpus", "goodput", "interval_min", "lost_gpu_h", "failures",
            "step_s", "useful_h", *(f"{c}_h" for c in LOST)]
FIGURES = ("goodput_vs_interval.png", "lost_gpu_hours.png", "cluster_comparison.png")
HARDWARE = [("step_s", "step (s)", "{:.3f}"),
            ("usd_per_useful_gpu_h", "$ / useful GPU-h", "{:.3f}"),
            ("kwh_per_useful_gpu_h", "kWh / useful GPU-h", "{:.3f}")]


@dataclass(frozen=True)
class Optimum:
    """Young's and Daly's optimum intervals (minutes) for write time C and job MTBI M."""

    young_min: float
    daly_min: float
    write_min: float
    mtbi_h: float


def display(column: str) -> str:
    """A configuration column as its override key: `checkpoint_config` -> `checkpoint`."""
    return column.removesuffix("_config")


def labels(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's configuration as overrides, e.g. `checkpoint=fixed, topology=x`."""
    if not columns:
        return pd.Series("all runs", index=frame.index)
    return frame[columns].apply(lambda row: ", ".join(
        f"{display(c)}={format_value(row[c])}" for c in columns), axis=1)


def write_report(path: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write the figures and `report.md` for the sweep at `path`; return the paths
    written, report.md first."""
    path = Path(path)
    frame = load_sweep(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a trainsim summary table: no {', '.join(missing)}")
    frame = with_efficiency(frame)
    sweep_dir = path if path.is_dir() else path.parent
    out = Path(out) if out is not None else sweep_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    configs = config_columns(frame, drop_constant=True)
    frame = frame.assign(configuration=labels(frame, configs))
    metrics = [m for m, _, _ in HEADLINE + HARDWARE]
    table = summarize(frame, by=configs, metrics=metrics)  # one row per configuration
    table.insert(0, "configuration", labels(table, configs))
    figures: dict[str, str] = {}  # file name -> caption
    notes: dict[str, list[str]] = {}  # file name -> lines under it
    if frame["interval_min"].nunique() > 1:
        lines_by = [c for c in configs if c != INTERVAL_KEY]
        optima = optimum_intervals(sweep_dir, lines_by)
        notes["goodput_vs_interval.png"] = _optima_text(optima, lines_by) or [
            "- Young/Daly marks omitted: no run directory (.hydra/config.yaml) to read the "
            "checkpoint write time from."]
        _save(plot_interval(table, lines_by, optima), out / "goodput_vs_interval.png")
        figures["goodput_vs_interval.png"] = "Goodput against the checkpoint interval"
    _save(plot_lost(frame, table["configuration"]), out / "lost_gpu_hours.png")
    figures["lost_gpu_hours.png"] = "Where the lost GPU-hours went"
    hardware = any(c in configs for c in ("topology_config", "cluster_config"))
    if hardware:
        _save(plot_hardware(table), out / "cluster_comparison.png")
        figures["cluster_comparison.png"] = "Clusters and topologies compared"
    for stale in set(FIGURES) - set(figures):  # from an earlier report of this sweep
        (out / stale).unlink(missing_ok=True)
    text = markdown(frame, table, path, configs, hardware, figures, notes)
    report = out / "report.md"
    _atomic(report, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return [report, *(out / name for name in figures)]


# ---- figures -----------------------------------------------------------------------------


def _figure(cols: int = 1, height: float = 4.5, width: float = 7.5):
    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, cols, squeeze=False, sharey=True)[0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def plot_interval(table: pd.DataFrame, lines_by: list[str],
                  optima: dict[tuple, Optimum]) -> Figure:
    """Goodput (mean, 95% CI band) against the interval, one line per other setting,
    with Young's (dashed) and Daly's (dotted) optimum intervals."""
    fig, (ax,) = _figure()
    groups = table.groupby(lines_by, sort=False, dropna=False) if lines_by else [((), table)]
    shared = len(set(optima.values())) == 1
    for key, group in groups:
        g = group.sort_values("interval_min_mean")
        x, y, ci = g["interval_min_mean"], g["goodput_mean"], g["goodput_ci"].fillna(0)
        label = ", ".join(f"{display(c)}={format_value(v)}"
                          for c, v in zip(lines_by, key, strict=True))
        (line,) = ax.plot(x, y, marker="o", label=label or "goodput")
        ax.fill_between(x, y - ci, y + ci, color=line.get_color(), alpha=0.2, lw=0)
        mark = optima.get(tuple(format_value(v) for v in key))
        if mark and not shared:
            ax.axvline(mark.young_min, color=line.get_color(), ls="--", lw=1)
            ax.axvline(mark.daly_min, color=line.get_color(), ls=":", lw=1)
    if shared:
        mark = next(iter(optima.values()))
        ax.axvline(mark.young_min, color="0.3", ls="--", lw=1,
                   label=f"Young's optimum {mark.young_min:.0f} min")
        ax.axvline(mark.daly_min, color="0.3", ls=":", lw=1,
                   label=f"Daly's optimum {mark.daly_min:.0f} min")
    elif optima:
        ax.plot([], [], color="0.3", ls="--", label="Young's optimum")
        ax.plot([], [], color="0.3", ls=":", label="Daly's optimum")
    xs = sorted(table["interval_min_mean"].round(1).unique())
    if xs[-1] / xs[0] >= 4:  # a geometric sweep: equal steps on a log axis
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel("checkpoint interval (minutes of compute)")
    ax.set_ylabel("goodput (useful / wall-clock time)")
    ax.set_title("Goodput against checkpoint interval (mean, 95% CI)")
    ax.legend(fontsize="small")
    return fig


def plot_lost(frame: pd.DataFrame, order: pd.Series) -> Figure:
    """Stacked bars: mean lost GPU-hours per run by category, per configuration."""
    lost = pd.DataFrame({c: frame[f"{c}_h"] * frame["gpus"] for c in LOST})
    means = lost.groupby(frame["configuration"]).mean().reindex(order)
    fig, (ax,) = _figure(height=1.8 + 0.35 * len(means), width=9)
    left = pd.Series(0.0, index=means.index)
    for category in LOST:
        ax.barh(means.index, means[category], left=left, label=category)
        left += means[category]
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("lost GPU-hours per run (mean over replicates)")
    ax.set_title("Where the lost GPU-hours went")
    fig.legend(fontsize="small", ncols=len(LOST), loc="outside lower center", frameon=False)
    return fig


def plot_hardware(table: pd.DataFrame) -> Figure:
    """Per configuration: step time, goodput, $ and kWh per useful GPU-hour."""
    panels = [("step_s", "step time", "seconds"),
              ("goodput", "goodput", "useful / wall-clock time"),
              ("usd_per_useful_gpu_h", "cost per useful GPU-hour", "$"),
              ("kwh_per_useful_gpu_h", "energy per useful GPU-hour", "kWh")]
    fig, axes = _figure(len(panels), height=1.8 + 0.35 * len(table), width=14)
    rows = range(len(table))
    for ax, (metric, title, unit) in zip(axes, panels, strict=True):
        mean, ci = table[f"{metric}_mean"], table[f"{metric}_ci"].fillna(0)
        ax.barh(rows, mean.fillna(0), xerr=ci, capsize=3, color="C0")
        if mean.isna().all():
            ax.text(0.5, 0.5, "not available", transform=ax.transAxes, ha="center")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(unit)
    axes[0].set_yticks(rows, table["configuration"])
    axes[0].invert_yaxis()  # shared: all panels
    fig.suptitle("Clusters and topologies compared (mean, 95% CI)")
    return fig


def optimum_intervals(sweep_dir: Path, lines_by: list[str]) -> dict[tuple, Optimum]:
    """Young's and Daly's intervals per line (as policies.py computes them), from one run
    of that line: the job's MTBI M from its summary, the write time C from its config
    (or, when the model's size sets C, from its scenario)."""
    found: dict[tuple, Optimum] = {}
    for run in [sweep_dir, *sorted(p for p in sweep_dir.iterdir() if p.is_dir())]:
        hydra_dir = run / ".hydra"
        if not ((run / SUMMARY_FILE).is_file() and (hydra_dir / "config.yaml").is_file()):
            continue
        row = pd.read_csv(run / SUMMARY_FILE, nrows=1).iloc[0]
        key = tuple(format_value(row.get(c)) for c in lines_by)
        if key in found:
            continue
        try:
            c = _write_s(hydra_dir)
            m = float(row["job_mtbi_h"]) * 3600
            found[key] = Optimum(young_daly_interval(None, c, m) / 60,
                                 daly_interval(None, c, m) / 60, c / 60, m / 3600)
        except (ValueError, KeyError, TypeError):  # no finite MTBI, or an unreadable run
            continue
    return found


def _write_s(hydra_dir: Path) -> float:
    config = yaml.safe_load((hydra_dir / "config.yaml").read_text())
    minutes = config["checkpoint"]["write_minutes"]
    if minutes is not None:
        return float(minutes) * 60
    overrides = yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []
    scenario = load_scenario([o for o in overrides if not o.startswith("hydra")])
    return scenario.checkpoint.write_s


def _optima_text(optima: dict[tuple, Optimum], lines_by: list[str]) -> list[str]:
    """One line per distinct optimum (one for all lines when they share it)."""
    shared = len(set(optima.values())) == 1
    lines = []
    for key, o in sorted(optima.items()):
        where = ", ".join(f"{display(c)}={v}" for c, v in zip(lines_by, key, strict=True))
        lines.append(f"- Optimum interval: Young {o.young_min:.1f} min, Daly {o.daly_min:.1f}"
                     f" min (write time C = {o.write_min:g} min, job MTBI M = {o.mtbi_h:.1f} h)"
                     + ("" if shared or not where else f" for {where}") + ".")
    return lines[:1] if shared else lines


# ---- markdown ----------------------------------------------------------------------------


def markdown(frame: pd.DataFrame, table: pd.DataFrame, path: Path, configs: list[str],
             hardware: bool, figures: dict[str, str], notes: dict[str, list[str]]) -> str:
    """The report: what was swept, the results table, the best configuration, figures."""
    fixed = [c for c in config_columns(frame.drop(columns="configuration"))
             if c not in configs]
    n = frame.groupby("configuration").size()
    out = [f"# Sweep report: {path.name}", "",
           f"`{path}`: {len(frame)} rows, {len(n)} configuration(s), "
           f"{_range(n)} replicate(s) each, seed(s) {_range(frame['seed'].drop_duplicates())}.",
           "", "## What was swept", ""]
    if configs:
        out += ["| column | values |", "|---|---|"]
        out += [f"| `{c}` | {', '.join(format_value(v) for v in _levels(frame[c]))} |"
                for c in configs]
    else:
        out.append("Nothing: a single configuration.")
    if fixed:
        out += ["", "Held fixed: " + ", ".join(
            f"{display(c)}={format_value(frame[c].iloc[0])}" for c in fixed) + "."]
    metrics = HEADLINE + ([m for m in HARDWARE if frame[m[0]].notna().any()] if hardware
                          else [])
    out += ["", "## Results", "",
            "Mean ± 95% confidence half-width (Student t) over replicates.", "",
            "| " + " | ".join([*map(display, configs), "n", *(h for _, h, _ in metrics)])
            + " |", "|" + "---|" * (len(configs) + 1 + len(metrics))]
    for _, row in table.iterrows():
        cells = [format_value(row[c]) for c in configs] + [str(row["n"])]
        cells += [_mean_ci(row[f"{m}_mean"], row[f"{m}_ci"], f) for m, _, f in metrics]
        out.append("| " + " | ".join(cells) + " |")
    out += _best(frame, table)
    out += ["", "## Figures", ""]
    for name, caption in figures.items():
        out += [f"![{caption}]({name})", "", *notes.get(name, [])]
        out += [""] if name in notes else []
    return "\n".join(out).rstrip() + "\n"


def _best(frame: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """The best configuration by goodput, and the paired differences of the others."""
    if len(table) < 2:
        return []
    top = table.loc[table["goodput_mean"].idxmax()]
    goodput = _mean_ci(top["goodput_mean"], top["goodput_ci"], "{:.4f}")
    out = ["", "## Best configuration", "",
           f"By goodput: **{top['configuration']}**, {goodput} (n={top['n']}).", ""]
    try:
        diffs = paired_differences(frame[["configuration", "seed", "replicate", "goodput"]],
                                   "configuration", top["configuration"], by=[])
    except ValueError as error:
        return [*out, f"No paired differences: {error}."]
    diffs = diffs.sort_values("diff", ascending=False)
    out += ["The others against it, replicate by replicate: every configuration ran the "
            "same seeds, so replicate r saw the same failures in all of them (common random "
            "numbers) and much of the noise cancels in the difference. The unpaired "
            "(Welch) interval of the same difference is for comparison.", "",
            "| configuration | Δ goodput | paired 95% CI | unpaired 95% CI | n |",
            "|---|---|---|---|---|"]
    out += [f"| {r.configuration} | {r.diff:+.4f} | ± {r.paired_ci:.4f} | "
            f"± {r.unpaired_ci:.4f} | {r.n} |" for r in diffs.itertuples()]
    return out


def _mean_ci(mean: float, ci: float, fmt: str) -> str:
    if pd.isna(mean):
        return "n/a"
    return fmt.format(mean) + ("" if pd.isna(ci) else " ± " + fmt.format(ci))


def _range(values: pd.Series) -> str:
    lo, hi = values.min(), values.max()
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _levels(column: pd.Series) -> list:
    """Distinct values, sorted, missing last."""
    return sorted(column.dropna().unique()) + ([float("nan")] if column.isna().any() else [])


# ---- writing -----------------------------------------------------------------------------


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write via a temporary file in the same directory, then rename over `path`: a
    reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _save(fig: Figure, path: Path) -> None:
    _atomic(path, lambda tmp: fig.savefig(tmp, format="png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.report",
                                     description="Figures and a markdown summary of a sweep.")
    parser.add_argument("sweep", help="results/<sweep> (runs.csv or */summary.csv), or a CSV")
    parser.add_argument("--out", help="output directory (default: <sweep>/report)")
    args = parser.parse_args(argv)
    try:
        report, *figures = write_report(args.sweep, args.out)
    except (NoRunsError, ValueError) as error:
        print(f"trainsim report: {error}", file=sys.stderr)
        return 2
    print(f"report -> {report}  ({', '.join(f.name for f in figures)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
