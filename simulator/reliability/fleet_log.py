"""A fleet's incident log: one row per failure, read and checked line by line.

Columns (a header line is required; other columns, e.g. a ticket number, are reported
and not read):

    timestamp  ISO 8601 (2025-03-01T14:05:00, with Z or +hh:mm; none: UTC)   required
    host       the host's name, any string                                    required
    component  the cause (gpu_xid, hbm, psu, nic, ...)                        required
    scope      what the cause takes down: gpu, node, switch or job            default node
    gpu        GPU index in the host, for scope=gpu rows (0..gpus-1)          gpu rows only

The fleet is `hosts` hosts of `gpus_per_host` GPUs observed over [start, end]; a host
never in the log is in the fleet too (it never failed). Rows must be in time order, each
strictly after `start` and at or before `end`; a row repeating another's timestamp,
host, component and GPU is an error (a logging or concatenation mistake). Errors are
ConfigError(`log`, path, "line N: ..."), one line on the command line.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from simulator.errors import ConfigError
from simulator.reliability.fitting import Exposure
from simulator.reliability.trace import parse_time, read_text
from simulator.units import HOUR

KEY = "log"
REQUIRED = ("timestamp", "host", "component")
COLUMNS = (*REQUIRED, "scope", "gpu")
LOG_SCOPES = ("gpu", "node", "switch", "job")
#: Scopes whose units the log cannot tell apart (a switch row names a host behind it; a
#: job fault has no hardware): fitted as one pooled Poisson process per unit.
POOLED = ("switch", "job")


@dataclass(frozen=True)
class Fleet:
    hosts: int
    gpus_per_host: int
    start: datetime
    end: datetime
    switches: int | None = None  # needed only if the log has switch rows

    @property
    def window_h(self) -> float:
        return (self.end - self.start).total_seconds() / HOUR


@dataclass(frozen=True)
class Incident:
    line: int
    time_h: float  # hours after the fleet's start
    host: int  # index in the order hosts first appear
    component: str
    scope: str
    gpu: int


@dataclass(frozen=True)
class FleetLog:
    fleet: Fleet
    incidents: tuple[Incident, ...]
    host_names: tuple[str, ...]  # index -> name, in order of first appearance
    ignored_columns: tuple[str, ...] = ()

    def scopes(self) -> dict[str, str]:
        """component -> its scope, in order of first appearance."""
        return {i.component: i.scope for i in self.incidents}

    def units(self, scope: str) -> int:
        f = self.fleet
        if scope == "node":
            return f.hosts
        if scope in ("gpu", "job"):  # job faults: per GPU, as the simulator's job scope
            return f.hosts * f.gpus_per_host
        assert f.switches is not None, "switch rows need the switch count"
        return f.switches

    def exposure(self, component: str) -> Exposure:
        """The component's gaps per unit (renewed at each of its failures) and the open
        gap at the window's end; a pooled count for switch and job scopes."""
        mine = [i for i in self.incidents if i.component == component]
        scope, window = mine[0].scope, self.fleet.window_h
        units = self.units(scope)
        if scope in POOLED:
            return Exposure(len(mine), units * window)
        last: dict[int, float] = defaultdict(float)
        failed = []
        for i in mine:
            unit = i.host * self.fleet.gpus_per_host + i.gpu if scope == "gpu" else i.host
            failed.append(i.time_h - last[unit])
            last[unit] = i.time_h
        censored = np.full(units, window)
        for unit, at in last.items():
            censored[unit] = window - at
        return Exposure.of(np.array(failed), censored)


