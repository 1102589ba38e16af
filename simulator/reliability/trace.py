"""Failure traces: replay failures from a CSV file, and the event table a run writes.

A trace has one row per failure, columns (a header line is required):

    time_hours    when it happens (hours from the start), >= 0          required, or:
    timestamp     when it happens, ISO 8601 (no offset: UTC), at or
                  after failures.trace_start, which is hour 0
    kind          what fails: gpu, node, switch, rack, scaleup, job,     required, or
                  (`scope`, as in a fleet log, default node:)
                  link (a redundant cable: slower, not stopped),
                  straggler (the node turns slow) or sdc (GPU `gpu`
                  of the node silently corrupts the training state)
    node          physical node (0.. nodes + spares - 1): the node, the GPU's node,
                  or any node of the switch, rack or scale-up domain;
                  ignored for kind=job and kind=link                    required, or:
    host          the node's name, any string: names map to node indices in order of
                  first appearance (the map is written to trace_hosts.csv of the run)
    gpu           GPU index in its node, for kind=gpu and kind=sdc      default 0
    repair_hours  how long the hardware is out; empty: restart.repair_hours
                  (straggler: the time until it is found; empty:
                  failures.straggler_detect_hours; sdc: the time until
                  the corruption is detected; empty:
                  failures.sdc_detect_hours)
    component     the cause's name, for the event table                 default kind

So an incident log of `python -m simulator.fit` (timestamp, host, component, scope,
gpu) replays as is. With `failures.resample=true` each replicate replays a bootstrap of
the trace by host (`resample_by_host`).

The event table trainsim writes (`events=true`) has these columns too, plus `event`
(failure, recovered, planned), `replicate` and `age_hours`; its failure rows replay.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from simulator.errors import ConfigError, TrainsimWarning
from simulator.reliability.failures import SCOPES, SDC_KIND, SLOWDOWN_SCOPES, TraceFailure
from simulator.units import HOUR

KEY = "failures.trace_path"
REQUIRED = ("time_hours", "kind", "node")
#: Each required column, or the one that may stand in for it.
ALTERNATIVES = {"time_hours": "timestamp", "kind": "scope", "node": "host"}
#: Rows of these kinds name no node (a job fault, a redundant cable).
FLEET_KINDS = ("job", "link")
KINDS = (*SCOPES, *SLOWDOWN_SCOPES, SDC_KIND)


#: The largest trace file read: 256 MiB is some six million rows, a century of failures
#: of a 100,000-GPU cluster at Meta RSC-1's rate; larger is not a failure log.
MAX_BYTES = 256 * 2**20
#: The longest field, csv's own default limit (128 KiB): no column needs more.
MAX_FIELD = 128 * 2**10


def parse_time(text: str, what: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (a time without an offset is UTC).
    Raises ValueError naming `what`."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what}={text!r} is not an ISO 8601 time (e.g. "
                         "2025-03-01T14:05:00Z)") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@dataclass(frozen=True)
class Trace:
    """A trace's failures in time order, and its host names by node index (empty: the
    trace numbers its nodes)."""

    failures: tuple[TraceFailure, ...]
    hosts: tuple[str, ...] = ()


def read_trace(path: str | Path, nodes: int, gpus_per_node: int,
               replicate: int | None = None) -> tuple[TraceFailure, ...]:
    """The failures of read_trace_file (a trace in hours with node numbers)."""
    return read_trace_file(path, nodes, gpus_per_node, replicate).failures


def read_trace_file(path: str | Path, nodes: int, gpus_per_node: int,
                    replicate: int | None = None, start: datetime | None = None) -> Trace:
    """The failures listed in `path`, checked against a cluster of `nodes` nodes, in
    time order. `start`: the time of hour 0 of a trace with timestamps.

    The file is UTF-8 (a byte-order mark is allowed), at most MAX_BYTES, fields at most
    MAX_FIELD characters. Rows with an `event` other than "failure" are skipped (an
    exported event table replays as is); with a `replicate` column, only the rows of
    `replicate` are kept when it is given. Rows out of time order are sorted, with a
    TrainsimWarning naming the first; a row repeating another's time, kind, node and GPU
    is an error (a part fails once at one instant: a repeated row is a logging or
    concatenation mistake, and counting it twice or once would both be a guess); a trace
    without failure rows runs with a warning. Raises ConfigError naming the file, the
    line and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(KEY, str(path), "no such file")
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    failures, lines, tags = [], [], set()
    done = 0  # the last line of the last row read: a bad row starts after it
    try:
        header = reader.fieldnames or []
        done = reader.line_num
        columns = _columns(path, header, start)
        hosts: dict[str, int] = {}
        for row in reader:
            line = done = reader.line_num  # the row's last line (quotes may span lines)
            if None in row:
                raise ConfigError(KEY, str(path), f"line {line}: more fields than the "
                                  f"header's {len(header)}")
            if row.get("event", "failure") not in ("failure", "", None):
                continue
            tagged = replicate is not None and row.get("replicate") not in (None, "")
            if tagged:
                tag = _integer(row["replicate"], "replicate", path, line)
                tags.add(tag)
                if tag != replicate:
                    continue
            row = _normalised(row, columns, path, line, start, hosts, nodes)
            failures.append(_failure(row, path, line, nodes, gpus_per_node))
            lines.append(line)
    except csv.Error as exc:
        raise ConfigError(KEY, str(path), f"line {done + 1}: not a CSV row ({exc})") from None
    _check_replicate(path, header, replicate, tags, failures)
    return Trace(_in_order(path, failures, lines), tuple(hosts))


