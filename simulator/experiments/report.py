"""`python -m simulator.report results/<sweep> [--objective O] [--out DIR]`: the
decision a sweep supports, with figures chosen by what it varied.

- `report.md`: what was swept, mean ± CI per configuration, and the decision: the
  objective (`--objective`, by default effective tokens/s when the step time differs
  between configurations, goodput otherwise; simulator/experiments/decision.py), the winner only
  when its paired difference against every other configuration says so (else the
  configurations tied within the CI), the runner-up's loss with its paired CI;
- `goodput_vs_interval.png`: goodput against the checkpoint interval, 95% CI bands,
  Young's and Daly's optimum intervals for blocking checkpoint policies (when
  `checkpoint.interval_minutes` is swept);
- `lost_gpu_hours.png`: where the lost GPU-hours went, per configuration (always);
- `comparison.png`: step time, effective throughput, goodput, $ per million tokens and
  time to train, with error bars (when the step time differs or the rows have them);
- `paired_differences.png`: each configuration minus the best, with its paired CI.

Everything is written atomically into `results/<sweep>/report/` by default. The text of
`report.md` is written by `simulator.experiments.report_markdown`; with `--html`, the same
report as one self-contained `report.html` (figures embedded, tables sortable) next to it
(`simulator.experiments.report_html`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from simulator.experiments.analysis import (
    NoRunsError,
    config_columns,
    format_value,
    load_sweep,
    summarize,
    with_efficiency,
)
from simulator.experiments.decision import (
    OBJECTIVES,
    Objective,
    available,
    choose_objective,
    decide,
    varies,
)
from simulator.experiments.figures import (
    LOST,
    Optimum,
    display,
    plot_comparison,
    plot_interval,
    plot_lost,
    plot_paired,
    plot_power,
)
from simulator.experiments.outputs import (
    EVENTS_FILE,
    POWER_FILE,
    REPORT_DIR,
    SUMMARY_FILE,
    TIMELINE_FIGURE,
    write_atomic,
)
from simulator.experiments.report_html import html_page
from simulator.experiments.report_markdown import markdown, optima_text
from simulator.reliability.intervals import daly_interval, young_daly_interval
from simulator.units import HOUR, MINUTE

INTERVAL_KEY = "checkpoint.interval_minutes"
#: Checkpoint policies that write in the background (async) or mostly to memory
#: (in_memory): Young's and Daly's optimum (blocking write time C) is not theirs.
NON_BLOCKING = ("async", "in_memory")
#: Headline metrics of the report's results table: column, heading, format (the printed
#: summary of a run has its own: simulator/experiments/outputs.py SUMMARY_HEADLINE).
REPORT_HEADLINE = [("goodput", "goodput", "{:.4f}"),
                   ("interval_min", "interval (min)", "{:.1f}"),
                   ("lost_gpu_h", "lost GPU-h", "{:,.0f}"), ("failures", "failures", "{:.1f}")]
#: Decision metrics of the report's results table, shown when the rows have them.
REPORT_DECISION = [("step_s", "step (s)", "{:.3f}"), ("tokens_per_s", "tokens/s", "{:,.0f}"),
                   ("effective_tokens_per_s", "effective tokens/s", "{:,.0f}"),
                   ("usd_per_mtoken", "$ / Mtoken", "{:.4f}"),
                   ("mwh_per_mtoken", "MWh / Mtoken", "{:.3g}"),
                   ("time_to_train_days", "time to train (days)", "{:,.2f}")]
#: Without tokens (a fixed-step workload), cost and energy per useful GPU-hour compare
#: hardware (they ignore the step time: prefer $ / Mtoken when there is a model).
PER_GPU_HOUR = [("usd_per_useful_gpu_h", "$ / useful GPU-h", "{:.3f}"),
                ("kwh_per_useful_gpu_h", "kWh / useful GPU-h", "{:.3f}")]
REQUIRED = ["seed", "replicate", "gpus", "goodput", "interval_min", "lost_gpu_h", "failures",
            "step_s", "useful_h", *(f"{c}_h" for c in LOST)]
#: Every figure the report writes (and, last, names of earlier versions): an earlier
#: report's figure that this one does not draw is removed.
FIGURES = ("goodput_vs_interval.png", "lost_gpu_hours.png", "comparison.png",
           "paired_differences.png", "power.png", TIMELINE_FIGURE, "cluster_comparison.png")
#: At most this many configurations' power series in power.png (the first in job order).
MAX_POWER_PANELS = 6
HARDWARE = ("topology_config", "cluster_config")
HTML_FILE = "report.html"  # --html: report.md as one self-contained page


def labels(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's configuration as overrides, e.g. `checkpoint=fixed, topology=x`."""
    if not columns:
        return pd.Series("all runs", index=frame.index)
    return frame[columns].apply(lambda row: ", ".join(
        f"{display(c)}={format_value(row[c])}" for c in columns), axis=1)


