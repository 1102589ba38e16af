"""Failure traces: replay failures from a CSV file, and the event table a run writes.

A trace has one row per failure, columns (a header line is required):

    time_hours    when it happens (hours from the start), >= 0          required
    kind          what fails: gpu, node, switch, rack, scaleup, job,     required
                  link (a redundant cable: slower, not stopped),
                  straggler (the node turns slow) or sdc (GPU `gpu`
                  of the node silently corrupts the training state)
    node          physical node (0.. nodes + spares - 1): the node, the GPU's node,
                  or any node of the switch, rack or scale-up domain;
                  ignored for kind=job and kind=link                    required
    gpu           GPU index in its node, for kind=gpu and kind=sdc      default 0
    repair_hours  how long the hardware is out; empty: restart.repair_hours
                  (straggler: the time until it is found; empty:
                  failures.straggler_detect_hours; sdc: the time until
                  the corruption is detected; empty:
                  failures.sdc_detect_hours)
    component     the cause's name, for the event table                 default kind

The event table trainsim writes (`events=true`) has these columns too, plus `event`
(failure, recovered, planned), `replicate` and `age_hours`; its failure rows replay.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

from simulator.errors import ConfigError, TrainsimWarning
from simulator.reliability.failures import SCOPES, SDC_KIND, SLOWDOWN_SCOPES, TraceFailure
from simulator.units import HOUR

KEY = "failures.trace_path"
REQUIRED = ("time_hours", "kind", "node")
KINDS = (*SCOPES, *SLOWDOWN_SCOPES, SDC_KIND)


#: The largest trace file read: 256 MiB is some six million rows, a century of failures
#: of a 100,000-GPU cluster at Meta RSC-1's rate; larger is not a failure log.
MAX_BYTES = 256 * 2**20
#: The longest field, csv's own default limit (128 KiB): no column needs more.
MAX_FIELD = 128 * 2**10


def read_trace(path: str | Path, nodes: int, gpus_per_node: int,
               replicate: int | None = None) -> tuple[TraceFailure, ...]:
    """The failures listed in `path`, checked against a cluster of `nodes` nodes, in
    time order.

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
    text = _text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    failures, lines, tags = [], [], set()
    done = 0  # the last line of the last row read: a bad row starts after it
    try:
        header = reader.fieldnames or []
        done = reader.line_num
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ConfigError(KEY, str(path), f"line 1: the header lacks {', '.join(missing)}"
                              f" (needs {', '.join(REQUIRED)})")
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
            failures.append(_failure(row, path, line, nodes, gpus_per_node))
            lines.append(line)
    except csv.Error as exc:
        raise ConfigError(KEY, str(path), f"line {done + 1}: not a CSV row ({exc})") from None
    _check_replicate(path, header, replicate, tags, failures)
    return _in_order(path, failures, lines)


def _text(path: Path) -> str:
    """The file's text: UTF-8, within MAX_BYTES, every field within MAX_FIELD."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(KEY, str(path), f"is {size:,} bytes; a trace is at most "
                          f"{MAX_BYTES:,} (256 MiB)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(KEY, str(path), f"line {line}: not UTF-8 (byte "
                          f"0x{data[exc.start]:02x}); save the trace as UTF-8") from None
    for number, row in enumerate(text.splitlines(), start=1):
        if len(row) > MAX_FIELD:
            raise ConfigError(KEY, str(path), f"line {number}: {len(row):,} characters; a "
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
