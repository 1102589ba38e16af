"""The cluster's hardware in SimPy: nodes, the spare pool and repair shop, failure sources.

Every failing part (every accelerator, every node's host) ages through its lifetime
while its node is in service (simulator/reliability/parts.py: one table, one SimPy process that
sleeps until the earliest failure). When a part fails, its node leaves service at once
(its other parts stop ageing and keep their age), goes to repair (simulator/reliability/spares.py)
and comes back to the spare pool with the failed part renewed. Switches, racks and
scale-up domains, cables, stragglers, job-scope faults, maintenance and trace replay
are failure sources of their own (simulator/reliability/sources.py), all behind one interface
(simulator/reliability/failure_source.py). The job's slot is refilled from the pool if a spare is
free; otherwise the cluster is *short* until a repaired node returns.

The cluster tells its listener (the job, given at construction) about failures,
maintenance, speed changes and found stragglers. Hardware never looks at the job: its
failure times depend only on the seed, so every checkpoint policy run on the same seed
sees the same failures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import simpy

from simulator.reliability.diagnosis import Diagnosis
from simulator.reliability.failure_source import ClusterListener, FailureRecord, PartRef
from simulator.reliability.failures import FailureModel
from simulator.reliability.node import Node
from simulator.reliability.scenario import ClusterSpec, RestartSpec
from simulator.reliability.sources import failure_sources, part_clock
from simulator.reliability.spares import RepairShop, SparePool, flagged

__all__ = ["Cluster", "FailureRecord", "Node"]


class Cluster:
    """Job nodes, a spare pool and a repair shop, the failure sources of `failures`;
    tells `listener` about everything that concerns the job.

    Physical nodes 0..nodes-1 start in the job, the rest in the spare pool. The listener
    hears of a failure after the cluster has already swapped in a spare (if it could).
    """

    def __init__(self, env: simpy.Environment, spec: ClusterSpec, failures: FailureModel,
                 restart: RestartSpec, streams: Callable[[str], np.random.Generator],
                 listener: ClusterListener) -> None:
        self.env = env
        self.spec = spec
        self.restart = restart
        self.listener = listener
        self.records: list[FailureRecord] = []
        self.failures = failures
        self.slow: dict[Node, float] = {}  # stragglers in service -> their slowdown
        self.links_down = 0  # redundant cables out of service
        self.link_failures = 0
        self.stragglers = 0
        self.link_slowdown = 1.0 if failures.domains is None else failures.domains.link_slowdown
        self._repair_by_cause = {c.name: c.repair_s for c in failures.components
                                 if c.repair_s is not None}
        self._transient = Transient(failures, restart, streams)
        total = spec.nodes + spec.spare_nodes
        self.nodes = [Node(self, i) for i in range(total)]
        self.pool = SparePool(env, self.nodes[spec.nodes:])
        if failures.lemons is not None and failures.trace is None:
            lemon = streams("lemons").random(total) < failures.lemons.fraction
            for node, bad in zip(self.nodes, lemon, strict=True):
                node.speed = failures.lemons.factor if bad else 1.0
        speed = np.array([node.speed for node in self.nodes])
        self.clock = part_clock(failures, spec, speed, streams)
        renew = _no_parts if self.clock is None else self.clock.table.renew
        self.repairs = RepairShop(env, restart, streams("repairs"), self.pool, renew)
        self.diagnosis = Diagnosis(restart.diagnosis_accuracy, restart.repeat_failure_s,
                                   streams("diagnosis"))
        sources = failure_sources(failures, spec, streams)
        for source in ([self.clock] if self.clock is not None else []) + sources:
            source.start(env, self, listener)
        for node in self.nodes[: spec.nodes]:
            node.slot = node.index
            node.enter_service()

    # -- state the job reads --------------------------------------------------------

    @property
    def short(self) -> int:
        """Job slots without a node."""
        return self.pool.short

    @property
    def is_full(self) -> bool:
        return self.pool.is_full

    def when_full(self) -> simpy.Event:
        """An event that fires once every job slot has a healthy node."""
        return self.pool.when_full()

    @property
    def retired(self) -> int:
        """Nodes retired as lemons."""
        return self.repairs.retired

    @property
    def slowdown(self) -> float:
        """How many times longer a step takes than on healthy hardware: the slowest
        straggler, times the degraded fabric's factor while a cable is down."""
        factor = max(self.slow.values(), default=1.0)
        return factor * self.link_slowdown if self.links_down else factor

    # -- effects of the failure sources (simulator/failure_source.ClusterState) -------

    def fail(self, node: Node, part: PartRef | None, kind: str = "node", index: int = 0,
             cause: str | None = None, repair_s: float | None = None) -> None:
        """A part of an in-service node failed: repair it, refill the slot, tell the job.
        A part failure is diagnosed (simulator/reliability/diagnosis.py): if the wrong
        node is blamed, that one goes to repair and the faulty one stays in service
        (the record's slots: the faulty node's, then the blamed one's)."""
        scope = kind
        if part is not None:
            scope, index = part.scope, part.index
            cause = self.diagnosis.recurs(part, cause or scope)
        cause = cause or scope
        in_process = self._transient.recovers(cause)  # recovers in place: no diagnosis
        if part is not None and not in_process:
            wrong = self.diagnosis.blamed(part, cause, self.nodes)
            if wrong is not None:
                record = FailureRecord(self.env.now, node.index, cause, index, part.age_s,
                                       scope, (node.slot, wrong.slot))
                self.clock.table.defer(part, self.env.now, self.diagnosis.repeat_s)
                self._take_down([wrong], None, record, repair_s)
                return
        record = FailureRecord(self.env.now, node.index, cause, index,
                               part.age_s if part is not None else math.nan, scope,
                               (node.slot,), in_process)
        if in_process:  # the part recovers in place: a fresh lifetime, no repair
            if part is not None and self.clock is not None:
                self.clock.renew_in_service(part, self.env.now)
            self._tell(record)
        else:
            self._take_down([node], part, record, repair_s)

    def fail_group(self, group: Sequence[Node], cause: str, scope: str,
                   repair_s: float | None = None) -> None:
        """A switch, rack or scale-up domain failed: every in-service node behind it."""
        down = [node for node in group if node.serving]
        if down:  # else nothing of the job is in it; replaced before next use
            in_process = self._transient.recovers(cause)
            record = FailureRecord(self.env.now, down[0].index, cause, 0, math.nan, scope,
                                   tuple(node.slot for node in down), in_process)
            if in_process:
                self._tell(record)
            else:
                self._take_down(down, None, record, repair_s)

    def fail_job(self, cause: str) -> None:
        """A software or communication fault: it stops the job, replaces no hardware."""
        self._tell(FailureRecord(self.env.now, -1, cause, 0, math.nan, "job",
                                 in_process=self._transient.recovers(cause)))

    def _tell(self, record: FailureRecord) -> None:
        """Record a failure that takes no node out, and tell the job."""
        self.records.append(record)
        self.listener.on_failure(record)

    def link_down(self, cause: str, repair_s: float | None = None) -> None:
        """A cable fails: the fabric runs degraded until it is repaired."""
        self.records.append(FailureRecord(self.env.now, -1, cause, 0, math.nan, "link"))
        self.links_down += 1
        self.link_failures += 1
        if self.links_down == 1:
            self.listener.on_speed()
        self.env.process(self._link_up(self._repair_time(cause, repair_s)))

    def straggle(self, node: Node, slowdown: float, find_s: float) -> None:
        """`node` turns slow (if it serves and is not slow already); found after `find_s`."""
        if not node.serving or node in self.slow:
            return
        self.records.append(FailureRecord(self.env.now, node.index, "straggler", 0,
                                          math.nan, "straggler"))
        self.slow[node] = slowdown
        self.stragglers += 1
        self.listener.on_speed()
        self.env.process(self._find(node, find_s))

    def swap_culprit(self, node: Node, record: FailureRecord) -> None:
        """A fault found by other means than a crash (silent data corruption): repair
        `node` if it still serves the job, and tell the job."""
        if node.serving:
            self._take_down([node], None, record, None)
        else:  # it left the job already (another failure): nothing to swap
            self._tell(record)

    # -- what the job asks ------------------------------------------------------------

    def swap_out(self, node: Node) -> None:
        """Take a found straggler out of the job (it goes to repair; a spare replaces it)."""
        if not node.serving:
            return
        node.leave_service()
        self.repairs.repair(node, None, self.restart.repair_s, scope="straggler")
        self.pool.vacate(node.slot)
        self.pool.refill()

    # -- internals --------------------------------------------------------------------

    def service_changed(self, node: Node) -> None:
        """A node entered or left service: a straggler leaving the job slows it no more;
        its parts' clocks start or stop."""
        if not node.serving:
            self.slow.pop(node, None)
        if self.clock is not None:
            self.clock.service_changed(node.index, node.serving, self.env.now)

    def _take_down(self, nodes: list[Node], part: PartRef | None, record: FailureRecord,
                   repair_s: float | None) -> None:
        """Record the failure, send `nodes` to repair (it starts once the failure is
        detected), refill from the pool, tell the job."""
        self.records.append(record)
        repair_s = self._repair_time(record.component, repair_s)
        for node in nodes:
            node.leave_service()
            retire = part is not None and flagged(node, self.env.now, self.failures.lemons)
            self.repairs.repair(node, part, repair_s, retire, self.restart.detect_s,
                                record.scope)
            self.pool.vacate(node.slot)
        self.pool.refill()
        self.listener.on_failure(record)

    def _repair_time(self, cause: str, repair_s: float | None) -> float:
        if repair_s is not None:
            return repair_s
        return self._repair_by_cause.get(cause, self.restart.repair_s)

    def _link_up(self, repair_s: float):
        yield self.env.timeout(repair_s)
        self.repairs.log.append((self.env.now, -1, "link", "repaired"))
        self.links_down -= 1
        if self.links_down == 0:
            self.listener.on_speed()

    def _find(self, node: Node, find_s: float):
        yield self.env.timeout(find_s)
        if node in self.slow:  # still in the job: ask for a swap at the next checkpoint
            self.listener.on_found(node)


class Transient:
    """Which failures recover in process: a share of each cause
    (`Component.in_process_share`), decided by one draw per failure of a cause with a
    share, from its own stream, whatever the restart policy (so every policy sees the
    same failures recover); they recover in process only if the policy restarts in
    process (`restart.in_process_s` set)."""

    def __init__(self, failures: FailureModel, restart: RestartSpec,
                 streams: Callable[[str], np.random.Generator]) -> None:
        self.share = {c.name: c.in_process_share for c in failures.components
                      if c.in_process_share > 0}
        self.enabled = restart.in_process_s is not None
        self.rng = streams("in_process") if self.share else None

    def recovers(self, cause: str) -> bool:
        share = self.share.get(cause, 0.0)
        if share == 0.0:
            return False
        transient = bool(self.rng.random() < share)
        return transient and self.enabled


def _no_parts(part: PartRef) -> None:
    raise AssertionError("a part failed on a cluster without a part clock")
