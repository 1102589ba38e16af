"""The training job as a SimPy process: work segments, checkpoints, recovery.

One segment is `interval_steps` steps of compute followed by a blocking checkpoint
write: two events per checkpoint, whatever the number of steps. A failure of any part
the job runs on interrupts the process wherever it is (SimPy's machine_shop pattern):

- during compute or a checkpoint write, the work since the last completed checkpoint
  is lost (a write in progress is lost with it);
- then recovery: detection, waiting for healthy hardware if the cluster is short of
  nodes, restart and checkpoint load. A failure during recovery starts it over.

Planned maintenance does not interrupt: the job drains at its next completed
checkpoint, then restarts and loads it (restart time, no rework).

In-memory checkpoints (`checkpoint.memory_write_s` set, Gemini-style): most checkpoints are
copies to a peer node's memory; every `durable_every`-th is also written to storage.
A failure rolls back to the last in-memory copy and loads it fast, unless it took more
than one node at once (a switch: the node and its peer) or struck again before the
job re-checkpointed: then back to the last durable checkpoint.

Elastic restarts (`restart.elastic`): short of nodes, the job restarts at once on the nodes it
has (fewer data-parallel replicas, the same global batch), each step taking
nodes / available as long; the extra time is degraded time. Once the cluster is whole
again, it grows back with a restart at its next checkpoint.

Asynchronous checkpoints (`checkpoint.snapshot_s` set): the job blocks only for the snapshot to
host memory, then computes on while a writer process makes it durable in the
background, one write at a time (writes share the storage bandwidth: a write queued
behind another waits). A failure loses every write not yet finished and rolls back to
the last durable checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import simpy

from simulator.cluster import Cluster, FailureRecord
from simulator.failures import SCOPES
from simulator.metrics import Ledger, Phase
from simulator.policies import young_daly_interval
from simulator.scenario import CheckpointSpec, RestartSpec


@dataclass(frozen=True)
class JobPlan:
    """What the job does: its steps, and how it checkpoints and restarts (seconds)."""

    step_s: float
    interval_steps: int
    checkpoint: CheckpointSpec
    restart: RestartSpec
    nodes: int = 1  # the job's full width, in nodes
    work_steps: int | None = None  # None: run until the horizon


class TrainingJob:
    """Runs the plan on `cluster`, recording every phase in `ledger`."""

    def __init__(self, env: simpy.Environment, cluster: Cluster, ledger: Ledger,
                 plan: JobPlan) -> None:
        self.env = env
        self.cluster = cluster
        self.ledger = ledger
        self.plan = plan
        self.committed_steps = 0
        self.checkpoints = 0
        self.lost_checkpoints = 0
        self.failures = 0
        self.failures_by_scope: dict[str, int] = dict.fromkeys(SCOPES, 0)
        self.planned = 0
        self._drain = False  # planned maintenance waits for the next checkpoint
        self._writing = False  # the asynchronous writer is writing
        self._queued_steps = 0  # steps snapshotted, not yet durable (async)
        self._since_durable = 0  # in-memory checkpoints since the last durable one
        self._memory_steps = 0  # steps held only in memory copies
        self._hit_since_checkpoint = False  # a failure since the last checkpoint
        self._load_s = plan.checkpoint.load_s  # what the coming recovery loads from
        self._width = plan.nodes  # nodes the job runs on (fewer while elastic and short)
        self.log: list[tuple[float, str]] = []  # (time_s, "recovered" | "planned")
        cluster.on_failure = self._on_failure
        cluster.on_planned = self._on_planned
        self.process = env.process(self._run())
        if plan.checkpoint.snapshot_s is not None:
            self._writes = simpy.Store(env)  # steps of each snapshot awaiting its write
            self._idle: simpy.Event | None = None
            self._writer = env.process(self._write_in_background())

    @property
    def finished(self) -> bool:
        return self.plan.work_steps is not None and self.committed_steps >= self.plan.work_steps

    def _on_failure(self, record: FailureRecord) -> None:
        if self.process.is_alive:
            self.failures += 1
            self.failures_by_scope[record.scope] += 1
            self.process.interrupt(record)

    def _on_planned(self) -> None:
        if self.process.is_alive:
            self.planned += 1
            self._drain = True

    def _run(self):
        recovering = False
        while not self.finished:
            try:
                if recovering:
                    yield from self._recover()
                    recovering = False
                yield from self._segment()
            except simpy.Interrupt as interrupt:
                if self.ledger.phase is Phase.CHECKPOINT:
                    self.lost_checkpoints += 1
                if self.plan.checkpoint.snapshot_s is not None:
                    self._abort_writes()
                self._roll_back(interrupt.cause)
                recovering = True

    @property
    def interval_steps(self) -> int:
        """Steps to compute before the next checkpoint.

        Adaptive: Young's interval for the MTBI estimated so far, (M0 + t) / (1 + n),
        the prior M0 counting as one pseudo-failure, t the elapsed time, n the failures.
        """
        plan = self.plan
        if plan.checkpoint.prior_mtbi_s is None:
            return plan.interval_steps
        mtbi = (plan.checkpoint.prior_mtbi_s + self.env.now) / (1 + self.failures)
        interval = young_daly_interval(None, plan.checkpoint.write_s, mtbi)
        return max(1, math.floor(interval / plan.step_s + 0.5))

    def _segment(self):
        plan, env, ledger = self.plan, self.env, self.ledger
        steps = self.interval_steps
        if plan.work_steps is not None:
            steps = min(steps, plan.work_steps - self.committed_steps - self._in_flight)
        ledger.enter(Phase.COMPUTE, env.now)
        yield env.timeout(steps * plan.step_s)
        if self._width < plan.nodes:  # elastic and short: the same steps take longer
            ledger.enter(Phase.DEGRADED, env.now)
            yield env.timeout(steps * plan.step_s * (plan.nodes / self._width - 1))
        ledger.enter(Phase.CHECKPOINT, env.now)
        if plan.checkpoint.memory_write_s is not None:
            yield from self._memory_checkpoint(steps)
        elif plan.checkpoint.snapshot_s is None:
            yield env.timeout(plan.checkpoint.write_s)
            ledger.commit(env.now)
            self._made_durable(steps)
        else:
            yield env.timeout(plan.checkpoint.snapshot_s)
            ledger.seal(env.now)
            self._queued_steps += steps
            self._writes.put(steps)
            last = plan.work_steps is not None and \
                self.committed_steps + self._queued_steps >= plan.work_steps
            if last or self._drain:  # the end, or maintenance: wait until durable
                yield from self._await_durable()
        if self._drain and not self.finished:  # planned maintenance: stop here, restart
            self._drain = False
            self.log.append((env.now, "planned"))
            ledger.enter(Phase.RESTART, env.now)
            yield env.timeout(plan.restart.restart_s + plan.checkpoint.load_s)
        elif self._width < plan.nodes and self.cluster.is_full and not self.finished:
            self.log.append((env.now, "grown"))  # elastic: whole again, restart wider
            ledger.enter(Phase.RESTART, env.now)
            yield env.timeout(plan.restart.restart_s + plan.checkpoint.load_s)
            self._width = plan.nodes

    def _memory_checkpoint(self, steps: int):
        """A copy to the peer's memory, or, every durable_every-th (and the last, and
        before planned maintenance), to storage."""
        plan, env, ledger = self.plan, self.env, self.ledger
        last = plan.work_steps is not None and \
            self.committed_steps + self._memory_steps + steps >= plan.work_steps
        if self._since_durable + 1 >= plan.checkpoint.durable_every or last or self._drain:
            yield env.timeout(plan.checkpoint.write_s)
            ledger.commit(env.now)
            self._made_durable(self._memory_steps + steps)
            self._memory_steps, self._since_durable = 0, 0
        else:
            yield env.timeout(plan.checkpoint.memory_write_s)
            ledger.seal(env.now)
            self._memory_steps += steps
            self._since_durable += 1
        self._hit_since_checkpoint = False

    def _roll_back(self, cause) -> None:
        """Discard what this failure loses; choose what the recovery will load."""
        env, plan = self.env, self.plan
        in_memory = (plan.checkpoint.memory_write_s is not None and not self._hit_since_checkpoint
                     and getattr(cause, "scope", "node") != "switch")
        self._hit_since_checkpoint = True
        if in_memory:
            self.ledger.rollback_open(env.now)
            self._load_s = plan.checkpoint.memory_load_s
            return
        self.ledger.rollback(env.now)
        self._memory_steps, self._since_durable = 0, 0
        self._load_s = plan.checkpoint.load_s

    @property
    def _in_flight(self) -> int:
        """Steps saved but not yet durable (async writes queued, in-memory copies)."""
        return self._queued_steps + self._memory_steps

    def _made_durable(self, steps: int) -> None:
        self.committed_steps += steps
        self.checkpoints += 1

    def _write_in_background(self):
        """The asynchronous writer: one snapshot at a time, to durable storage."""
        env = self.env
        while True:
            steps = yield self._writes.get()
            self._writing = True
            try:
                yield env.timeout(self.plan.checkpoint.write_s)
            except simpy.Interrupt:  # a failure: the job has discarded this write
                continue
            finally:
                self._writing = False
            self.ledger.commit_oldest()
            self._queued_steps -= steps
            self._made_durable(steps)
            if self._queued_steps == 0 and self._idle is not None and not self._idle.triggered:
                self._idle.succeed()

    def _await_durable(self):
        """Block (as checkpoint time) until every snapshot taken is durable."""
        if self._queued_steps:
            self.ledger.enter(Phase.CHECKPOINT, self.env.now)
            self._idle = self.env.event()
            yield self._idle

    def _abort_writes(self) -> None:
        """A failure: queued and running writes are lost with the nodes' host memory."""
        self.lost_checkpoints += len(self._writes.items) + int(self._writing)
        self._writes.items.clear()
        if self._writing:
            self._writer.interrupt("failure")
        self._queued_steps = 0

    def _recover(self):
        plan, env, ledger = self.plan, self.env, self.ledger
        ledger.enter(Phase.RESTART, env.now)
        yield env.timeout(plan.restart.detect_s)
        if not self.cluster.is_full and not plan.restart.elastic:
            ledger.enter(Phase.WAIT, env.now)
            yield self.cluster.when_full()
            ledger.enter(Phase.RESTART, env.now)
        self._width = plan.nodes - self.cluster.short
        if self._width <= 0:  # nothing left to run on, even elastically
            ledger.enter(Phase.WAIT, env.now)
            yield self.cluster.when_full()
            ledger.enter(Phase.RESTART, env.now)
            self._width = plan.nodes
        yield env.timeout(plan.restart.restart_s + self._load_s)
        self.log.append((env.now, "recovered"))
