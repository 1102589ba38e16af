"""The report's figures (matplotlib, no pyplot state): each takes the per-configuration
table of `simulator.experiments.analysis.summarize` (columns `<metric>_mean`, `<metric>_ci`) and
returns a Figure.

Configurations are labelled by the settings that vary, wrapped onto several lines when
long; figures grow with the number of configurations and of label lines, so that labels
stay legible with many configurations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, NullFormatter, StrMethodFormatter

from simulator.experiments.analysis import format_value
from simulator.experiments.decision import Decision

LOST = ("checkpoint", "rework", "restart", "wait", "degraded")  # ledger categories
#: Lost categories drawn only when the rows have them (runs.csv of earlier versions
#: have no replicas_out_h) and they are not all zero.
LOST_IF_USED = ("replicas_out",)
LABEL_WIDTH = 34  # characters per line of a configuration label
#: Bar colours: the winner, configurations tied with the best, the others.
WINNER, TIED, OTHER = "C2", "C1", "C0"


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


def wrap(label: str, width: int = LABEL_WIDTH) -> str:
    """A `k=v, k=v` label on lines of about `width` characters, broken between settings
    (a single long setting stays whole)."""
    lines: list[str] = []
    for part in label.split(", "):
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += ", " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def _height(labels: list[str], per_line: float = 0.22, base: float = 1.8) -> float:
    """A figure height that gives every (wrapped) label its lines."""
    lines = sum(max(1, label.count("\n") + 1) for label in labels)
    return base + per_line * max(lines, 2) + 0.12 * len(labels)


def _figure(cols: int = 1, height: float = 4.5, width: float = 7.5):
    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, cols, squeeze=False, sharey=True)[0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.margins(y=0.02)
    return fig, axes


def _colours(names: list[str], decision: Decision | None) -> list[str]:
    if decision is None:
        return [OTHER] * len(names)
    return [WINNER if n == decision.winner else TIED if n in decision.tied else OTHER
            for n in names]


def plot_interval(table: pd.DataFrame, lines_by: list[str],
                  optima: dict[tuple, Optimum]) -> Figure:
    """Goodput (mean, 95% CI band) against the interval, one line per other setting,
    with Young's (dashed) and Daly's (dotted) optimum intervals where `optima` has them
    (blocking checkpoint policies only)."""
    fig, (ax,) = _figure(width=8.5)
    groups = table.groupby(lines_by, sort=False, dropna=False) if lines_by else [((), table)]
    shared = len(set(optima.values())) == 1
    for key, group in groups:
        g = group.sort_values("interval_min_mean")
        x, y, ci = g["interval_min_mean"], g["goodput_mean"], g["goodput_ci"].fillna(0)
        label = ", ".join(f"{display(c)}={format_value(v)}"
                          for c, v in zip(lines_by, key, strict=True))
        (line,) = ax.plot(x, y, marker="o", label=wrap(label) or "goodput")
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
    handles, names = ax.get_legend_handles_labels()
    if len(names) > 6:  # beside the axes, not over the curves
        fig.legend(handles, names, fontsize="x-small", loc="outside right upper")
    else:
        ax.legend(fontsize="small")
    return fig


def plot_lost(frame: pd.DataFrame, order: pd.Series) -> Figure:
    """Stacked bars: mean lost GPU-hours per run by category, per configuration."""
    categories = [*LOST, *(c for c in LOST_IF_USED
                           if f"{c}_h" in frame.columns and frame[f"{c}_h"].any())]
    lost = pd.DataFrame({c: frame[f"{c}_h"] * frame["gpus"] for c in categories})
    means = lost.groupby(frame["configuration"]).mean().reindex(order)
    names = [wrap(n) for n in means.index]
    fig, (ax,) = _figure(height=_height(names) + 0.3, width=9)
    left = pd.Series(0.0, index=means.index)
    for category in categories:
        ax.barh(names, means[category], left=left.to_numpy(), label=category)
        left += means[category]
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize="small")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("lost GPU-hours per run (mean over replicates)")
    ax.set_title("Where the lost GPU-hours went")
    fig.legend(fontsize="small", ncols=len(categories), loc="outside lower center",
               frameon=False)
    return fig


#: Panels of the comparison figure: column, title, unit (those the rows have are drawn).
PANELS = [("step_s", "step time", "seconds"),
          ("effective_tokens_per_s", "effective throughput", "tokens/s"),
          ("goodput", "goodput", "useful / wall-clock time"),
          ("usd_per_mtoken", "cost per million useful tokens", "$"),
          ("time_to_train_days", "time to train the budget", "days"),
          ("usd_per_useful_gpu_h", "cost per useful GPU-hour", "$")]


def plot_comparison(table: pd.DataFrame, panels: list[str],
                    decision: Decision | None) -> Figure:
    """Per configuration, one panel per metric in `panels` (mean, 95% CI error bars);
    the winner in green, configurations tied with the best in orange."""
    chosen = [p for p in PANELS if p[0] in panels]
    names = [wrap(n) for n in table["configuration"]]
    fig, axes = _figure(len(chosen), height=_height(names) + 0.5,
                        width=min(4.2 + 3.0 * len(chosen), 18))
    rows = range(len(table))
    colours = _colours(list(table["configuration"]), decision)
    for ax, (metric, title, unit) in zip(axes, chosen, strict=True):
        mean, ci = table[f"{metric}_mean"], table[f"{metric}_ci"].fillna(0)
        ax.barh(rows, mean.fillna(0), xerr=ci, capsize=3, color=colours)
        if metric == "effective_tokens_per_s" and "tokens_per_s_mean" in table:
            ax.scatter(table["tokens_per_s_mean"], rows, marker="|", s=250, color="k",
                       zorder=3, label="nominal (while running)")
            ax.legend(fontsize="x-small", loc="lower right", framealpha=0.9)
        if metric in ("effective_tokens_per_s",):
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        if mean.isna().all():
            ax.text(0.5, 0.5, "not available", transform=ax.transAxes, ha="center")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(unit)
        ax.tick_params(axis="x", labelsize="small")
    axes[0].set_yticks(rows, names, fontsize="small")
    axes[0].invert_yaxis()  # shared: all panels
    key = "" if decision is None else (
        "  (green: the winner; orange: tied with the best within the CI)"
        if decision.winner else "  (orange: tied with the best within the CI)")
    fig.suptitle(f"Configurations compared (mean, 95% CI){key}", fontsize="medium")
    return fig


def plot_paired(decision: Decision) -> Figure:
    """Each configuration minus the best one in the objective, with its paired 95% CI
    (common random numbers); a bar whose CI crosses zero is tied with the best."""
    o, diffs = decision.objective, decision.diffs
    names = [wrap(n) for n in diffs["configuration"]]
    fig, (ax,) = _figure(height=_height(names) + 0.6, width=9)
    rows = range(len(diffs))
    colours = [OTHER if worse else TIED for worse in diffs["worse"]]
    ax.barh(rows, diffs["diff"], xerr=diffs["paired_ci"].fillna(0), capsize=3,
            color=colours)
    ax.axvline(0, color="k", lw=1)
    best = float(decision.ranking.iloc[0])
    for row, d in zip(rows, diffs["diff"], strict=True):
        if best:  # a column of relative differences right of the axes
            ax.annotate(f"{d / abs(best):+.2%}", (1.01, row), xycoords=("axes fraction", "data"),
                        va="center", ha="left", fontsize="small")
    ax.set_yticks(rows, names, fontsize="small")
    ax.invert_yaxis()
    if o.column == "effective_tokens_per_s":
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel(f"difference in {o.title} ({o.unit}; {o.direction})")
    ax.set_title(f"Each configuration minus the best: {wrap(decision.best, 70)}\n"
                 "(mean over replicates, paired 95% CI; orange: tied)", fontsize="medium")
    return fig


def plot_power(series: dict[str, pd.DataFrame],
               failures: dict[str, pd.Series]) -> Figure:
    """The facility's draw over time (power.csv: `time_h`, `until_h`, `facility_mw`
    steps of one replicate), one panel per configuration, each failure a tick on top."""
    fig = Figure(figsize=(9, 1.2 + 1.8 * len(series)), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(series), 1, squeeze=False, sharex=True)[:, 0]
    for ax, (name, frame) in zip(axes, series.items(), strict=True):
        days = [*(frame["time_h"] / 24), frame["until_h"].iloc[-1] / 24]
        mw = [*frame["facility_mw"], frame["facility_mw"].iloc[-1]]
        ax.step(days, mw, where="post", lw=0.8, color="C0")
        hit = failures.get(name)
        if hit is not None and len(hit):
            ax.plot(hit / 24, [max(mw)] * len(hit), "v", ms=4, color="C3",
                    label="failure", ls="none")
            ax.legend(fontsize="x-small", loc="lower right")
        ax.set_ylabel("MW", fontsize="small")
        ax.set_title(wrap(name), fontsize="small", loc="left")
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("day (first replicate)")
    fig.suptitle("The facility's draw: drops at checkpoints (GPUs idle) and stops "
                 "(failures, restarts)", fontsize="medium")
    return fig
