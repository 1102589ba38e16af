"""The spare pool and the repair shop.

A node that fails leaves the job and goes to the repair shop, where its repair starts
once the failure is detected (`restart.detect_s` after it: nobody repairs a node before
anyone knows it failed; a found straggler's repair starts at once); its job slot is refilled
from the spare pool if a spare is idle, otherwise the job is *short* a node until a
repaired one comes back to the pool. Repairs run in parallel (one crew per node, as
many as needed), each automated, escalated to a manual repair with some probability,
and redone if it did not fix the node. A node flagged as a lemon is retired after its
repair instead of coming back.

Why plain classes and not SimPy's `Store` (pool) and `Resource` (shop), as in SimPy's
bank and machine-shop examples: a `Store` hands a returned node to a waiting slot only
when the put event is processed, a later event of the same instant, while the job learns
of a failure synchronously, after the refill (a spare is already in, the part clock
already counts its parts' ageing). Keeping that order keeps every number of the golden
test. A `Resource` would add an event per repair and model nothing: the shop has no
queue, its capacity is unbounded.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable

import numpy as np
import simpy

from simulator.reliability.failure_source import PartRef
from simulator.reliability.failures import Lemons
from simulator.reliability.node import Node
from simulator.reliability.scenario import RestartSpec


class SparePool:
    """Idle healthy nodes and the job slots without one (`short`).

    Handing a node to a slot sets its `slot` and calls its `enter_service()`; empty
    slots are filled in the order they were vacated. `when_full()` is an event that fires
    once every slot has a node.
    """

    def __init__(self, env: simpy.Environment, spares: Iterable[Node]) -> None:
        self.env = env
        self.idle: collections.deque[Node] = collections.deque(spares)
        self.empty: collections.deque[int] = collections.deque()  # slots without a node
        self._full: simpy.Event | None = None
        self._waiting: list[tuple[range, simpy.Event]] = []  # when_filled(slots)

    @property
    def short(self) -> int:
        """Job slots without a node."""
        return len(self.empty)

    def __len__(self) -> int:
        return len(self.idle)

    @property
    def is_full(self) -> bool:
        return self.short == 0

    def vacate(self, slot: int = -1) -> None:
        """Job slot `slot` lost its node (call `refill` once all are counted)."""
        self.empty.append(slot)

    def give_back(self, node: Node) -> None:
        """A repaired node joins the pool and fills a slot if one is empty."""
        self.idle.append(node)
        self.refill()

    def refill(self) -> None:
        """Fill empty slots with idle nodes, oldest first."""
        while self.empty and self.idle:
            node = self.idle.popleft()
            node.slot = self.empty.popleft()
            node.enter_service()
        if self.is_full and self._full is not None and not self._full.triggered:
            self._full.succeed()
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            for slots, event in waiting:
                self._when(slots, event)

    def when_filled(self, slots: range) -> simpy.Event:
        """An event that fires once every job slot in `slots` has a node."""
        return self._when(slots, self.env.event())

    def _when(self, slots: range, event: simpy.Event) -> simpy.Event:
        if any(slot in slots for slot in self.empty):
            self._waiting.append((slots, event))
        elif not event.triggered:
            event.succeed()
        return event

    def when_full(self) -> simpy.Event:
        """An event that fires once every job slot has a healthy node."""
        if self._full is None or self._full.triggered:
            self._full = self.env.event()
            if self.is_full:
                self._full.succeed()
        return self._full


def flagged(node: Node, now: float, lemons: Lemons | None) -> bool:
    """Lemon detection: note a failure of `node` at `now`; whether it failed
    `retire_after` times within the window (False if lemons are never retired)."""
    if lemons is None or lemons.retire_after is None:
        return False
    times = node.failure_times
    times.append(now)
    while times and times[0] < now - lemons.window_s:
        times.popleft()
    return len(times) >= lemons.retire_after


class RepairShop:
    """Repairs nodes, one SimPy process each, and returns them to the pool.

    `renew` gives the failed part a fresh lifetime before the node returns. All repairs
    draw from one stream (`repairs`), in the order the processes run.
    """

    def __init__(self, env: simpy.Environment, plan: RestartSpec, rng: np.random.Generator,
                 pool: SparePool, renew: Callable[[PartRef], None]) -> None:
        self.env, self.plan, self.rng = env, plan, rng
        self.pool = pool
        self.renew = renew
        self.retired = 0  # lemons out of the fleet for good
        #: (time_s, node, scope of the failure, "repaired" | "retired"): each repair's end
        self.log: list[tuple[float, int, str, str]] = []

    def repair(self, node: Node, part: PartRef | None, repair_s: float,
               retire: bool = False, after_s: float = 0.0, scope: str = "node") -> None:
        """Repair `node` (out of service) for `repair_s`, plus escalations, starting
        `after_s` from now (a failure's detection); `scope`: what failed (for the log)."""
        self.env.process(self._repair(node, part, repair_s, retire, after_s, scope))

    def _repair(self, node: Node, part: PartRef | None, repair_s: float, retire: bool,
                after_s: float, scope: str):
        plan, rng = self.plan, self.rng
        if after_s > 0.0:
            yield self.env.timeout(after_s)
        while True:
            duration = repair_s
            if plan.manual_probability and rng.random() < plan.manual_probability:
                duration += plan.manual_repair_s
            yield self.env.timeout(duration)
            if not (plan.repair_failure_probability
                    and rng.random() < plan.repair_failure_probability):
                break
        if retire:  # flagged as a lemon: out of the fleet for good
            self.retired += 1
            self.log.append((self.env.now, node.index, scope, "retired"))
            return
        self.log.append((self.env.now, node.index, scope, "repaired"))
        if part is not None:
            self.renew(part)
        self.pool.give_back(node)