def read_fleet_log(path: str | Path, fleet: Fleet) -> FleetLog:
    """The log at `path`, every row checked against `fleet`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(KEY, str(path), "no such file")
    if fleet.end <= fleet.start:
        raise ConfigError("--end", fleet.end.isoformat(), "must be after --start "
                          f"({fleet.start.isoformat()})")
    text = read_text(path, KEY, "log")
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ConfigError(KEY, str(path), f"line 1: the header lacks {', '.join(missing)} "
                          f"(needs {', '.join(REQUIRED)}; optional scope, gpu)")
    reader_state = _Rows(path, fleet)
    done = reader.line_num
    try:
        for row in reader:
            done = reader.line_num
            reader_state.add(row, done, len(header))
    except csv.Error as exc:
        raise ConfigError(KEY, str(path), f"line {done + 1}: not a CSV row ({exc})") from None
    if not reader_state.incidents:
        raise ConfigError(KEY, str(path), "has no failure rows: nothing to fit")
    ignored = tuple(c for c in header if c not in COLUMNS)
    return FleetLog(fleet, tuple(reader_state.incidents), tuple(reader_state.names), ignored)


class _Rows:
    """The rows read so far, and the checks that need them (order, repeats, hosts)."""

    def __init__(self, path: Path, fleet: Fleet) -> None:
        self.path, self.fleet = path, fleet
        self.incidents: list[Incident] = []
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.seen: dict[tuple, int] = {}
        self.scope_of: dict[str, tuple[str, int]] = {}
        self.last: tuple[datetime, int] | None = None

    def bad(self, line: int, why: str) -> ConfigError:
        return ConfigError(KEY, str(self.path), f"line {line}: {why}")

    def add(self, row: dict, line: int, columns: int) -> None:
        fleet = self.fleet
        if None in row:
            raise self.bad(line, f"more fields than the header's {columns}")
        if any(v is None for v in row.values()):
            raise self.bad(line, f"fewer fields than the header's {columns}")
        try:
            when = parse_time(row["timestamp"], "timestamp")
        except ValueError as exc:
            raise self.bad(line, str(exc)) from None
        if not fleet.start < when <= fleet.end:
            raise self.bad(line, f"timestamp {when.isoformat()} is outside the window "
                           f"(after --start {fleet.start.isoformat()}, up to --end "
                           f"{fleet.end.isoformat()})")
        if self.last is not None and when < self.last[0]:
            raise self.bad(line, f"timestamp {row['timestamp'].strip()} is earlier than line "
                           f"{self.last[1]}'s: sort the log by timestamp")
        self.last = (when, line)
        host = row["host"].strip()
        if not host:
            raise self.bad(line, "host is empty")
        component = row["component"].strip()
        if not component:
            raise self.bad(line, "component is empty")
        scope = (row.get("scope") or "").strip() or "node"
        if scope not in LOG_SCOPES:
            raise self.bad(line, f"scope={scope!r} must be one of {', '.join(LOG_SCOPES)}")
        if scope == "switch" and fleet.switches is None:
            raise self.bad(line, "a switch row needs the fleet's switch count (--switches)")
        if component in self.scope_of and self.scope_of[component][0] != scope:
            first_scope, first_line = self.scope_of[component]
            raise self.bad(line, f"component {component!r} has scope {scope} here and "
                           f"{first_scope} on line {first_line}: one cause, one scope")
        self.scope_of.setdefault(component, (scope, line))
        gpu = self._gpu(row, scope, line)
        if host not in self.index:
            if len(self.names) == fleet.hosts:
                raise self.bad(line, f"host {host!r} is host number {fleet.hosts + 1} of the "
                               f"log, beyond --hosts={fleet.hosts}")
            self.index[host] = len(self.names)
            self.names.append(host)
        what = (when, host, component, gpu)
        if what in self.seen:
            raise self.bad(line, f"repeats line {self.seen[what]} (same timestamp, host, "
                           "component and gpu): remove one")
        self.seen[what] = line
        time_h = (when - fleet.start).total_seconds() / HOUR
        self.incidents.append(Incident(line, time_h, self.index[host], component, scope, gpu))

    def _gpu(self, row: dict, scope: str, line: int) -> int:
        text = (row.get("gpu") or "").strip()
        if scope != "gpu":
            if text:
                raise self.bad(line, f"gpu={text} is only read on scope=gpu rows (this row's "
                               f"scope is {scope})")
            return 0
        g = self.fleet.gpus_per_host
        if not text:
            raise self.bad(line, f"a scope=gpu row needs its gpu index (0..{g - 1})")
        if not text.isdigit() or int(text) >= g:
            raise self.bad(line, f"gpu={text} must be an index in 0..{g - 1} "
                           f"(--gpus-per-host={g})")
        return int(text)
