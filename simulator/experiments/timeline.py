"""`timeline=true`: each replicate's story as `timeline.json` and `timeline.png`.

`timeline.json` is in the Chrome trace-event format (the JSON object form; opens in
https://ui.perfetto.dev and chrome://tracing). Per replicate r, two processes:

- "replicate r: job", with a track "ledger": where the wall clock went, one complete
  ("X") event per span of simulator/reliability/timeline.py, named by its accounting
  category (useful, checkpoint, rework, restart, wait, degraded, replicas_out and any
  category the ledger adds); the spans of a category sum to its `<category>_h` column of
  the replicate's row. A track "phase": what the job was doing (compute, checkpoint,
  restart, wait; args: slowdown, share of replicas training). A track "job events":
  recoveries, drains, swaps as instant ("i") events.
- "replicate r: failures and repairs", one track per failure domain (gpu, node, switch,
  rack, scaleup, link, job, straggler, ...): each failure an instant event named by its
  cause, each repair's end ("repaired", "retired") on the track of what failed.

Names come as metadata ("M") events; timestamps are microseconds of simulated time
(`displayTimeUnit` only sets the viewer's unit). `timeline.png` is a Gantt-style figure of
the first replicate: one row per category, failures and repairs underneath.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.experiments.outputs import TIMELINE_FIGURE, TIMELINE_FILE, write_atomic
from simulator.experiments.runner import ReplicateResult
from simulator.reliability.metrics import CATEGORIES
from simulator.units import DAY, HOUR

if TYPE_CHECKING:
    from matplotlib.figure import Figure

US = 1e6  # trace-event timestamps are in microseconds
LEDGER, PHASE, JOB = 1, 2, 3  # thread ids of the job's process
#: chrome://tracing's reserved colour names per category (Perfetto colours by name).
COLOURS = {"useful": "good", "checkpoint": "thread_state_runnable", "rework": "terrible",
           "restart": "bad", "wait": "grey", "degraded": "yellow", "replicas_out": "olive"}


def categories(results: list[ReplicateResult]) -> list[str]:
    """The ledger's categories in its order, then any other the spans have."""
    seen = {s.category for r in results if r.timeline is not None for s in r.timeline.spans}
    return [*CATEGORIES, *sorted(seen - set(CATEGORIES))]


def trace_events(results: list[ReplicateResult]) -> dict:
    """The trace-event JSON object of `results` (each with its timeline)."""
    events: list[dict] = []
    for number, result in enumerate(results):
        events += _replicate_events(result, pid=2 * number + 1)
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"producer": "trainsim", "time": "simulated",
                          "categories": categories(results)}}


def _meta(name: str, pid: int, tid: int, value: object) -> dict:
    key = "sort_index" if name.endswith("sort_index") else "name"
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": {key: value}}


