"""`timeline=true`: timeline.json is a valid Chrome trace (the JSON object format of the
Trace Event Format document, "Trace Event Format", Google, 2016: required keys per phase
type, metadata names, monotone timestamps per track) and its spans sum, per ledger
category, to the replicate's `<category>_h` columns, which the ledger computes apart
from the spans; every failure of events.csv is an instant on its domain's track."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict

import pandas as pd
import pytest

from simulator.api import load_scenario, simulate
from simulator.experiments.runner import run_replicate
from simulator.experiments.timeline import trace_events
from simulator.reliability.metrics import CATEGORIES
from simulator.units import HOUR
from tests.clirun import describe, run_cli

US = 1e6
PHASES = {"X", "i", "M"}
METADATA = {"process_name": "name", "thread_name": "name",
            "process_sort_index": "sort_index", "thread_sort_index": "sort_index"}


def check_trace(trace: dict) -> list[dict]:
    """Assert the trace-event format; return its events."""
    assert set(trace) >= {"traceEvents"} and isinstance(trace["traceEvents"], list)
    assert trace.get("displayTimeUnit", "ms") in ("ms", "ns")
    events = trace["traceEvents"]
    named_processes, named_threads = set(), set()
    last: dict[tuple[int, int], float] = {}
    busy_until: dict[tuple[int, int], float] = {}
    for e in events:
        assert e["ph"] in PHASES, e
        assert isinstance(e["name"], str) and e["name"], e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
        if e["ph"] == "M":
            assert e["name"] in METADATA, e
            assert METADATA[e["name"]] in e["args"], e
            if e["name"] == "process_name":
                named_processes.add(e["pid"])
            elif e["name"] == "thread_name":
                named_threads.add((e["pid"], e["tid"]))
            continue
        track = (e["pid"], e["tid"])
        assert isinstance(e["ts"], int | float) and math.isfinite(e["ts"]) and e["ts"] >= 0
        assert e["ts"] >= last.get(track, -math.inf), f"timestamps go back on {track}: {e}"
        last[track] = e["ts"]
        if e["ph"] == "X":
            assert isinstance(e["dur"], int | float) and e["dur"] >= 0, e
            # complete events of one track do not overlap (they nest nowhere here)
            assert e["ts"] >= busy_until.get(track, -math.inf) - 1e-6 * max(1.0, e["ts"]), e
            busy_until[track] = e["ts"] + e["dur"]
        else:
            assert e["s"] in ("g", "p", "t"), e
    assert {pid for pid, _ in last} <= named_processes
    assert set(last) <= named_threads
    return events


def span_hours(events: list[dict], pid: int) -> dict[str, float]:
    """Hours per category on the ledger track of process `pid`."""
    out: dict[str, float] = defaultdict(float)
    for e in events:
        if e["ph"] == "X" and e["pid"] == pid and e.get("cat") == "ledger":
            out[e["name"]] += e["dur"] / US / HOUR
    return out


def job_pid(events: list[dict], replicate: int) -> int:
    return next(e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"
                and e["args"]["name"] == f"replicate {replicate}: job")


def assert_sums_match(hours: dict[str, float], row: dict | pd.Series) -> None:
    assert set(hours) <= set(CATEGORIES)
    for category in CATEGORIES:
        expected = row[f"{category}_h"]
        assert hours.get(category, 0.0) == pytest.approx(expected, rel=1e-9, abs=1e-12), \
            category


#: Runs that reach every ledger category, with the category each must show.
CASES = {
    "spare_swap": ([], "rework"),
    "async": (["checkpoint=async"], "rework"),
    "in_memory": (["checkpoint=in_memory"], "rework"),
    "per_replica": (["restart=per_replica", "workload=llama3_70b"], "replicas_out"),
    "no_spares": (["cluster.spare_nodes=0", "restart.repair_hours=48"], "wait"),
    "stragglers": (["failures.straggler_mtbf_hours=20000", "failures.straggler_slowdown=1.5"],
                   "degraded"),
    "sdc": (["failures.sdc_mtbf_hours=20000", "failures.sdc_detect_hours=5"], "rework"),
    "elastic": (["restart=elastic", "cluster.spare_nodes=0"], "degraded"),
    "steps": (["mode=steps", "horizon_days=2"], "checkpoint"),
    "input_stall": (["checkpoint=async", "storage.read_gb_per_s=3",
                     "storage.input.bytes_per_step=20e9", "storage.input.prefetch_steps=8"],
                    "input_stall"),
    "storage_outage": (["storage.outage_at_hours=[5,30]", "storage.outage_minutes=90",
                        "storage.input.bytes_per_step=1e9"], "input_stall"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_spans_sum_to_the_ledger_columns(case):
    overrides, reached = CASES[case]
    scenario = dataclasses.replace(load_scenario(overrides), timeline=True)
    result = run_replicate(scenario, 0)
    assert result.row[f"{reached}_h"] > 0  # the case reaches what it is here for
    if case == "sdc":
        assert result.row["sdc_events"] > 0  # a rollback past durable checkpoints
    trace = json.loads(json.dumps(trace_events([result])))
    events = check_trace(trace)
    pid = job_pid(events, 0)
    assert_sums_match(span_hours(events, pid), result.row)
    # the ledger track tiles the wall clock: each span starts where the last ended
    ledger = [e for e in events if e["ph"] == "X" and e["pid"] == pid and e["cat"] == "ledger"]
    ends = [0.0, *(e["ts"] + e["dur"] for e in ledger)]
    for e, end in zip(ledger, ends, strict=False):
        assert e["ts"] == pytest.approx(end, rel=1e-12, abs=1e-3)
    assert ends[-1] == pytest.approx(result.row["horizon_h"] * HOUR * US, rel=1e-12)
    # the phase track too, and its compute time is the useful, rework and degraded time
    phases = [e for e in events if e["ph"] == "X" and e["pid"] == pid and e["cat"] == "phase"]
    assert sum(e["dur"] for e in phases) / US / HOUR == pytest.approx(
        result.row["horizon_h"], rel=1e-12)


def test_the_command_writes_a_trace_and_a_figure(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(["timeline=true", "events=true", "replicates=2", "horizon_days=10",
                    "failures.node_mtbf_hours=2000", f"hydra.run.dir={run_dir}"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    rows = pd.read_csv(run_dir / "summary.csv")
    log = pd.read_csv(run_dir / "events.csv")
    events = check_trace(json.loads((run_dir / "timeline.json").read_text()))
    for _, row in rows.iterrows():
        r = int(row["replicate"])
        assert_sums_match(span_hours(events, job_pid(events, r)), row)
        failures_pid = job_pid(events, r) + 1
        name = next(e["args"]["name"] for e in events if e["ph"] == "M"
                    and e["pid"] == failures_pid and e["name"] == "process_name")
        assert name == f"replicate {r}: failures and repairs"
        instants = [e for e in events if e["pid"] == failures_pid and e["ph"] == "i"]
        failed = log[(log["replicate"] == r) & (log["event"] == "failure")]
        assert len(failed) > 0
        assert sorted(e["ts"] / US / HOUR for e in instants if e["cat"] == "failure") == \
            pytest.approx(sorted(failed["time_hours"]), rel=1e-12)
        tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"
                  and e["pid"] == failures_pid and e["name"] == "thread_name"}
        assert {tracks[e["tid"]] for e in instants} == set(failed["kind"])
        # a node failure's repair (48 h by default, after detection) ends on its track
        repairs = [e for e in instants if e["cat"] == "repair"]
        assert all(tracks[e["tid"]] == "node" for e in repairs)
        assert 0 < len(repairs) <= len(failed)
    png = (run_dir / "timeline.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_simulate_returns_the_trace_with_the_rows():
    rows = simulate(["timeline=true", "replicates=2", "horizon_days=10",
                     "failures.node_mtbf_hours=2000"])
    events = check_trace(rows.attrs["timeline"])
    for _, row in rows.iterrows():
        assert_sums_match(span_hours(events, job_pid(events, int(row["replicate"]))), row)
    assert "timeline" not in simulate(["horizon_days=1"]).attrs
