"""The text of `python -m simulator.report`: `report.md` from the summarised table.

`markdown` writes what was swept, the results table (mean ± CI), the decision with its
paired table, and the figures with their notes; `optima_text` the notes under the
goodput-against-interval figure. The tables and figures are chosen in
`simulator.experiments.report`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulator.experiments.analysis import config_columns, format_value
from simulator.experiments.decision import OBJECTIVES, Decision
from simulator.experiments.figures import Optimum, display
from simulator.reliability.metrics import CONFIG_COLUMNS

__all__ = ["markdown", "optima_text"]


def markdown(frame: pd.DataFrame, table: pd.DataFrame, path: Path, configs: list[str],
             metrics: list[tuple[str, str, str]], decision: Decision | None, reason: str,
             figures: dict[str, str], notes: dict[str, list[str]]) -> str:
    """The report: what was swept, the results table, the decision, the figures."""
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
    out += _as_run(frame, configs)
    out += ["", "## Results", "",
            "Mean ± 95% confidence half-width (Student t) over replicates.", "",
            "| " + " | ".join([*map(display, configs), "n", *(h for _, h, _ in metrics)])
            + " |", "|" + "---|" * (len(configs) + 1 + len(metrics))]
    for _, row in table.iterrows():
        cells = [format_value(row[c]) for c in configs] + [str(row["n"])]
        cells += [_mean_ci(row[f"{m}_mean"], row[f"{m}_ci"], f) for m, _, f in metrics]
        out.append("| " + " | ".join(cells) + " |")
    if decision is not None:
        out += _decision(decision, reason, table)
    out += ["", "## Figures", ""]
    for name, caption in figures.items():
        out += [f"![{caption}]({name})", "", *notes.get(name, [])]
        out += [""] if name in notes else []
    return "\n".join(out).rstrip() + "\n"


def _as_run(frame: pd.DataFrame, configs: list[str]) -> list[str]:
    """The rows' own configuration columns (CONFIG_COLUMNS): those equal in every row with
    their value, and the names of those that change with the configuration."""
    present = [c for c in CONFIG_COLUMNS if c in frame.columns and c not in configs]
    same = [c for c in present if frame[c].nunique(dropna=False) == 1]
    shown = [f"{c}={format_value(frame[c].iloc[0])}" for c in same
             if not pd.isna(frame[c].iloc[0])]
    out = ["", "As run, in every row: " + ", ".join(shown) + "."] if shown else []
    changing = [c for c in present if c not in same]
    if changing:
        out += ["", "Changing with the configuration: "
                + ", ".join(f"`{c}`" for c in changing) + "."]
    return out


def _decision(d: Decision, reason: str, table: pd.DataFrame) -> list[str]:
    """The objective, the winner or the tie, the runner-up's loss, the paired table."""
    o = d.objective
    means = table.set_index("configuration")
    top = means.loc[d.best]
    value = _mean_ci(top[f"{o.column}_mean"], top[f"{o.column}_ci"], o.fmt)
    value += f" {o.unit}" if o.column != "goodput" else ""
    out = ["", "## Decision", "",
           f"Objective: **{o.title}** (`{o.column}`, {o.direction}); {reason}. "
           f"`--objective {{{','.join(OBJECTIVES)}}}` decides by another.", ""]
    if d.missing:
        out += [f"Not compared: {', '.join(d.missing)} (no {o.column}; it needs "
                f"{o.needs}).", ""]
    if d.problem is not None:
        out += [f"No winner: {d.problem}.", "",
                f"Best by mean: {d.best}, {value} (n={int(top['n'])})."]
        if d.diffs.empty:
            return out
    elif d.winner is not None:
        out.append(f"Winner: **{d.winner}**, {value} (n={int(top['n'])}): better than every "
                   "other configuration, the paired 95% CI of each difference excluding "
                   "zero.")
    else:
        tied = ", ".join(f"**{c}**" for c in d.tied)
        out.append(f"No winner: tied within the CI: {tied} (their paired 95% CI against "
                   f"the best by mean, {d.best} at {value}, includes zero). More replicates "
                   "narrow the CI.")
    runner = d.runner_up
    if runner is not None:
        out += ["", f"Runner-up: {runner['configuration']} {_verdict(d, runner)}."]
    out += ["", "Every configuration against the best by mean, replicate by replicate: all "
            "ran the same seeds, so replicate r saw the same failures in all of them "
            "(common random numbers) and much of the noise cancels in the difference. The "
            "unpaired (Welch) interval of the same difference is for comparison.", "",
            f"| configuration | {o.title} | Δ {o.title} | Δ % | paired 95% CI | "
            "unpaired 95% CI | n | verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in d.diffs.itertuples():
        row = means.loc[r.configuration]
        pct = r.diff / abs(d.ranking.iloc[0]) if d.ranking.iloc[0] else float("nan")
        verdict = "worse" if r.worse else "identical" if _identical(r.diff, r.paired_ci) \
            else "tied"
        out.append(f"| {r.configuration} | "
                   f"{_mean_ci(row[f'{o.column}_mean'], row[f'{o.column}_ci'], o.fmt)} | "
                   f"{_signed(r.diff, o.fmt)} | {_percent(pct, sign=True)} | "
                   f"± {o.fmt.format(r.paired_ci)} | ± {o.fmt.format(r.unpaired_ci)} | "
                   f"{r.n} | {verdict} |")
    return out


def _verdict(d: Decision, row: pd.Series) -> str:
    """How `row` (a configuration's paired difference) compares with the best."""
    o = d.objective
    if _identical(row["diff"], row["paired_ci"]):
        return f"is identical to {d.best} in every replicate (a difference of exactly zero)"
    best = float(d.ranking.iloc[0])
    size = o.fmt.format(abs(row["diff"])) + (f" {o.unit}" if o.column != "goodput" else "")
    if best:
        size += f" ({_percent(abs(row['diff'] / best))})"
    ci = f"± {o.fmt.format(row['paired_ci'])} (paired 95% CI)"
    if row["worse"]:
        return f"is worse by {size} {ci}"
    return f"is behind by {size} {ci}: the CI includes zero"


def _percent(share: float, sign: bool = False) -> str:
    """A share as a percentage with one decimal, two significant digits below 0.1%."""
    text = f"{share:{'+' if sign else ''}.1%}"
    if share and abs(share) < 0.001:
        text = f"{share * 100:{'+' if sign else ''}.2g}%"
    return text


def _identical(diff: float, ci: float) -> bool:
    return diff == 0 and (ci == 0 or pd.isna(ci))


def _signed(value: float, fmt: str) -> str:
    text = fmt.format(abs(value))
    return ("-" if value < 0 else "+") + text


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


def optima_text(optima: dict[tuple, Optimum], skipped: set[tuple],
                lines_by: list[str], no_columns: bool = False) -> list[str]:
    """One line per distinct optimum (one for all lines when they share it), and why
    lines have none."""
    shared = len(set(optima.values())) == 1
    lines = []
    for key, o in sorted(optima.items()):
        where = ", ".join(f"{display(c)}={v}" for c, v in zip(lines_by, key, strict=True))
        lines.append(f"- Optimum interval: Young {o.young_min:.1f} min, Daly {o.daly_min:.1f}"
                     f" min (write time C = {o.write_min:g} min, job MTBI M = {o.mtbi_h:.1f} h)"
                     + ("" if shared or not where else f" for {where}") + ".")
    lines = lines[:1] if shared else lines
    if skipped:
        lines.append("- No Young/Daly marks for non-blocking checkpoint policies (async, "
                     "in_memory): they do not stop the job for the write time C that the "
                     "optimum trades against.")
    if no_columns:
        lines.append("- Young/Daly marks omitted: the rows have no checkpoint_policy and "
                     "checkpoint_write_min columns (a table written before rows carried "
                     "their configuration); run the sweep again.")
    return lines