def _columns(path: Path, header: list[str], start: datetime | None) -> dict[str, str]:
    """Which column gives each required field (time_hours or timestamp, ...)."""
    columns = {}
    for name, other in ALTERNATIVES.items():
        if name in header and other in header:
            raise ConfigError(KEY, str(path), f"line 1: the header has both {name} and "
                              f"{other}: keep one")
        if name not in header and other not in header:
            raise ConfigError(KEY, str(path), f"line 1: the header lacks {name} (or "
                              f"{other}) (needs {', '.join(REQUIRED)} or "
                              f"{', '.join(ALTERNATIVES.values())})")
        columns[name] = name if name in header else other
    if columns["time_hours"] == "timestamp" and start is None:
        raise ConfigError("failures.trace_start", None, f"{path} has timestamps: set the "
                          "time of hour 0 (ISO 8601, e.g. 2025-01-01T00:00:00Z)")
    if columns["time_hours"] == "time_hours" and start is not None:
        raise ConfigError("failures.trace_start", start.isoformat(), f"{path} gives "
                          "time_hours, not timestamps: leave it null")
    return columns


def _normalised(row: dict, columns: dict[str, str], path: Path, line: int,
                start: datetime | None, hosts: dict[str, int], nodes: int) -> dict:
    """The row with time_hours, kind and node, from a timestamp, a scope and a host name
    (a new name takes the next node index)."""
    row = dict(row)
    if columns["kind"] == "scope":
        row["kind"] = (row.get("scope") or "").strip() or "node"
    if columns["time_hours"] == "timestamp":
        assert start is not None
        text = (row.get("timestamp") or "").strip()
        try:
            when = parse_time(text, "timestamp")
        except ValueError as exc:
            raise ConfigError(KEY, str(path), f"line {line}: {exc}") from None
        if when < start:
            raise ConfigError(KEY, str(path), f"line {line}: timestamp {text} is before "
                              f"failures.trace_start ({start.isoformat()})")
        row["time_hours"] = repr((when - start).total_seconds() / HOUR)
    if columns["node"] == "host":
        name = (row.get("host") or "").strip()
        if row["kind"].strip() in FLEET_KINDS:
            row["node"] = "0"
        elif not name:
            raise ConfigError(KEY, str(path), f"line {line}: host is empty")
        else:
            if name not in hosts:
                if len(hosts) == nodes:
                    raise ConfigError(KEY, str(path), f"line {line}: host {name!r} is host "
                                      f"number {nodes + 1} of the trace, beyond the "
                                      f"cluster's {nodes} nodes (job nodes and spares)")
                hosts[name] = len(hosts)
            row["node"] = str(hosts[name])
    return row