def write_report(path: str | Path, out: str | Path | None = None,
                 objective: str | None = None, html: bool = False) -> list[Path]:
    """Write the figures and `report.md` for the sweep at `path` (and `report.html`
    with `html`); return the paths written, report.md first, report.html second.
    `objective`: a key of `simulator.experiments.decision.OBJECTIVES`
    (None: the default for what the sweep varies). Raises ValueError on a table that
    is not trainsim's or an objective the rows do not have."""
    path = Path(path)
    frame = load_sweep(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a trainsim summary table: no {', '.join(missing)}")
    chosen, reason = choose_objective(frame, objective)
    frame = with_efficiency(frame)
    sweep_dir = path if path.is_dir() else path.parent
    out = Path(out) if out is not None else sweep_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    configs = config_columns(frame, drop_constant=True)
    frame = frame.assign(configuration=labels(frame, configs))
    shown = _shown_metrics(frame, configs, chosen)
    table = summarize(frame, by=configs, metrics=list(dict.fromkeys(
        [m for m, _, _ in shown] + [c for c in ["tokens_per_s"] if c in frame])))
    table.insert(0, "configuration", labels(table, configs))
    decision = decide(frame, chosen) if len(table) > 1 else None
    figures: dict[str, str] = {}  # file name -> caption
    notes: dict[str, list[str]] = {}  # file name -> lines under it
    if INTERVAL_KEY in configs:
        lines_by = [c for c in configs if c != INTERVAL_KEY]
        marks = optimum_intervals(frame, lines_by)
        optima, skipped = marks if marks is not None else ({}, set())
        notes["goodput_vs_interval.png"] = optima_text(optima, skipped, lines_by,
                                                       marks is None)
        _save(plot_interval(table, lines_by, optima), out / "goodput_vs_interval.png")
        figures["goodput_vs_interval.png"] = "Goodput against the checkpoint interval"
    _save(plot_lost(frame, table["configuration"]), out / "lost_gpu_hours.png")
    figures["lost_gpu_hours.png"] = "Where the lost GPU-hours went"
    panels = _comparison_panels(frame, configs, chosen)
    if decision is not None and panels:
        _save(plot_comparison(table, panels, decision), out / "comparison.png")
        figures["comparison.png"] = "The configurations compared"
    if decision is not None and not decision.diffs.empty:
        _save(plot_paired(decision), out / "paired_differences.png")
        figures["paired_differences.png"] = (f"Each configuration against the best, in "
                                             f"{chosen.title} (paired differences)")
    power = power_series(sweep_dir, configs)
    if power:
        _save(plot_power(*power), out / "power.png")
        figures["power.png"] = ("The facility's draw over one replicate "
                                "(runs with power.series=true)")
    story = first_timeline(sweep_dir, configs)
    if story is not None:
        figure, label = story
        write_atomic(out / TIMELINE_FIGURE, lambda handle: handle.write(figure.read_bytes()),
                     binary=True)
        figures[TIMELINE_FIGURE] = (f"Where one replicate's wall clock went: {label} "
                                    "(runs with timeline=true; timeline.json beside it "
                                    "opens in Perfetto)")
    for stale in set(FIGURES) - set(figures):  # from an earlier report of this sweep
        (out / stale).unlink(missing_ok=True)
    text = markdown(frame, table, path, configs, shown, decision, reason, figures, notes)
    report = out / "report.md"
    write_atomic(report, lambda handle: handle.write(text))
    page = out / HTML_FILE
    if not html:
        page.unlink(missing_ok=True)  # an earlier report's page would disagree with this one
        return [report, *(out / name for name in figures)]
    document = html_page(text, out, title=f"trainsim sweep report: {path.name}")
    write_atomic(page, lambda handle: handle.write(document))
    return [report, page, *(out / name for name in figures)]


def _shown_metrics(frame: pd.DataFrame, configs: list[str],
                   objective: Objective) -> list[tuple[str, str, str]]:
    """The results table's metrics: the objective first, then goodput and the decision
    metrics the rows have, then the rest of the headline."""
    first = [m for m in REPORT_HEADLINE + REPORT_DECISION if m[0] == objective.column]
    decision = [m for m in REPORT_DECISION if available(frame, m[0])]
    if not (varies(frame["step_s"]) or available(frame, "tokens_per_s")):
        decision = [m for m in decision if m[0] != "step_s"]
    if any(c in configs for c in HARDWARE) and not available(frame, "usd_per_mtoken"):
        decision += [m for m in PER_GPU_HOUR if available(frame, m[0])]
    rest = [REPORT_HEADLINE[0], *decision, *REPORT_HEADLINE[1:]]
    return first + [m for m in rest if m not in first]


def _comparison_panels(frame: pd.DataFrame, configs: list[str],
                       objective: Objective) -> list[str]:
    """The comparison figure's panels, or none when it would only repeat goodput."""
    tokens = [c for c in ("effective_tokens_per_s", "usd_per_mtoken", "time_to_train_days")
              if available(frame, c)]
    hardware = any(c in configs for c in HARDWARE)
    if not (tokens or varies(frame["step_s"]) or hardware or objective.column != "goodput"):
        return []
    panels = ["step_s"] if varies(frame["step_s"]) else []
    panels += [tokens[0]] if tokens[:1] == ["effective_tokens_per_s"] else []
    panels += ["goodput", *(c for c in tokens if c != "effective_tokens_per_s")]
    if not tokens and hardware and available(frame, "usd_per_useful_gpu_h"):
        panels.append("usd_per_useful_gpu_h")
    return panels


#: The row columns Young's and Daly's marks are computed from.
OPTIMUM_COLUMNS = ("checkpoint_policy", "checkpoint_write_min", "job_mtbi_h")


def optimum_intervals(frame: pd.DataFrame, lines_by: list[str]
                      ) -> tuple[dict[tuple, Optimum], set[tuple]] | None:
    """Young's and Daly's intervals per line (as policies.py computes them), from the
    rows alone: the write time C (`checkpoint_write_min`, derived from the model's size
    when that sets it) and the job's MTBI M (`job_mtbi_h`). Lines of a non-blocking
    checkpoint policy (async, in_memory) get none: they are returned as skipped. Lines
    without a finite M (no failures), or whose rows disagree on C, M or the policy, get
    none either. None when the table has no such columns (written before rows carried
    their configuration)."""
    if any(c not in frame.columns for c in OPTIMUM_COLUMNS):
        return None
    found: dict[tuple, Optimum] = {}
    skipped: set[tuple] = set()
    groups = frame.groupby(lines_by, sort=False, dropna=False) if lines_by else [((), frame)]
    for key, rows in groups:
        key = tuple(format_value(v) for v in (key if isinstance(key, tuple) else (key,)))
        values = rows[list(OPTIMUM_COLUMNS)].drop_duplicates()
        policy, write_min, mtbi_h = values.iloc[0]
        if policy in NON_BLOCKING:
            skipped.add(key)
            continue
        c, m = float(write_min) * MINUTE, float(mtbi_h) * HOUR
        if len(values) > 1 or not (math.isfinite(m) and math.isfinite(c) and c > 0):
            continue
        found[key] = Optimum(young_daly_interval(None, c, m) / MINUTE,
                             daly_interval(None, c, m) / MINUTE, c / MINUTE, m / HOUR)
    return found, skipped


# ---- writing -----------------------------------------------------------------------------


def power_series(sweep_dir: Path, configs: list[str]
                 ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series]] | None:
    """Each run's power.csv (a sweep's job folders, or the run's own folder) by its
    configuration label, with the failure times of events.csv when it was written."""
    dirs = [sweep_dir] if (sweep_dir / POWER_FILE).is_file() else sorted(
        (d for d in sweep_dir.iterdir() if (d / POWER_FILE).is_file()
         and (d / SUMMARY_FILE).is_file()), key=lambda d: (not d.name.isdigit(), d.name))
    series: dict[str, pd.DataFrame] = {}
    failures: dict[str, pd.Series] = {}
    for run in dirs[:MAX_POWER_PANELS]:
        summary = pd.read_csv(run / SUMMARY_FILE)
        name = labels(summary, [c for c in configs if c in summary.columns]).iloc[0] \
            if configs else run.name
        frame = pd.read_csv(run / POWER_FILE)
        series[name] = frame[frame["replicate"] == frame["replicate"].iloc[0]]
        if (run / EVENTS_FILE).is_file():
            events = pd.read_csv(run / EVENTS_FILE)
            first = events[(events["replicate"] == frame["replicate"].iloc[0])
                           & (events["event"] == "failure")]
            failures[name] = first["time_hours"]
    return (series, failures) if series else None


