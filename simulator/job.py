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

Slow running does not interrupt either. Compute runs at the cluster's current
slowdown (a straggler, a redundant cable down: the step on the degraded graph) times
the elastic factor; the extra time is degraded time. When the slowdown changes
mid-segment the job re-plans the rest of the segment at the new speed. A straggler,
once found, is swapped for a spare at the next checkpoint (a drain, like maintenance).

Elastic restarts (`restart.elastic`): short of nodes, the job restarts at once on the nodes it
has (fewer data-parallel replicas, the same global batch), each step taking
nodes / available as long. Once the cluster is whole again, it grows back with a
restart at its next checkpoint.

Asynchronous checkpoints (`checkpoint.snapshot_s` set): the job blocks only for the snapshot to
host memory, then computes on while background writes make it durable. Writes in
flight share the storage bandwidth (processor sharing: with n writing, each goes at
1/n of the speed); with MAX_WRITES_IN_FLIGHT writing, the next snapshot waits. A
failure loses every write not yet finished and rolls back to the last durable
checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from simulator.cluster import Cluster, FailureRecord, Node
from simulator.domains import GROUP_SCOPES
from simulator.failures import SCOPES
from simulator.jitter import StepJitter
from simulator.metrics import Ledger, Phase
from simulator.policies import young_daly_interval
from simulator.scenario import CheckpointSpec, RestartSpec

#: The interrupt cause that tells computing job its speed changed (not a failure).
SPEED_CHANGE = "speed change"
#: Asynchronous checkpoints: writes in flight at most; the next snapshot waits (blocked,
#: as checkpoint time) for the oldest to finish, as checkpoint libraries make a save
#: wait for the one before it. Without a bound, intervals shorter than the write would
#: pile up writes that share the bandwidth ever more thinly.
MAX_WRITES_IN_FLIGHT = 2


@dataclass(frozen=True)
class JobPlan:
    """What the job does: its steps, and how it checkpoints and restarts (seconds)."""

    step_s: float
    interval_steps: int
    checkpoint: CheckpointSpec
    restart: RestartSpec
    nodes: int = 1  # the job's full width, in nodes
    work_steps: int | None = None  # None: run until the horizon
    step_level: bool = False  # one event per step (with per-GPU jitter, if any)
    jitter: StepJitter | None = None  # step_s is the mean step; steps vary around it


