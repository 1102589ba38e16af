"""Every failing part of every node in one table, aged by one SimPy process.

A part (an accelerator, a node's host parts) ages only while its node is in service,
keeps its age when its node is taken out for another part's failure, and gets a fresh
lifetime when it is itself repaired. Instead of one SimPy process per part (20,000 at
Llama 3's scale, 250,000 at 220,000 GPUs), the table keeps, per part, the point of its
node's service clock at which it fails: a node's next failure is when its clock reaches
its earliest part's, and the cluster's is the earliest over nodes in service (a heap
with lazy deletion: a node's entry is stale once it left service). One process sleeps
until that moment (`PartClock`, a failure source), so the events scale with failures,
not with parts.

Parts are stored node-major: row n holds node n's parts, column j is "slot" j, the same
(bundle, index-in-node) for every node.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence

import numpy as np
import simpy

from simulator.reliability.failure_source import Bundle, ClusterListener, ClusterState, PartRef
from simulator.reliability.failures import InfantMortality


class PartTable:
    """Every part's lifetime on its node's service clock.

    A node's service clock is the in-service time it has accumulated: banked when it
    leaves service, running while it serves. A part fails when its node's clock reaches
    the part's `deadline`; its age is the clock minus its `birth`. Leaving and entering
    service touch one number per node, not one per part.
    """

    def __init__(self, nodes: int, node_bundles: Sequence[Bundle],
                 gpu_bundles: Sequence[Bundle], gpus_per_node: int,
                 rng_of: Callable[[Bundle], np.random.Generator], speed: np.ndarray,
                 infant: InfantMortality | None) -> None:
        self.slots: list[tuple[Bundle, int]] = [(b, 0) for b in node_bundles]
        self.slots += [(b, g) for b in gpu_bundles for g in range(gpus_per_node)]
        self._rngs = {id(b): rng_of(b) for b in (*node_bundles, *gpu_bundles)}
        self.speed = speed
        self.infant = infant
        self.deadline = np.empty((nodes, len(self.slots)))
        column = 0
        for bundle in node_bundles:  # first lifetimes drawn per bundle, in node order
            self.deadline[:, column] = bundle.lifetime.sample(self._rngs[id(bundle)], nodes)
            column += 1
        for bundle in gpu_bundles:
            lives = bundle.lifetime.sample(self._rngs[id(bundle)], nodes * gpus_per_node)
            self.deadline[:, column:column + gpus_per_node] = lives.reshape(nodes,
                                                                           gpus_per_node)
            column += gpus_per_node
        self.deadline /= speed[:, None]  # a lemon's parts age `speed` times as fast
        self.birth = np.zeros_like(self.deadline)
        first = self.deadline.argmin(axis=1) if self.slots else np.zeros(nodes, dtype=int)
        self._min_slot: list[int] = first.tolist()  # each node's first part to fail
        self._min_deadline: list[float] = (
            self.deadline[np.arange(nodes), first].tolist() if self.slots else [])
        self._service = [0.0] * nodes  # banked in-service time
        self._since = [0.0] * nodes  # when the node last entered service
        self.next_at = [math.inf] * nodes  # absolute time of its next failure if serving
        self._stamp = [0] * nodes  # bumped whenever a node's entry in the heap goes stale
        self._heap: list[tuple[float, int, int]] = []  # (next failure, node, stamp)

    @property
    def empty(self) -> bool:
        return not self.slots

    def start(self, node: int, now: float) -> None:
        """The node enters service: its parts' clocks run from `now`."""
        self._since[node] = now
        at = now + self._min_deadline[node] - self._service[node]
        self.next_at[node] = at
        self._stamp[node] += 1
        heapq.heappush(self._heap, (at, node, self._stamp[node]))

    def stop(self, node: int, now: float) -> None:
        """The node leaves service: bank the time its parts aged."""
        if self.next_at[node] == math.inf:
            return
        self._service[node] += now - self._since[node]
        self.next_at[node] = math.inf
        self._stamp[node] += 1

    def earliest(self) -> tuple[float, int]:
        """(time, node) of the next part failure among nodes in service; (inf, -1) if
        none is in service."""
        heap, stamp = self._heap, self._stamp
        while heap and heap[0][2] != stamp[heap[0][1]]:
            heapq.heappop(heap)
        if not heap:
            return math.inf, -1
        return heap[0][0], heap[0][1]

    def failing(self, node: int, now: float) -> PartRef:
        """The part of `node` whose lifetime runs out at `now` (the node is still in
        service: the caller takes it out)."""
        slot = self._min_slot[node]
        bundle, index = self.slots[slot]
        clock = self._service[node] + now - self._since[node]
        return PartRef(node, slot, bundle.scope, index, clock - float(self.birth[node, slot]))

    def cause(self, part: PartRef) -> str:
        bundle, _ = self.slots[part.slot]
        return bundle.cause(self._rngs[id(bundle)])

    def renew(self, part: PartRef) -> None:
        """Repaired (out of service): as good as new, with a fresh lifetime from its
        bundle's stream, counted from the node's clock now."""
        bundle, _ = self.slots[part.slot]
        rng = self._rngs[id(bundle)]
        life = float(bundle.lifetime.sample(rng, 1)[0])
        if self.infant is not None:
            life = self.infant.lifetime(life, bundle.lifetime.mean_s, rng)
        node, clock = part.node, self._service[part.node]
        self._set_deadline(part, clock + life / self.speed[node])
        self.birth[node, part.slot] = clock

    def defer(self, part: PartRef, now: float, delay_s: float) -> None:
        """A failed part stays in service unrepaired (its node serving): it fails again
        once its node has served `delay_s` more. Its age keeps counting."""
        self.stop(part.node, now)
        self._set_deadline(part, self._service[part.node] + delay_s)
        self.start(part.node, now)

    def _set_deadline(self, part: PartRef, deadline: float) -> None:
        """`part` fails when its node's service clock reaches `deadline`."""
        row = self.deadline[part.node]
        row[part.slot] = deadline
        first = int(row.argmin())
        self._min_slot[part.node], self._min_deadline[part.node] = first, float(row[first])