def _replicate_events(result: ReplicateResult, pid: int) -> list[dict]:
    r = int(result.row["replicate"])
    timeline = result.timeline
    assert timeline is not None
    job, domains = pid, pid + 1
    out = [_meta("process_name", job, 0, f"replicate {r}: job"),
           _meta("process_sort_index", job, 0, 2 * r),
           _meta("thread_name", job, LEDGER, "ledger (where the time went)"),
           _meta("thread_name", job, PHASE, "phase (what the job did)"),
           _meta("thread_name", job, JOB, "job events"),
           _meta("process_name", domains, 0, f"replicate {r}: failures and repairs"),
           _meta("process_sort_index", domains, 0, 2 * r + 1)]
    spans = sorted(timeline.spans, key=lambda s: s.start_s)
    for s in spans:
        event = {"name": s.category, "cat": "ledger", "ph": "X", "ts": s.start_s * US,
                 "dur": s.duration_s * US, "pid": job, "tid": LEDGER,
                 "args": {"phase": s.phase, "hours": s.duration_s / HOUR}}
        if s.category in COLOURS:
            event["cname"] = COLOURS[s.category]
        out.append(event)
    for p in timeline.phases:
        out.append({"name": p.phase, "cat": "phase", "ph": "X", "ts": p.start_s * US,
                    "dur": (p.end_s - p.start_s) * US, "pid": job, "tid": PHASE,
                    "args": {"slowdown": p.slowdown, "replicas_training": p.capacity}})
    for time_s, what in result.job_log:
        out.append({"name": what, "cat": "job", "ph": "i", "s": "t", "ts": time_s * US,
                    "pid": job, "tid": JOB})
    tracks: dict[str, int] = {}
    instants: list[dict] = []
    for f in result.records:
        instants.append({"name": f.component, "cat": "failure", "ph": "i", "s": "t",
                         "ts": f.time_s * US, "pid": domains,
                         "tid": tracks.setdefault(f.scope, len(tracks) + 1),
                         "args": {"scope": f.scope, "node": f.node, "gpu": f.index,
                                  "age_hours": None if f.age_s != f.age_s
                                  else f.age_s / HOUR}})
    for time_s, node, scope, outcome in result.repairs or []:
        instants.append({"name": outcome, "cat": "repair", "ph": "i", "s": "t",
                         "ts": time_s * US, "pid": domains,
                         "tid": tracks.setdefault(scope, len(tracks) + 1),
                         "args": {"scope": scope, "node": node}})
    out += [_meta("thread_name", domains, tid, scope) for scope, tid in tracks.items()]
    out += sorted(instants, key=lambda e: (e["tid"], e["ts"]))
    return out


def plot_timeline(result: ReplicateResult, order: list[str]) -> Figure:
    """A Gantt-style figure of one replicate: a row per ledger category with time (in the
    ledger's order), then its failures and the repairs' ends, in days."""
    # imported here: the command line imports this module, and matplotlib (its font
    # cache) only when a run asks for a timeline
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    timeline = result.timeline
    assert timeline is not None
    by_category: dict[str, list[tuple[float, float]]] = {}
    for s in timeline.spans:
        by_category.setdefault(s.category, []).append((s.start_s / DAY, s.duration_s / DAY))
    rows = [c for c in order if c in by_category]
    marks = [("failures", [f.time_s / DAY for f in result.records], "C3", "v"),
             ("repairs", [t / DAY for t, *_ in result.repairs or []], "C2", "^")]
    labels = [*rows, *(name for name, times, _, _ in marks if times)]
    fig = Figure(figsize=(10, 1.4 + 0.32 * len(labels)), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for y, category in enumerate(rows):
        colour = "C2" if category == "useful" else f"C{(y + 3) % 10}"
        ax.broken_barh(by_category[category], (y - 0.4, 0.8), facecolor=colour,
                       edgecolor=colour, linewidth=0.2)  # thin spans stay visible
    y = len(rows)
    for _name, times, colour, marker in marks:
        if times:
            ax.plot(times, [y] * len(times), marker, color=colour, ms=4, ls="none")
            y += 1
    end_days = result.row["horizon_h"] / 24
    ax.set_xlim(0, end_days)
    ax.set_yticks(range(len(labels)), [_with_hours(c, by_category) for c in labels],
                  fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("day")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"Replicate {int(result.row['replicate'])}: where the wall clock went "
                 f"(goodput {result.row['goodput']:.4f}, {int(result.row['failures'])} "
                 "failures)", fontsize="medium", loc="left")
    return fig


def _with_hours(label: str, by_category: dict[str, list[tuple[float, float]]]) -> str:
    spans = by_category.get(label)
    if spans is None:
        return label
    return f"{label} ({sum(d for _, d in spans) * 24:,.1f} h)"


def write_timeline(run_dir: str | Path, results: list[ReplicateResult]) -> list[Path]:
    """Write `timeline.json` (every replicate in `results`) and `timeline.png` (the
    first), atomically; return their paths."""
    run_dir = Path(run_dir)
    trace = trace_events(results)
    json_path = write_atomic(run_dir / TIMELINE_FILE,
                             lambda handle: json.dump(trace, handle, separators=(",", ":")))
    fig = plot_timeline(results[0], categories(results))
    png_path = write_atomic(run_dir / TIMELINE_FIGURE,
                            lambda handle: fig.savefig(handle, format="png"), binary=True)
    return [json_path, png_path]