def first_timeline(sweep_dir: Path, configs: list[str]) -> tuple[Path, str] | None:
    """The timeline.png of the run at `sweep_dir`, else of its first job that has one
    (job order), with the configuration's label; None without any."""
    dirs = [sweep_dir] if (sweep_dir / TIMELINE_FIGURE).is_file() else sorted(
        (d for d in sweep_dir.iterdir() if (d / TIMELINE_FIGURE).is_file()
         and (d / SUMMARY_FILE).is_file()), key=lambda d: (not d.name.isdigit(),
                                                           int(d.name) if d.name.isdigit()
                                                           else 0, d.name))
    if not dirs:
        return None
    summary = pd.read_csv(dirs[0] / SUMMARY_FILE)
    shown = [c for c in configs if c in summary.columns]
    return dirs[0] / TIMELINE_FIGURE, labels(summary, shown).iloc[0] if shown else dirs[0].name


def _save(fig: Figure, path: Path) -> None:
    write_atomic(path, lambda handle: fig.savefig(handle, format="png"), binary=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.report",
                                     description="The decision a sweep supports: figures "
                                                 "and a markdown summary.")
    parser.add_argument("sweep", help="results/<sweep> (runs.csv or */summary.csv), or a CSV")
    parser.add_argument("--objective", choices=list(OBJECTIVES),
                        help="what decides (default: effective_tokens_per_s when the step "
                             "time differs between configurations, else goodput)")
    parser.add_argument("--out", help="output directory (default: <sweep>/report)")
    parser.add_argument("--html", action="store_true",
                        help="also write report.html: the report as one self-contained "
                             "page (figures embedded, tables sortable)")
    args = parser.parse_args(argv)
    try:
        report, *figures = write_report(args.sweep, args.out, args.objective, args.html)
    except (NoRunsError, ValueError) as error:
        print(f"trainsim report: {error}", file=sys.stderr)
        return 2
    print(f"report -> {report}  ({', '.join(f.name for f in figures)})")
    return 0

