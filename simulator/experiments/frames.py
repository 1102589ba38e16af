"""A replicate's pandas tables, built only when a run asks for them (`events=true`,
`power.series=true`): the failure log, the event table, the facility's draw over time.

Apart from simulator/experiments/runner.py so that a run without them imports no pandas
(simulator/experiments/table.py says why).
"""

from __future__ import annotations

import pandas as pd

from simulator.reliability.failure_source import FailureRecord
from simulator.units import HOUR

FAILURE_COLUMNS = ["time_s", "node", "component", "index", "age_s", "scope"]
EVENT_COLUMNS = ["replicate", "time_hours", "event", "kind", "node", "gpu", "component",
                 "age_hours"]


def failure_frame(records: list[FailureRecord]) -> pd.DataFrame:
    """One row per failure: time_s, node, component, index, age_s, scope."""
    return pd.DataFrame([r.__dict__ for r in records], columns=FAILURE_COLUMNS)


def event_frame(log: pd.DataFrame, job_log: list[tuple[float, str]],
                replicate: int) -> pd.DataFrame:
    """Failures (`log`, a `failure_frame`), recoveries and planned drains (`job_log`) in
    time order, in the trace format (simulator/reliability/trace.py)."""
    failures = pd.DataFrame({
        "replicate": replicate, "time_hours": log.time_s / HOUR, "event": "failure",
        "kind": log.scope, "node": log.node, "gpu": log["index"],
        "component": log.component, "age_hours": log.age_s / HOUR})
    job = pd.DataFrame({"replicate": replicate,
                        "time_hours": [t / HOUR for t, _ in job_log],
                        "event": [e for _, e in job_log]})
    frames = [f for f in (failures, job) if not f.empty]
    if not frames:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    merged = pd.concat(frames, ignore_index=True).reindex(columns=EVENT_COLUMNS)
    merged = merged.astype({"node": "Int64", "gpu": "Int64"})
    return merged.sort_values("time_hours", kind="stable", ignore_index=True)


def power_frame(series: list[tuple[float, float]], end_s: float,
                replicate: int) -> pd.DataFrame:
    """One replicate's facility draw as steps: from time_h, until the next row's (the
    last until the end of the run), facility_mw."""
    times = [t for t, _ in series]
    return pd.DataFrame({"replicate": replicate, "time_h": [t / HOUR for t in times],
                         "until_h": [t / HOUR for t in times[1:]] + [end_s / HOUR],
                         "facility_mw": [w / 1e6 for _, w in series]})