def resample_by_host(trace: tuple[TraceFailure, ...], nodes: int,
                     rng: np.random.Generator) -> tuple[TraceFailure, ...]:
    """A bootstrap of the trace by host: node i replays the whole history of a node
    drawn with replacement from all `nodes` (those without rows too); rows that name no
    node (job, link) stay as they are.

    Hosts, not failure inter-arrival blocks, are the unit: a host's failures depend on one
    another (a bad host fails again) and hosts differ (lemons), so whole host histories
    keep both, and every node is still observed over the trace's whole span; a block
    bootstrap of the fleet's inter-arrival times would need a block length and would
    scatter a host's repeats across nodes. A host drawn a second time would fail in
    lockstep with its first copy (several nodes down at the same instant, which no fleet
    shows and which drains a spare pool: README, "Bring your own fleet data"), so each
    further copy is rotated by a uniform offset, circularly over the trace's span (up to
    its last row): its gaps and count are kept, its place in time is not.
    """
    own: list[list[TraceFailure]] = [[] for _ in range(nodes)]
    fleet = []
    for failure in trace:
        (fleet if failure.kind in FLEET_KINDS else own[failure.node]).append(failure)
    span = max((f.time_s for f in trace), default=0.0)
    drawn, seen = [], set()
    for node, source in enumerate(rng.integers(nodes, size=nodes).tolist()):
        shift = float(rng.uniform(0.0, span)) if source in seen and span > 0 else 0.0
        seen.add(source)
        drawn += [replace(f, node=node, time_s=(f.time_s + shift) % span if shift else
                          f.time_s) for f in own[source]]
    return tuple(sorted((*fleet, *drawn), key=lambda f: f.time_s))


def read_text(path: Path, key: str = KEY, what: str = "trace") -> str:
    """The CSV file's text: UTF-8, within MAX_BYTES, every row within MAX_FIELD (errors
    name `key` and the line; `what` the file is, for their text)."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(key, str(path), f"is {size:,} bytes; a {what} is at most "
                          f"{MAX_BYTES:,} ({MAX_BYTES / 2**20:g} MiB)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(key, str(path), f"line {line}: not UTF-8 (byte "
                          f"0x{data[exc.start]:02x}); save the {what} as UTF-8") from None
    for number, row in enumerate(text.splitlines(), start=1):
        if len(row) > MAX_FIELD:
            raise ConfigError(key, str(path), f"line {number}: {len(row):,} characters; a "
                              f"row is at most {MAX_FIELD:,}")
    return text


def _check_replicate(path: Path, header: list[str], replicate: int | None,
                     tags: set[int], failures: list[TraceFailure]) -> None:
    """`failures.trace_replicate` must name a replicate the trace has (if it has any)."""
    if replicate is None:
        return
    if "replicate" not in header:
        if replicate != 0:
            raise ConfigError("failures.trace_replicate", replicate,
                              f"{path} has no replicate column: leave it 0")
        return
    if tags and replicate not in tags and not failures:
        shown = ", ".join(map(str, sorted(tags)[:10])) + (", ..." if len(tags) > 10 else "")
        raise ConfigError("failures.trace_replicate", replicate,
                          f"{path} has no rows of replicate {replicate}; it has {shown}")


def _in_order(path: Path, failures: list[TraceFailure],
              lines: list[int]) -> tuple[TraceFailure, ...]:
    """The failures sorted by time (a warning if they were not); repeats are an error."""
    if not failures:  # a quiet log is legal; the feasibility check warns about it
        return ()
    late = [i for i in range(1, len(failures)) if failures[i].time_s < failures[i - 1].time_s]
    if late:
        warnings.warn(f"{KEY}={path}: {len(late)} row(s) out of time order (first: line "
                      f"{lines[late[0]]}); replayed sorted by time_hours", TrainsimWarning,
                      stacklevel=3)
    order = sorted(range(len(failures)), key=lambda i: failures[i].time_s)
    seen: dict[tuple, int] = {}
    for i in order:
        f = failures[i]
        what = (f.time_s, f.kind, f.node if f.kind not in ("job", "link") else 0, f.gpu)
        if what in seen:
            raise ConfigError(KEY, str(path), f"line {lines[i]} repeats line {seen[what]} "
                              "(same time_hours, kind, node and gpu): a part fails once at "
                              "one instant; remove one")
        seen[what] = lines[i]
    return tuple(failures[i] for i in order)


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
