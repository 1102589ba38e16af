"""Failure traces: replay failures from a CSV file, and the event table a run writes.

A trace has one row per failure, columns (a header line is required):

    time_hours    when it happens (hours from the start), >= 0          required
    kind          what fails: gpu, node, switch, rack, scaleup, job,     required
                  link (a redundant cable: slower, not stopped) or
                  straggler (the node turns slow)
    node          physical node (0.. nodes + spares - 1): the node, the GPU's node,
                  or any node of the switch, rack or scale-up domain;
                  ignored for kind=job and kind=link                    required
    gpu           GPU index in its node, for kind=gpu                   default 0
    repair_hours  how long the hardware is out; empty: restart.repair_hours
                  (straggler: the time until it is found; empty:
                  failures.straggler_detect_hours)
    component     the cause's name, for the event table                 default kind

The event table trainsim writes (`events=true`) has these columns too, plus `event`
(failure, recovered, planned), `replicate` and `age_hours`; its failure rows replay.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from simulator.errors import ConfigError
from simulator.reliability.failures import SCOPES, SLOWDOWN_SCOPES, TraceFailure
from simulator.units import HOUR

KEY = "failures.trace_path"
REQUIRED = ("time_hours", "kind", "node")
KINDS = (*SCOPES, *SLOWDOWN_SCOPES)


def read_trace(path: str | Path, nodes: int, gpus_per_node: int,
               replicate: int | None = None) -> tuple[TraceFailure, ...]:
    """The failures listed in `path`, checked against a cluster of `nodes` nodes.

    Rows with an `event` other than "failure" are skipped (an exported event table
    replays as is); with a `replicate` column, only the rows of `replicate` are kept
    when it is given. Raises ConfigError naming the file, the line and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(KEY, str(path), "no such file")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(KEY, str(path), f"line 1: the header lacks {', '.join(missing)}"
                              f" (needs {', '.join(REQUIRED)})")
        failures = []
        for line, row in enumerate(reader, start=2):
            if row.get("event", "failure") not in ("failure", "", None):
                continue
            tagged = replicate is not None and row.get("replicate") not in (None, "")
            if tagged and _integer(row["replicate"], "replicate", path, line) != replicate:
                continue
            failures.append(_failure(row, path, line, nodes, gpus_per_node))
    return tuple(failures)


def _failure(row: dict, path: Path, line: int, nodes: int, gpus_per_node: int) -> TraceFailure:
    def bad(why: str) -> ConfigError:
        return ConfigError(KEY, str(path), f"line {line}: {why}")

    time_h = _number(row["time_hours"], "time_hours", path, line)
    if time_h < 0:
        raise bad(f"time_hours={row['time_hours']} must be zero or positive")
    kind = (row["kind"] or "").strip()
    if kind not in KINDS:
        raise bad(f"kind={kind!r} must be one of {', '.join(KINDS)}")
    node = 0 if kind in ("job", "link") else _integer(row["node"], "node", path, line)
    if not 0 <= node < nodes:
        raise bad(f"node={node} must be in 0..{nodes - 1} (job nodes and spares)")
    gpu = _integer(row.get("gpu") or "0", "gpu", path, line)
    if not 0 <= gpu < gpus_per_node:
        raise bad(f"gpu={gpu} must be in 0..{gpus_per_node - 1}")
    repair = row.get("repair_hours") or ""
    repair_s = None
    if repair.strip():
        repair_h = _number(repair, "repair_hours", path, line)
        if repair_h < 0:
            raise bad(f"repair_hours={repair} must be zero or positive")
        repair_s = repair_h * HOUR
    component = (row.get("component") or "").strip() or None
    return TraceFailure(time_h * HOUR, node, kind, gpu, repair_s, component)


def _number(text: str, column: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConfigError(KEY, str(path),
                          f"line {line}: {column}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(KEY, str(path), f"line {line}: {column}={text!r} is not finite")
    return value


def _integer(text: str, column: str, path: Path, line: int) -> int:
    value = _number(text, column, path, line)
    if value != int(value):
        raise ConfigError(KEY, str(path), f"line {line}: {column}={text!r} is not a whole "
                          "number")
    return int(value)
