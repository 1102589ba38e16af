"""The storage system over one run: writes in flight, outages and the input buffer.

One `Storage` per replicate (simulator/experiments/runner.py builds it with its own
random stream). What it shares, and how, is simulator/fabric/storage.py; here it keeps
the state between events:

- **writes in flight** (`writing`): a synchronous checkpoint's write, or an
  asynchronous policy's background writes, each stretched by the input's share;
- **outages**: random (exponential up times of mean `outage_mtbf_s`) or scripted
  (`outage_at_s`). While storage is down nothing is read or written: a restart's load
  waits for it (one under way starts again when storage is back). A write under way
  fails; `outage_write=retry` waits for storage and writes again from the start,
  `skip` gives the checkpoint up (its steps stay provisional until the next checkpoint
  is durable). A write that starts during an outage does the same;
- **the input buffer**: its level moves linearly at (supply - demand) between events.
  The job's compute (simulator/reliability/compute.py) asks `start_compute` for the
  closed form of the piece it is about to run and tells `end_compute` when it stops;
  every change of the supply (a write starting or ending, an outage) is told to the
  listeners (the compute re-plans). A whole-job restart empties the buffer (the
  loaders' prefetch dies with the job); a checkpoint's blocking time refills it.

Events scale with checkpoints, failures and outages, never with steps.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from simulator.fabric.storage import (
    StorageSpec,
    starve_factor,
    time_to_empty,
    write_stretch,
)

Listener = Callable[[bool], None]  # told (outage_started) at every change of supply


class Storage:
    """The storage system of one run: see the module docstring."""

    def __init__(self, env: simpy.Environment, spec: StorageSpec | None = None,
                 step_s: float = 1.0, rng: np.random.Generator | None = None) -> None:
        self.env = env
        self.spec = spec = spec or StorageSpec()
        self.demand_bps = spec.demand_bps(step_s) if spec.feeds else 0.0
        self.capacity = spec.buffer_bytes()
        self.writing = 0
        self.down = False
        self.outages = 0
        self.outage_s = 0.0  # finished outages' time (`outage_time_s` adds a current one)
        self.failed_writes = 0  # writes an outage broke (then retried or skipped)
        self.skipped = 0  # checkpoints given up for an outage (outage_write=skip)
        self.failed_loads = 0  # restart loads an outage broke (then done again)
        self.level = 0.0  # bytes in the prefetch buffer
        self._since = 0.0
        self._consuming = 0.0  # bytes/s the GPUs take now (0 when not computing)
        self._loading = False  # the loaders run (the job is up)
        self._down_at = 0.0
        self._went_down = env.event()
        self._came_up = env.event()
        self.listeners: list[Listener] = []
        if spec.has_outages:
            env.process(self._outages(rng or np.random.default_rng(0)))

    # ---- supply and the buffer ----------------------------------------------------

    @property
    def supply_bps(self) -> float:
        """Bytes per second reaching the loaders now."""
        if self.down or not self._loading:
            return 0.0
        return self.spec.supply_bps(self.writing)

    def write_stretch(self, writes: int) -> float:
        """How much longer each of `writes` writes in flight takes than alone (inf
        while storage is down)."""
        return float("inf") if self.down else write_stretch(self.spec.claim, writes)

    def _advance(self) -> None:
        """Bring the buffer level to now, at the rates since the last change."""
        now = self.env.now
        if self._loading:
            level = self.level + (self.supply_bps - self._consuming) * (now - self._since)
            self.level = min(self.capacity, max(0.0, level))
        self._since = now

    def _changed(self, outage_started: bool = False) -> None:
        for listener in self.listeners:
            listener(outage_started)

    def start_compute(self, speed: float) -> tuple[float, float]:
        """The GPUs start a piece of compute at `speed` (work seconds per wall second):
        (starve factor, seconds until the buffer runs dry). Starve factor 1: full speed
        until then; above 1: the buffer is dry and supply is short, every second of work
        takes that many seconds (until the supply changes)."""
        self._advance()
        self._loading = True
        demand = speed * self.demand_bps
        supply = self.supply_bps
        if self.level <= 0.0 and supply < demand:
            self._consuming = demand
            return starve_factor(supply, demand), float("inf")
        self._consuming = demand
        return 1.0, time_to_empty(self.level, supply, demand)

    def end_compute(self, ran_dry: bool) -> None:
        """The piece of compute ended (`ran_dry`: at the moment the buffer emptied)."""
        self._advance()
        if ran_dry:
            self.level = 0.0
        self._consuming = 0.0

    def restarted(self) -> None:
        """The whole job restarts: the loaders and their prefetch are gone until the
        next compute starts them."""
        self._advance()
        self.level = 0.0
        self._loading = False
        self._consuming = 0.0

    # ---- writes -------------------------------------------------------------------

    def set_writing(self, writes: int) -> None:
        """`writes` checkpoint writes are in flight from now."""
        if writes != self.writing:
            self._advance()
            self.writing = writes
            if self.spec.feeds:
                self._changed()

    def write(self, write_s: float) -> Generator[simpy.Event, Any, bool]:
        """A synchronous write that takes `write_s` alone: True once durable, False if
        given up for an outage (outage_write=skip)."""
        env = self.env
        self.set_writing(self.writing + 1)
        try:
            if not self.spec.has_outages:
                yield env.timeout(write_s * self.write_stretch(1))
                return True
            while True:
                if self.down:
                    if self.spec.outage_write == "skip":
                        self.skipped += 1
                        return False
                    yield self._came_up
                    continue
                done = env.timeout(write_s * self.write_stretch(1))
                if done in (yield done | self._went_down):
                    return True
                self.failed_writes += 1  # storage went down under it
        finally:
            self.set_writing(self.writing - 1)

    def restart(self, restart_s: float, load_s: float, from_storage: bool = True
                ) -> Generator[simpy.Event, Any, None]:
        """A restart of `restart_s`, then a checkpoint load of `load_s`: from storage, it
        waits for an outage to end, and one that breaks it makes it start again."""
        env = self.env
        if not (from_storage and self.spec.has_outages):
            yield env.timeout(restart_s + load_s)
            return
        yield env.timeout(restart_s)
        while True:
            if self.down:
                yield self._came_up
                continue
            done = env.timeout(load_s)
            if done in (yield done | self._went_down):
                return
            self.failed_loads += 1

    # ---- outages ------------------------------------------------------------------

    def outage_time_s(self, now: float) -> float:
        """Seconds storage was down until `now`."""
        return self.outage_s + (now - self._down_at if self.down else 0.0)

    def _outages(self, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        spec, env = self.spec, self.env
        if spec.outage_at_s:
            for start in spec.outage_at_s:
                yield env.timeout(start - env.now)
                yield from self._outage(spec.outage_s)
            return
        while True:
            yield env.timeout(rng.exponential(spec.outage_mtbf_s))
            duration = spec.outage_s if spec.outage_kind == "fixed" \
                else rng.exponential(spec.outage_s)
            yield from self._outage(duration)

    def _outage(self, duration_s: float) -> Generator[simpy.Event, Any, None]:
        self._advance()
        self.down, self._down_at = True, self.env.now
        self.outages += 1
        went_down, self._went_down = self._went_down, self.env.event()
        went_down.succeed()
        self._changed(outage_started=True)
        yield self.env.timeout(duration_s)
        self._advance()
        self.down = False
        self.outage_s += self.env.now - self._down_at
        came_up, self._came_up = self._came_up, self.env.event()
        came_up.succeed()
        self._changed()