class PartClock:
    """The part clock, a failure source: one SimPy process that sleeps until the
    earliest part failure among nodes in service, fails that part's node (the cluster
    takes it out and repairs it), and is woken (interrupted) when a node enters or
    leaves service in a way that moves the earliest failure."""

    def __init__(self, table: PartTable) -> None:
        self.table = table
        self._process: simpy.Process | None = None
        self._busy = False  # handling a failure: it reads the table again afterwards
        self._woken = True  # until it first runs (it reads the table then)
        self._at, self._node = math.inf, -1  # what it sleeps until

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None:
        self._process = env.process(self._run(env, cluster))

    def _run(self, env: simpy.Environment, cluster: ClusterState):
        table = self.table
        while True:
            at, index = table.earliest()
            self._at, self._node = at, index
            try:
                self._woken = False
                if math.isinf(at):
                    yield env.event()  # nothing in service ages: sleep until woken
                else:
                    yield env.timeout(at - env.now)
            except simpy.Interrupt:
                continue
            part = table.failing(index, env.now)
            self._busy = True
            cluster.fail(cluster.nodes[index], part, cause=table.cause(part))
            self._busy = False

    def renew_in_service(self, part: PartRef, now: float) -> None:
        """A part that recovered in process (its node stays in service) gets a fresh
        lifetime, counted from its node's clock `now`."""
        self.table.stop(part.node, now)
        self.table.renew(part)
        self.table.start(part.node, now)

    def service_changed(self, node: int, serving: bool, now: float) -> None:
        """Node `node` entered or left service at `now`: start or bank its parts'
        clocks; wake the process if its earliest failure moved."""
        if serving:
            self.table.start(node, now)
            earlier = self.table.next_at[node] < self._at
        else:
            self.table.stop(node, now)
            earlier = node == self._node  # the clock was waiting for it
        if earlier and not self._busy and not self._woken:
            self._woken = True
            assert self._process is not None, "the part clock was not started"
            self._process.interrupt("service changed")
