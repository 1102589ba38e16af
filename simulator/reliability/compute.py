"""The job's compute phases: work at the current speed, re-planned when it changes.

The job (simulator/reliability/job.py) hands its compute here: `seconds(work_s)` runs
`work_s` seconds of healthy-hardware compute in one SimPy timeout at the current
slowdown (a straggler, a cable down, an elastic job on fewer nodes) and capacity (the
share of data-parallel replicas training, restart=per_replica), re-planning the rest
whenever the job's process is interrupted with SPEED_CHANGE or REPLICA_OUT; `steps(n)`
runs n steps one event each (mode=steps, with per-GPU jitter). A replica going out
stalls the job until `stall_until` (it reconfigures; as restart time) before the
compute goes on.

When the job reads its input from storage (simulator/reliability/storage_io.py), each
piece of compute runs at constant supply and demand: at full speed until the prefetch
buffer runs dry (a piece ends there), then starved, at supply / demand of full speed
(the rest is input stall), until the work is done or the supply changes (the storage
re-plans the compute, as a speed change does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from simulator.reliability.jitter import StepDurations
from simulator.reliability.metrics import Ledger, Phase
from simulator.reliability.storage_io import Storage

#: The interrupt cause that tells computing job its speed changed (not a failure).
SPEED_CHANGE = "speed change"
#: The interrupt cause that tells computing job a replica went out: stall, then go on.
REPLICA_OUT = "replica out"


class Compute:
    """Compute phases at `slowdown()` and `capacity()`, recorded in `ledger`.

    `computing` is True while in a compute timeout that an interrupt may re-plan;
    `speed_changed` tells step-level mode to read the speed again before its next step.
    """

    def __init__(self, env: simpy.Environment, ledger: Ledger, slowdown: Callable[[], float],
                 capacity: Callable[[], float], steps: StepDurations,
                 storage: Storage | None = None) -> None:
        self.env, self.ledger = env, ledger
        self.slowdown, self.capacity = slowdown, capacity
        self.durations = steps
        self.computing = False
        self.speed_changed = False
        self.stall_until = 0.0  # per-replica: the job pauses until then
        self.process: simpy.Process | None = None  # the job's, once it started
        self.feed = storage if storage is not None and storage.spec.feeds else None
        if self.feed is not None:
            self.feed.listeners.append(lambda _: self.interrupt(SPEED_CHANGE))

    def interrupt(self, cause: str) -> None:
        """Re-plan the compute in progress, if any (`cause`: SPEED_CHANGE or
        REPLICA_OUT)."""
        if self.computing and self.process is not None and self.process.is_alive:
            self.computing = False
            self.process.interrupt(cause)

    def speed_change(self) -> None:
        """The slowdown or the capacity changed: re-plan (step-level mode: look before
        the next step)."""
        self.speed_changed = True
        self.interrupt(SPEED_CHANGE)

    def reconfigure(self, stall_s: float) -> None:
        """A replica went out: stall `stall_s` (a stall under way ends then, if later),
        then go on at the new capacity."""
        self.stall(stall_s)
        self.interrupt(REPLICA_OUT)

    def restarted(self) -> None:
        """The whole job restarts: no replica stall pending, the input buffer empty."""
        self.stall_until = 0.0
        if self.feed is not None:
            self.feed.restarted()

    def stall(self, seconds: float) -> None:
        """Pause the compute `seconds` from now (a pause under way ends then, if later)."""
        self.stall_until = max(self.stall_until, self.env.now + seconds)

    def seconds(self, work_s: float) -> Generator[simpy.Event, Any, None]:
        """`work_s` seconds of healthy-hardware compute at the current slowdown and
        capacity, re-planned whenever either changes."""
        env, ledger = self.env, self.ledger
        while work_s > 0.0:
            if self.stall_until > env.now:  # a replica went out: reconfigure
                ledger.enter(Phase.RESTART, env.now)
                yield env.timeout(self.stall_until - env.now)
                continue  # the stall may have been extended meanwhile
            factor, capacity = self.slowdown(), self.capacity()
            if self.feed is not None:
                work_s = yield from self._fed(work_s, factor, capacity)
                continue
            ledger.enter(Phase.COMPUTE, env.now, slowdown=factor, capacity=capacity)
            started = env.now
            self.computing = True
            try:
                yield env.timeout(work_s * factor / capacity)
                work_s = 0.0
            except simpy.Interrupt as interrupt:
                if interrupt.cause not in (SPEED_CHANGE, REPLICA_OUT):
                    raise
                work_s = max(0.0, work_s - (env.now - started) * capacity / factor)
            finally:
                self.computing = False

    def _fed(self, work_s: float, factor: float, capacity: float
             ) -> Generator[simpy.Event, Any, float]:
        """One piece of compute at constant input supply and demand: the work left."""
        env, feed = self.env, self.feed
        speed = capacity / factor  # work seconds per wall second, fed
        starve, dry_in = feed.start_compute(speed)
        self.ledger.enter(Phase.COMPUTE, env.now, slowdown=factor, capacity=capacity,
                          starve=starve)
        rate = speed / starve
        wall = work_s / rate if rate > 0.0 else math.inf
        ran_dry = dry_in < wall
        started = env.now
        self.computing = True
        try:
            yield env.timeout(min(wall, dry_in))
            done = dry_in * rate if ran_dry else work_s
        except simpy.Interrupt as interrupt:
            ran_dry = False
            if interrupt.cause not in (SPEED_CHANGE, REPLICA_OUT):
                raise
            done = (env.now - started) * rate
        finally:
            self.computing = False
            feed.end_compute(ran_dry)
        return max(0.0, work_s - done)

    def steps(self, steps: int) -> Generator[simpy.Event, Any, None]:
        """Step-level mode: one SimPy event per step, each as long as its slowest GPU
        (jitter) at the slowdown and capacity of the moment it starts."""
        env, ledger, timeout = self.env, self.ledger, self.env.timeout
        factor, capacity = self.slowdown(), self.capacity()
        ledger.enter(Phase.COMPUTE, env.now, slowdown=factor, capacity=capacity)
        self.speed_changed = False
        next_step = self.durations.next
        for _ in range(steps):
            if self.stall_until > env.now:  # a replica went out: reconfigure
                ledger.enter(Phase.RESTART, env.now)
                while self.stall_until > env.now:
                    yield timeout(self.stall_until - env.now)
                self.speed_changed = True
            if self.speed_changed:
                self.speed_changed = False
                factor, capacity = self.slowdown(), self.capacity()
                ledger.enter(Phase.COMPUTE, env.now, slowdown=factor, capacity=capacity)
            yield timeout(next_step() * factor / capacity)
