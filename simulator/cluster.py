"""The cluster's hardware in SimPy: parts that fail, nodes, spares, repair.

Every failing part (every accelerator, every node's host) ages through its lifetime
while its node is in service (simulator/parts.py: one table, one SimPy process that
sleeps until the earliest failure). When a part fails, its node leaves service at once
(its other parts stop ageing and keep their age), goes to repair for `repair_s`, and
comes back to the spare pool with the failed part renewed. Switches, racks and
scale-up domains fail on their own clocks and take down every node behind them.
The job's slot is refilled from the pool if a spare is free; otherwise the cluster is
*short* until a repaired node returns.

Hardware never looks at the job: its failure times depend only on the seed, so every
checkpoint policy run on the same seed sees the same failures.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from simulator.domains import GROUP_SCOPES
from simulator.failures import (
    Component,
    Exponential,
    FailureModel,
    Lifetime,
    Stragglers,
    TraceFailure,
)
from simulator.parts import PartRef, PartTable
from simulator.scenario import ClusterSpec, RestartSpec


@dataclass(frozen=True)
class FailureRecord:
    """One failure hitting the job: when, where (node -1: the job itself), which
    component (`part`), its index in the node, its age (in-service time) and scope."""

    time_s: float
    node: int
    part: str
    index: int
    age_s: float
    scope: str = "node"


@dataclass(frozen=True)
class Bundle:
    """Components of one scope sharing one part per unit (competing risks).

    Exponential components merge exactly: the minimum of independent exponentials is
    exponential with the summed rate, and component i is the cause with probability
    rate_i / sum. Any other lifetime stays a bundle of one.
    """

    scope: str
    lifetime: Lifetime
    causes: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def name(self) -> str:
        return "+".join(self.causes)

    def cause(self, rng: np.random.Generator) -> str:
        if len(self.causes) == 1:
            return self.causes[0]
        return self.causes[int(rng.choice(len(self.causes), p=self.weights))]


def bundles(components: tuple[Component, ...], scope: str) -> list[Bundle]:
    """The parts each unit of `scope` carries: exponentials merged, others alone."""
    mine = [c for c in components if c.scope == scope]
    expo = [c for c in mine if isinstance(c.lifetime, Exponential)]
    out = [Bundle(scope, c.lifetime, (c.name,), (1.0,)) for c in mine if c not in expo]
    if expo:
        rates = np.array([1.0 / c.lifetime.mean_s for c in expo])
        out.insert(0, Bundle(scope, Exponential(1.0 / rates.sum()),
                             tuple(c.name for c in expo), tuple(rates / rates.sum())))
    return out


class Node:
    """A server: whether it is in service (allocated to the job), how fast its parts
    age (a lemon's faster), and its recent failures (for lemon detection). Its parts'
    lifetimes are in the cluster's PartTable, row `index`."""

    def __init__(self, cluster: Cluster, index: int) -> None:
        self.cluster = cluster
        self.index = index
        self.serving = False
        self.speed = 1.0  # a lemon's parts age `factor` times as fast
        self.failure_times: collections.deque[float] = collections.deque()

    def enter_service(self) -> None:
        self.serving = True
        self.cluster.parts_changed(self, serving=True)

    def leave_service(self) -> None:
        """Stop its parts' clocks (they keep their age)."""
        self.serving = False
        self.cluster.slow.pop(self, None)  # a straggler leaving the job slows it no more
        self.cluster.parts_changed(self, serving=False)


class Cluster:
    """Job nodes, a spare pool and a repair shop; tells a listener about failures.

    Physical nodes 0..nodes-1 start in the job, the rest in the spare pool. `on_failure`
    is called with a FailureRecord after the cluster has already swapped in a spare
    (if it could).
    """

    def __init__(self, env: simpy.Environment, spec: ClusterSpec, failures: FailureModel,
                 restart: RestartSpec, streams: Callable[[str], np.random.Generator]) -> None:
        self.env = env
        self.spec = spec
        self.restart = restart
        self._repair_rng = streams("repairs")
        self.on_failure: Callable[[FailureRecord], None] = lambda record: None
        self.on_planned: Callable[[], None] = lambda: None
        self.on_speed: Callable[[], None] = lambda: None  # the slowdown changed
        self.on_found: Callable[[Node], None] = lambda node: None  # a straggler was found
        self.records: list[FailureRecord] = []
        self.failures = failures
        self.lemons = failures.lemons
        self.retired = 0
        self.short = 0  # job slots without a node
        self.slow: dict[Node, float] = {}  # stragglers in service -> their slowdown
        self.links_down = 0  # redundant cables out of service
        self.link_failures = 0
        self.stragglers = 0
        self.link_slowdown = 1.0 if failures.domains is None else failures.domains.link_slowdown
        self._repair_by_cause = {c.name: c.repair_s for c in failures.components
                                 if c.repair_s is not None}
        self._full: simpy.Event | None = None
        total = spec.nodes + spec.spare_nodes
        self.nodes = [Node(self, i) for i in range(total)]
        self.pool: collections.deque[Node] = collections.deque(self.nodes[spec.nodes:])
        if failures.lemons is not None and failures.trace is None:
            lemon = streams("lemons").random(total) < failures.lemons.fraction
            for node, bad in zip(self.nodes, lemon, strict=True):
                node.speed = failures.lemons.factor if bad else 1.0
        self.parts: PartTable | None = None
        self._clock: simpy.Process | None = None
        self._clock_busy = False  # the clock is handling a failure: no need to wake it
        self._clock_woken = True  # until the clock first runs (it reads the table then)
        self._clock_at, self._clock_node = math.inf, -1  # what the clock sleeps until
        if failures.trace is None:
            self._attach_parts(failures, streams)
        else:
            env.process(self._replay(failures.trace))
        if failures.planned_gap_s is not None:
            env.process(self._maintenance(failures.planned_gap_s, streams("planned")))
        if failures.stragglers is not None and failures.trace is None:
            env.process(self._stragglers(failures.stragglers, streams("stragglers")))
        for node in self.nodes[: spec.nodes]:
            node.enter_service()

    def _attach_parts(self, failures: FailureModel,
                      streams: Callable[[str], np.random.Generator]) -> None:
        """Give every node its failing parts (first lifetimes drawn per bundle, in node
        order), every switch group and the job their failure processes."""
        total, gpn = len(self.nodes), self.spec.gpus_per_node
        components = failures.components
        speed = np.array([node.speed for node in self.nodes])
        table = PartTable(total, bundles(components, "node"), bundles(components, "gpu"), gpn,
                          lambda b: streams(f"{b.name}_failures"), speed, failures.infant)
        if not table.empty:
            self.parts = table
            self._clock = self.env.process(self._hardware())
        units = []  # (bundle, group, the bundle's one stream)
        for scope in GROUP_SCOPES:
            for bundle in bundles(components, scope):
                rng = streams(f"{bundle.name}_failures")
                units += [(bundle, group, rng) for group in failures.groups(scope)]
        if units:
            self.env.process(self._domains(units))
        for bundle in bundles(components, "job"):
            self.env.process(self._job_faults(bundle, streams(f"{bundle.name}_failures")))
        for bundle in bundles(components, "link"):
            cables = failures.units("link", self.spec.nodes, gpn)
            if cables:
                self.env.process(self._links(bundle, cables,
                                             streams(f"{bundle.name}_failures")))

    def _hardware(self):
        """The parts' clock: sleep until the earliest part failure among nodes in
        service; woken (interrupted) when a node enters or leaves service."""
        table, env = self.parts, self.env
        while True:
            at, index = table.earliest()
            self._clock_at, self._clock_node = at, index
            try:
                self._clock_woken = False
                if math.isinf(at):
                    yield env.event()  # nothing in service ages: sleep until woken
                else:
                    yield env.timeout(at - env.now)
            except simpy.Interrupt:
                continue
            node = self.nodes[index]
            part = table.failing(index, env.now)
            self._clock_busy = True
            self.fail(node, part, cause=table.cause(part))
            self._clock_busy = False

    def parts_changed(self, node: Node, serving: bool) -> None:
        """A node entered or left service: update its parts' clocks, wake the clock."""
        if self.parts is None:
            return
        if serving:
            self.parts.start(node.index, self.env.now)
            earlier = self.parts.next_at[node.index] < self._clock_at
        else:
            self.parts.stop(node.index, self.env.now)
            earlier = node.index == self._clock_node  # the clock was waiting for it
        if earlier and not self._clock_busy and not self._clock_woken:
            self._clock_woken = True
            self._clock.interrupt("service changed")

    def _domains(self, units: list[tuple[Bundle, tuple[int, ...], np.random.Generator]]):
        """Switches, racks and scale-up domains, each on its own clock (they age whether
        or not the job uses them): when one fails, every in-service node in it goes down
        at once; it is replaced and its clock starts over."""
        env = self.env
        next_at = np.array([float(b.lifetime.sample(rng, 1)[0]) for b, _, rng in units])
        while True:
            unit = int(np.argmin(next_at))
            yield env.timeout(next_at[unit] - env.now)
            bundle, group, rng = units[unit]
            self._fail_group([self.nodes[i] for i in group], bundle.cause(rng), bundle.scope)
            next_at[unit] = env.now + float(bundle.lifetime.sample(rng, 1)[0])

    def _fail_group(self, group: list[Node], cause: str, scope: str,
                    repair_s: float | None = None) -> None:
        down = [node for node in group if node.serving]
        if down:  # else nothing of the job is in it; replaced before next use
            record = FailureRecord(self.env.now, down[0].index, cause, 0, math.nan, scope)
            self._take_down(down, None, record, repair_s)

    def _links(self, bundle: Bundle, cables: int, rng: np.random.Generator):
        """Redundant cables: each fails independently, so the gaps between failures of
        any of the `cables` are lifetimes / cables (exact for exponential lifetimes)."""
        while True:
            yield self.env.timeout(float(bundle.lifetime.sample(rng, 1)[0]) / cables)
            self._link_down(bundle.cause(rng))

    def _link_down(self, cause: str, repair_s: float | None = None) -> None:
        """A cable fails: the fabric runs degraded until it is repaired."""
        self.records.append(FailureRecord(self.env.now, -1, cause, 0, math.nan, "link"))
        self.links_down += 1
        self.link_failures += 1
        if self.links_down == 1:
            self.on_speed()
        self.env.process(self._link_up(self._repair_time(cause, repair_s)))

    def _link_up(self, repair_s: float):
        yield self.env.timeout(repair_s)
        self.links_down -= 1
        if self.links_down == 0:
            self.on_speed()

    @property
    def slowdown(self) -> float:
        """How many times longer a step takes than on healthy hardware: the slowest
        straggler, times the degraded fabric's factor while a cable is down."""
        factor = max(self.slow.values(), default=1.0)
        return factor * self.link_slowdown if self.links_down else factor

    def _stragglers(self, spec: Stragglers, rng: np.random.Generator):
        """GPUs of the job turn slow at rate gpus / mean; each is found after a while."""
        while True:
            yield self.env.timeout(float(rng.exponential(spec.mean_s / self.spec.gpus)))
            serving = [node for node in self.nodes if node.serving]
            if not serving:  # the job holds no node right now
                continue
            node = serving[int(rng.integers(len(serving)))]
            self._straggle(node, spec.slowdown, float(rng.exponential(spec.detect_s)))

    def _straggle(self, node: Node, slowdown: float, find_s: float) -> None:
        if not node.serving or node in self.slow:
            return
        self.records.append(FailureRecord(self.env.now, node.index, "straggler", 0,
                                          math.nan, "straggler"))
        self.slow[node] = slowdown
        self.stragglers += 1
        self.on_speed()
        self.env.process(self._find(node, find_s))

    def _find(self, node: Node, find_s: float):
        yield self.env.timeout(find_s)
        if node in self.slow:  # still in the job: ask for a swap at the next checkpoint
            self.on_found(node)

    def swap_out(self, node: Node) -> None:
        """Take a found straggler out of the job (it goes to repair; a spare replaces it)."""
        if not node.serving:
            return
        node.leave_service()
        self.env.process(self._repair(node, None, self.restart.repair_s))
        self.short += 1
        self._refill()

    def _repair_time(self, cause: str, repair_s: float | None) -> float:
        if repair_s is not None:
            return repair_s
        return self._repair_by_cause.get(cause, self.restart.repair_s)

    def _job_faults(self, bundle: Bundle, rng: np.random.Generator):
        """Software and communication faults: they stop the job, replace no hardware.

        The lifetime is per accelerator, so gaps are draws divided by the GPU count.
        """
        while True:
            gap = float(bundle.lifetime.sample(rng, 1)[0]) / self.spec.gpus
            yield self.env.timeout(gap)
            self._fail_job(bundle.cause(rng))

    def _fail_job(self, cause: str) -> None:
        record = FailureRecord(self.env.now, -1, cause, 0, math.nan, "job")
        self.records.append(record)
        self.on_failure(record)

    def _maintenance(self, gap_s: float, rng: np.random.Generator):
        """Planned maintenance: a Poisson process of requests to stop at a checkpoint."""
        while True:
            yield self.env.timeout(float(rng.exponential(gap_s)))
            self.on_planned()

    def _replay(self, trace: tuple[TraceFailure, ...]):
        """Scripted failures: exactly the listed ones, at the listed times. Failures of
        nodes (or behind switches) not in service at that moment are ignored."""
        for event in sorted(trace, key=lambda e: e.time_s):
            yield self.env.timeout(event.time_s - self.env.now)
            cause = event.component or event.part
            if event.part == "job":
                self._fail_job(cause)
            elif event.part in GROUP_SCOPES:
                group = next(g for g in self.failures.groups(event.part)
                             if event.node in g)
                self._fail_group([self.nodes[i] for i in group], cause, event.part,
                                 event.repair_s)
            elif event.part == "link":
                self._link_down(cause, event.repair_s)
            elif event.part == "straggler":
                assert self.failures.stragglers is not None, "a straggler needs its slowdown"
                spec = self.failures.stragglers
                self._straggle(self.nodes[event.node], spec.slowdown,
                               spec.detect_s if event.repair_s is None else event.repair_s)
            elif self.nodes[event.node].serving:
                self.fail(self.nodes[event.node], None, kind=event.part, index=event.gpu,
                          cause=cause, repair_s=event.repair_s)

    @property
    def is_full(self) -> bool:
        return self.short == 0

    def when_full(self) -> simpy.Event:
        """An event that fires once every job slot has a healthy node."""
        if self._full is None or self._full.triggered:
            self._full = self.env.event()
            if self.is_full:
                self._full.succeed()
        return self._full

    def fail(self, node: Node, part: PartRef | None, kind: str = "node", index: int = 0,
             cause: str | None = None, repair_s: float | None = None) -> None:
        """A part of an in-service node failed: repair it, refill the slot, tell the job."""
        scope = kind
        if part is not None:
            scope, index = part.scope, part.index
        record = FailureRecord(self.env.now, node.index, cause or scope, index,
                               part.age_s if part is not None else math.nan, scope)
        self._take_down([node], part, record, repair_s)

    def _take_down(self, nodes: list[Node], part: PartRef | None, record: FailureRecord,
                   repair_s: float | None) -> None:
        """Record the failure, send `nodes` to repair, refill from the pool, tell the job."""
        self.records.append(record)
        repair_s = self._repair_time(record.part, repair_s)
        for node in nodes:
            node.leave_service()
            retire = part is not None and self._flagged(node)
            self.env.process(self._repair(node, part, repair_s, retire))
            self.short += 1
        self._refill()
        self.on_failure(record)

    def _flagged(self, node: Node) -> bool:
        """Lemon detection: this node failed `retire_after` times within the window."""
        lemons = self.lemons
        if lemons is None or lemons.retire_after is None:
            return False
        times = node.failure_times
        times.append(self.env.now)
        while times and times[0] < self.env.now - lemons.window_s:
            times.popleft()
        return len(times) >= lemons.retire_after

    def _repair(self, node: Node, part: PartRef | None, repair_s: float, retire: bool = False):
        """Automated repair; escalated to a manual one with some probability; a repair
        that does not fix the node is done again."""
        plan, rng = self.restart, self._repair_rng
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
            return
        if part is not None:
            self.parts.renew(part)
        self.pool.append(node)
        self._refill()

    def _refill(self) -> None:
        while self.short and self.pool:
            self.pool.popleft().enter_service()
            self.short -= 1
        if self.is_full and self._full is not None and not self._full.triggered:
            self._full.succeed()