class TrainingJob:
    """Runs the plan on `cluster`, recording every phase in `ledger`."""

    def __init__(self, env: simpy.Environment, cluster: Cluster, ledger: Ledger,
                 plan: JobPlan, rng: np.random.Generator | None = None) -> None:
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
        self._swap: list[Node] = []  # found stragglers, swapped at the next checkpoint
        self._computing = False  # in a compute timeout that a speed change may re-plan
        self._writes: list[list[float]] = []  # async: [steps, seconds of writing left]
        self._since_durable = 0  # in-memory checkpoints since the last durable one
        self._memory_steps = 0  # steps held only in memory copies
        self._hit_since_checkpoint = False  # a failure since the last checkpoint
        self._load_s = plan.checkpoint.load_s  # what the coming recovery loads from
        self._width = plan.nodes  # nodes the job runs on (fewer while elastic and short)
        self.log: list[tuple[float, str]] = []  # (time_s, "recovered" | "planned")
        self._rng = rng or np.random.default_rng(0)
        self._step_times: list[float] = []  # step-level: pre-drawn step durations
        self._speed_changed = False
        cluster.on_failure = self._on_failure
        cluster.on_planned = self._on_planned
        cluster.on_speed = self._on_speed
        cluster.on_found = self._on_found
        self.process = env.process(self._run())
        if plan.checkpoint.snapshot_s is not None:
            self._arrived: simpy.Event = env.event()  # a snapshot joined the writes
            self._write_done: simpy.Event = env.event()  # a write finished
            self._idle: simpy.Event | None = None
            self._writer = env.process(self._write_in_background())

    @property
    def finished(self) -> bool:
        return self.plan.work_steps is not None and self.committed_steps >= self.plan.work_steps

    def _on_failure(self, record: FailureRecord) -> None:
        if self.process.is_alive:
            self.failures += 1
            self.failures_by_scope[record.scope] += 1
            self._computing = False  # this interrupt ends the compute: no re-plan after it
            self.process.interrupt(record)

    def _on_planned(self) -> None:
        if self.process.is_alive:
            self.planned += 1
            self._drain = True

    def _on_speed(self) -> None:
        """The cluster's slowdown changed: re-plan the compute in progress, if any."""
        self._speed_changed = True  # step-level mode looks before each step
        if self._computing and self.process.is_alive:
            self._computing = False
            self.process.interrupt(SPEED_CHANGE)

    def _on_found(self, node: Node) -> None:
        if self.process.is_alive:
            self._swap.append(node)

    @property
    def _slowdown(self) -> float:
        """Step time relative to nominal: fewer nodes (elastic) and slow hardware."""
        return self.plan.nodes / self._width * self.cluster.slowdown

    def _run(self):
        recovering = False
        while not self.finished:
            try:
                if recovering:
                    yield from self._recover()
                    recovering = False
                yield from self._segment()
            except simpy.Interrupt as interrupt:
                if interrupt.cause == SPEED_CHANGE:
                    raise RuntimeError("a speed change interrupted the job outside "
                                       "compute") from None
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
        if plan.step_level:
            yield from self._compute_steps(steps)
        else:
            yield from self._compute(steps * plan.step_s)
        ledger.enter(Phase.CHECKPOINT, env.now)
        if plan.checkpoint.memory_write_s is not None:
            yield from self._memory_checkpoint(steps)
        elif plan.checkpoint.snapshot_s is None:
            yield env.timeout(plan.checkpoint.write_s)
            ledger.commit(env.now)
            self._made_durable(steps)
        else:
            while len(self._writes) >= MAX_WRITES_IN_FLIGHT:  # storage is behind: wait
                self._write_done = env.event()
                yield self._write_done
            yield env.timeout(plan.checkpoint.snapshot_s)
            ledger.seal(env.now)
            self._start_write(steps)
            last = plan.work_steps is not None and \
                self.committed_steps + self._queued_steps >= plan.work_steps
            if last or self._drain or self._swap:  # the end, or a drain: until durable
                yield from self._await_durable()
        if (self._drain or self._swap) and not self.finished:  # stop here, restart
            self.log.append((env.now, "planned" if self._drain else "swapped"))
            self._drain = False
            for node in self._swap:
                self.cluster.swap_out(node)
            self._swap = []
            ledger.enter(Phase.RESTART, env.now)
            yield from self._await_hardware()
            yield env.timeout(plan.restart.restart_s + plan.checkpoint.load_s)
        elif self._width < plan.nodes and self.cluster.is_full and not self.finished:
            self.log.append((env.now, "grown"))  # elastic: whole again, restart wider
            ledger.enter(Phase.RESTART, env.now)
            yield env.timeout(plan.restart.restart_s + plan.checkpoint.load_s)
            self._width = plan.nodes

    def _compute(self, work_s: float):
        """`work_s` seconds of healthy-hardware compute at the current slowdown,
        re-planned whenever the slowdown changes."""
        env, ledger = self.env, self.ledger
        while work_s > 0.0:
            factor = self._slowdown
            ledger.enter(Phase.COMPUTE, env.now, slowdown=factor)
            started = env.now
            self._computing = True
            try:
                yield env.timeout(work_s * factor)
                work_s = 0.0
            except simpy.Interrupt as interrupt:
                if interrupt.cause != SPEED_CHANGE:
                    raise
                work_s = max(0.0, work_s - (env.now - started) / factor)
            finally:
                self._computing = False

    def _compute_steps(self, steps: int):
        """Step-level mode: one SimPy event per step, each as long as its slowest GPU
        (jitter) at the slowdown of the moment it starts."""
        env, ledger, timeout = self.env, self.ledger, self.env.timeout
        factor = self._slowdown
        ledger.enter(Phase.COMPUTE, env.now, slowdown=factor)
        self._speed_changed = False
        times = self._step_times
        for _ in range(steps):
            if not times:
                times.extend(self._draw_steps(4096))
            if self._speed_changed:
                self._speed_changed = False
                factor = self._slowdown
                ledger.enter(Phase.COMPUTE, env.now, slowdown=factor)
            yield timeout(times.pop() * factor)

    def _draw_steps(self, count: int) -> list[float]:
        """Step durations at full speed: mean plan.step_s, spread by the jitter."""
        jitter = self.plan.jitter
        if jitter is None:
            return [self.plan.step_s] * count
        scale = self.plan.step_s / jitter.expected_max
        return (scale * jitter.sample_max(self._rng, count)).tolist()

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
                     and getattr(cause, "scope", "node") not in GROUP_SCOPES)
        self._hit_since_checkpoint = True
        if in_memory:
            self.ledger.rollback_open(env.now)
            self._load_s = plan.checkpoint.memory_load_s
            return
        self.ledger.rollback(env.now)
        self._memory_steps, self._since_durable = 0, 0
        self._load_s = plan.checkpoint.load_s

    @property
    def _queued_steps(self) -> int:
        """Steps snapshotted whose asynchronous write has not finished."""
        return int(sum(steps for steps, _ in self._writes))

    @property
    def _in_flight(self) -> int:
        """Steps saved but not yet durable (async writes queued, in-memory copies)."""
        return self._queued_steps + self._memory_steps

    def _made_durable(self, steps: int) -> None:
        self.committed_steps += steps
        self.checkpoints += 1

    def _write_in_background(self):
        """The asynchronous writes: every snapshot in flight shares the storage bandwidth
        (n writing: each at 1/n speed). Writes are the same size, so the oldest finishes
        first and the ledger commits segments in order."""
        env = self.env
        while True:
            if not self._writes:
                yield self._arrived
                continue
            sharing = len(self._writes)
            started = env.now
            try:
                yield env.timeout(self._writes[0][1] * sharing)
            except simpy.Interrupt:  # a new write joined, or a failure cleared them all
                for write in self._writes[:sharing]:  # not the one that just joined
                    write[1] -= (env.now - started) / sharing
                continue
            for write in self._writes[1:]:
                write[1] -= (env.now - started) / sharing
            steps, _ = self._writes.pop(0)
            self.ledger.commit_oldest()
            self._made_durable(int(steps))
            if not self._write_done.triggered:
                self._write_done.succeed()
            if self._queued_steps == 0 and self._idle is not None and not self._idle.triggered:
                self._idle.succeed()

    def _start_write(self, steps: int) -> None:
        """A snapshot was taken: its write joins the ones in flight."""
        self._writes.append([steps, self.plan.checkpoint.write_s])
        if len(self._writes) == 1:
            if not self._arrived.triggered:
                self._arrived.succeed()
            self._arrived = self.env.event()
        else:
            self._writer.interrupt("another write")

    def _await_durable(self):
        """Block (as checkpoint time) until every snapshot taken is durable."""
        if self._queued_steps:
            self.ledger.enter(Phase.CHECKPOINT, self.env.now)
            self._idle = self.env.event()
            yield self._idle

    def _abort_writes(self) -> None:
        """A failure: writes in flight are lost with the nodes' host memory."""
        self.lost_checkpoints += len(self._writes)
        if self._writes:
            self._writes.clear()
            self._writer.interrupt("failure")

    def _await_hardware(self):
        """Wait (as wait time) until the job has nodes to restart on: all of them, or,
        restarting elastically, any; then run on what it has."""
        plan, cluster = self.plan, self.cluster
        if not cluster.is_full and (not plan.restart.elastic or cluster.short >= plan.nodes):
            self.ledger.enter(Phase.WAIT, self.env.now)
            yield cluster.when_full()
            self.ledger.enter(Phase.RESTART, self.env.now)
        self._width = plan.nodes - cluster.short

    def _recover(self):
        plan, env, ledger = self.plan, self.env, self.ledger
        ledger.enter(Phase.RESTART, env.now)
        yield env.timeout(plan.restart.detect_s)
        yield from self._await_hardware()
        yield env.timeout(plan.restart.restart_s + self._load_s)
        self.log.append((env.now, "recovered"))
