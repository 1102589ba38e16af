"""The training job as a SimPy process: work segments, checkpoints, recovery.

One segment is `interval_steps` steps of compute followed by a checkpoint: two events
per checkpoint, whatever the number of steps. A failure of any part the job runs on
interrupts the process wherever it is (SimPy's machine_shop pattern): the job asks its
checkpoint policy (simulator/reliability/checkpoint_policies.py) what the failure rolls
back to, then
recovers: detection, waiting for healthy hardware if the cluster is short of nodes (or,
restarting elastically, only if it has none), restart and the checkpoint load the
policy chose. A failure during recovery starts it over. Every policy decision (the
interval, what a checkpoint blocks for and when it is durable, what a failure loses,
what a recovery loads, whether to wait for hardware) is the policies'; the job runs
segments and keeps the books.

Planned maintenance does not interrupt: the job drains at its next completed
checkpoint, then restarts and loads it (restart time, no rework).

Slow running does not interrupt either. Compute runs at the cluster's current
slowdown (a straggler, a redundant cable down: the step on the degraded graph) times
the elastic factor; the extra time is degraded time. When the slowdown changes
mid-segment the job re-plans the rest of the segment at the new speed. A straggler,
once found, is swapped for a spare at the next checkpoint (a drain, like maintenance).

Elastic restarts (restart=elastic): short of nodes, the job restarts at once on the
nodes it has (fewer data-parallel replicas, the same global batch), each step taking
nodes / available as long. Once the cluster is whole again, it grows back with a
restart at its next checkpoint.

Per-replica restarts (restart=per_replica): a failure inside one data-parallel replica
while the job trains does not interrupt it; the replica goes out and comes back on its
own (simulator/reliability/replicas.py), the job stalls `replica_stall_s` (a stall
overlapping another ends `replica_stall_s` after the latest failure) and trains at the
capacity of the replicas left. In-process restarts (`restart.in_process_s` set): a
failure the cluster marked `in_process` recovers in that time plus the checkpoint load,
with no detection, hardware wait or restart.

The storage system (simulator/reliability/storage_io.py) carries the checkpoint writes,
its outages and the input stream the compute reads from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from simulator.reliability.checkpoint_hooks import Rollback
from simulator.reliability.checkpoint_policies import checkpoint_policy
from simulator.reliability.cluster import Cluster
from simulator.reliability.compute import REPLICA_OUT, SPEED_CHANGE, Compute
from simulator.reliability.failure_source import FailureRecord
from simulator.reliability.failures import SCOPES
from simulator.reliability.jitter import StepDurations, StepJitter
from simulator.reliability.metrics import Ledger, Phase
from simulator.reliability.node import Node
from simulator.reliability.replicas import Replicas
from simulator.reliability.restart_policies import restart_policy
from simulator.reliability.scenario import CheckpointSpec, RestartSpec
from simulator.reliability.sdc import sdc_book
from simulator.reliability.storage_io import Storage


@dataclass(frozen=True)
class JobPlan:
    """What the job does: its steps, and how it checkpoints and restarts (seconds)."""

    step_s: float
    checkpoint: CheckpointSpec
    restart: RestartSpec
    nodes: int = 1  # the job's full width, in nodes
    work_steps: int | None = None  # None: run until the horizon
    step_level: bool = False  # one event per step (with per-GPU jitter, if any)
    jitter: StepJitter | None = None  # step_s is the mean step; steps vary around it
    sdc: bool = False  # silent data corruption strikes: keep its book (reliability/sdc.py)


class TrainingJob:
    """Runs the plan on a cluster, recording every phase in `ledger`.

    The job is the cluster's listener (simulator/failure_source.ClusterListener): built
    first, then the cluster with it; `start(cluster)` starts the job's process::

        job = TrainingJob(env, ledger, plan)
        cluster = Cluster(env, spec, failures, restart, streams, listener=job)
        job.start(cluster)
    """

    cluster: Cluster
    process: simpy.Process

    def __init__(self, env: simpy.Environment, ledger: Ledger, plan: JobPlan,
                 rng: np.random.Generator | None = None, storage: Storage | None = None
                 ) -> None:
        self.env = env
        self.storage = storage or Storage(env)  # its writes, outages and input buffer
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
        self.checkpointing = checkpoint_policy(plan.checkpoint, plan.step_s)
        self.restarting = restart_policy(plan.restart)
        self._rollback = Rollback(plan.checkpoint.load_s)  # what the recovery loads
        self._width = plan.nodes  # nodes the job runs on (fewer while elastic and short)
        self.log: list[tuple[float, str]] = []  # (time_s, "recovered" | "planned")
        steps = StepDurations(plan.step_s, plan.jitter,  # step-level mode only
                              rng or np.random.default_rng(0))
        self.compute = Compute(env, ledger, lambda: self._slowdown, lambda: (
            1.0 if self.replicas is None else self.replicas.capacity), steps, self.storage)
        self.in_process_restarts = 0
        self._in_process = False  # the coming recovery is in process
        self._training = False  # in a segment: a replica's failure may be taken alone
        self.replicas: Replicas | None = None
        self.sdc = sdc_book(self, plan.sdc)  # corruptions and kept checkpoints (or None)

    def start(self, cluster: Cluster) -> None:
        """Run on `cluster` (built with this job as its listener): start the process."""
        self.cluster = cluster
        if self.restarting.per_replica:
            self.replicas = Replicas(self.env, self.plan.restart, self.plan.nodes,
                                     cluster.pool.when_filled, self.compute.speed_change,
                                     self.compute.reconfigure)
        self.process = self.compute.process = self.env.process(self._run())
        self.checkpointing.attach(self)  # after the job's process: same event order

    @property
    def nodes(self) -> int:
        """The job's full width, in nodes (its slots 0..nodes-1)."""
        return self.plan.nodes

    @property
    def finished(self) -> bool:
        return self.completes(0)

    def completes(self, pending_steps: int) -> bool:
        """Whether the durable steps and `pending_steps` more reach the work budget."""
        work = self.plan.work_steps
        return work is not None and self.committed_steps + pending_steps >= work

    @property
    def draining(self) -> bool:
        """Planned maintenance waits for the next checkpoint."""
        return self._drain

    @property
    def swapping(self) -> bool:
        """A straggler waits for the next checkpoint to be swapped out."""
        return bool(self._swap)

    def made_durable(self, steps: int) -> None:
        self.committed_steps += steps
        self.checkpoints += 1
        if self.sdc is not None:
            self.sdc.durable()

    # -- the cluster's listener ---------------------------------------------------------

    def on_failure(self, record: FailureRecord) -> None:
        """A failure: interrupt the job wherever it is (it rolls back and recovers)."""
        if not self.process.is_alive:
            return
        self.failures += 1
        self.failures_by_scope[record.scope] += 1
        if self.replicas is not None and self._training and self.replicas.take(record):
            self.in_process_restarts += record.in_process  # a replica's: the job trains on
            self.checkpointing.wiped(record)
            return
        self.compute.computing = False  # this interrupt ends the compute: no re-plan
        self.process.interrupt(record)

    def on_planned(self) -> None:
        """Planned maintenance: drain at the next checkpoint."""
        if self.process.is_alive:
            self.planned += 1
            self._drain = True

    def on_speed(self) -> None:
        """The cluster's slowdown changed: re-plan the compute in progress, if any."""
        self.compute.speed_change()

    def on_found(self, node: Node) -> None:
        """A straggler was found: swap it out at the next checkpoint."""
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
                if interrupt.cause in (SPEED_CHANGE, REPLICA_OUT):
                    raise RuntimeError(f"a {interrupt.cause} interrupted the job outside "
                                       "compute") from None
                self._training = False
                self._in_process = interrupt.cause.in_process
                if self.ledger.phase is Phase.CHECKPOINT:
                    self.lost_checkpoints += 1
                rollback = (self.sdc or self.checkpointing).roll_back(interrupt.cause)
                self.lost_checkpoints += rollback.lost_writes
                self._rollback = rollback
                recovering = True

    @property
    def interval_steps(self) -> int:
        """Steps to compute before the next checkpoint (the policy's choice)."""
        return self.checkpointing.interval_steps(self.env.now, self.failures)

    def _segment(self):
        plan, env, ledger = self.plan, self.env, self.ledger
        self._training = True
        steps = self.interval_steps
        if plan.work_steps is not None:
            steps = min(steps, plan.work_steps - self.committed_steps
                        - self.checkpointing.pending_steps)
        if plan.step_level:
            yield from self.compute.steps(steps)
        else:
            yield from self.compute.seconds(steps * plan.step_s)
        ledger.enter(Phase.CHECKPOINT, env.now)
        if self.sdc is not None:
            self.sdc.saving(steps)
        yield from self.checkpointing.save(steps)
        if (self._drain or self._swap) and not self.finished:  # stop here, restart
            self.log.append((env.now, "planned" if self._drain else "swapped"))
            self._drain = False
            for node in self._swap:
                self.cluster.swap_out(node)
            self._swap = []
            self._restart_all()
            ledger.enter(Phase.RESTART, env.now)
            yield from self._await_hardware()
            yield from self.storage.restart(plan.restart.restart_s,
                                            self.checkpointing.planned_load_s)
        elif (self.restarting.grows_back(self._width, plan.nodes, self.cluster.is_full)
              and not self.finished):
            self.log.append((env.now, "grown"))  # elastic: whole again, restart wider
            self._restart_all()
            ledger.enter(Phase.RESTART, env.now)
            yield from self.storage.restart(plan.restart.restart_s,
                                            self.checkpointing.planned_load_s)
            self._width = plan.nodes

    def _await_hardware(self):
        """Wait (as wait time) until the job has nodes to restart on: all of them, or,
        restarting elastically, any; then run on what it has."""
        plan, cluster = self.plan, self.cluster
        if self.restarting.waits(cluster.short, plan.nodes):
            self.ledger.enter(Phase.WAIT, self.env.now)
            yield cluster.when_full()
            self.ledger.enter(Phase.RESTART, self.env.now)
        self._width = plan.nodes - cluster.short

    def _restart_all(self) -> None:
        """The whole job restarts: every replica out comes back with it."""
        self._training = False
        self.compute.restarted()
        if self.replicas is not None:
            self.replicas.cancel_all()

    def _recover(self):
        plan, env, ledger = self.plan, self.env, self.ledger
        self._restart_all()
        ledger.enter(Phase.RESTART, env.now)
        if self._in_process:  # inside the running job: no new job, no node swap
            self.in_process_restarts += 1
            yield from self.storage.restart(plan.restart.in_process_s, *self._rollback.load)
            self.log.append((env.now, "recovered in process"))
            return
        yield env.timeout(plan.restart.detect_s)
        yield from self._await_hardware()
        yield from self.storage.restart(plan.restart.restart_s, *self._rollback.load)
        self.log.append((env.now, "recovered"))
