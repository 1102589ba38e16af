"""Silent data corruption (SDC): a failure source, and the job's book of corruptions.

A faulty GPU computes wrong numbers without crashing: the training state is corrupted
from that moment on, and every checkpoint taken afterwards holds the corruption. Nothing
stops the job until the corruption is *detected* (a loss spike, a gradient or checksum
check) a latency later; then the job rolls back to the newest retained checkpoint taken
before the corruption (simulator/reliability/retention.py), the culprit node is swapped
like a failed node (repair, spare), and the job recovers as from any failure (detection,
restart, the load of that checkpoint). Llama 3 counted 6 SDC interruptions among its 419
(sec. 3.3.4, Table 5); Meta's and Google's fleet studies find about one device per
thousand that corrupts silently (Dixit et al., "Silent Data Corruptions at Scale",
arXiv 2102.11245, 2021; Hochschild et al., "Cores that don't count", HotOS 2021).

What the model decides, where practice is silent:

- *Which checkpoints hold it.* A checkpoint holds the state at the end of the compute it
  saves; a corruption at t taints states completed after t. An SDC during a checkpoint
  write (or an asynchronous snapshot's background write) does not taint that checkpoint:
  its state was computed before; it taints the next one. An SDC during recovery (restart,
  waiting for hardware) taints the state the job computes after it.
- *Rollbacks for other reasons.* A failure that rolls the job back to a state completed
  before the corruption erases it: the corrupted work is discarded as rework, nothing is
  detected, nothing is swapped (the model counts corruptions, not faulty devices: the
  next corruption is a fresh draw). A failure rolling back to a state after it keeps it.
- *Where the rollback goes.* Only durable checkpoints on storage: an in-memory copy
  (checkpoint=in_memory) is overwritten at every checkpoint, so the one in memory holds
  the corruption whenever detection takes longer than an interval; the model does not
  look for one. With no retained checkpoint from before the corruption the job restarts
  from the start (step 0, nothing to load).
- *At the horizon.* A corruption not yet detected when the run ends is not counted: its
  work counts as useful, as any work that was never rolled back inside the window.
- *Rate.* Per GPU in service: corruptions arrive at rate (the job's GPUs) / mtbf and hit
  a job slot drawn uniformly; a slot without a node (the cluster is short) corrupts
  nothing (thinning: exactly the rate of the GPUs in service).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import simpy

from simulator.reliability.failure_source import ClusterListener, ClusterState, FailureRecord
from simulator.reliability.failures import SilentCorruption
from simulator.reliability.retention import Retention

if TYPE_CHECKING:
    from simulator.reliability.checkpoint_policies import Rollback

#: The cause of an SDC detection in the failure log (a GPU-scope failure, as in Llama 3's
#: Table 5, where silent data corruption is one of the GPU causes).
SDC_CAUSE = "silent_data_corruption"


@dataclass(frozen=True)
class Corruption:
    """One silent corruption: at `time_s`, GPU `gpu` of physical node `node` (in job slot
    `slot`) corrupted the state; it is found `detect_s` later, if still in the state."""

    time_s: float
    node: int
    gpu: int
    slot: int
    detect_s: float


@dataclass(frozen=True)
class SdcDetection(FailureRecord):
    """The failure record of a detected corruption: a GPU-scope failure of its node."""

    corruption: Corruption | None = None
    corrupts_state: ClassVar[bool] = True


class SilentCorruptions:
    """The SDC failure source: corruptions at rate gpus / mtbf over the job's GPUs, each
    on a uniformly drawn slot and GPU, found after a latency drawn from `spec.detect`.
    Every draw comes from its own stream ("sdc") whether or not the draw is used."""

    def __init__(self, spec: SilentCorruption, nodes: int, gpus_per_node: int,
                 rng: np.random.Generator) -> None:
        self.spec, self.nodes, self.gpus_per_node, self.rng = spec, nodes, gpus_per_node, rng

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None:
        env.process(self._run(env, cluster, listener))

    def _run(self, env: simpy.Environment, cluster: ClusterState, listener: ClusterListener):
        rng, detect = self.rng, self.spec.detect
        gap_s = self.spec.mtbf_s / (self.nodes * self.gpus_per_node)
        while True:
            yield env.timeout(float(rng.exponential(gap_s)))
            slot = int(rng.integers(self.nodes))
            gpu = int(rng.integers(self.gpus_per_node))
            latency_s = float(detect.sample(rng, 1)[0])
            node = next((n for n in cluster.nodes if n.serving and n.slot == slot), None)
            if node is not None:  # else the slot is empty (short of nodes): no GPU there
                corrupt(env, cluster, listener, Corruption(env.now, node.index, gpu, slot,
                                                           latency_s))


def corrupt(env: simpy.Environment, cluster: ClusterState, listener: ClusterListener,
            corruption: Corruption) -> None:
    """`corruption` happens now: the job's book records it (if the job runs and keeps
    one) and it is detected `corruption.detect_s` later, if still in the state."""
    book: SdcBook | None = getattr(listener, "sdc", None)
    if book is not None and book.corrupt(corruption):
        env.process(_detect(env, cluster, book, corruption))


def _detect(env: simpy.Environment, cluster: ClusterState, book: SdcBook,
            corruption: Corruption):
    yield env.timeout(corruption.detect_s)
    if book.holds(corruption):
        node = cluster.nodes[corruption.node]
        record = SdcDetection(env.now, corruption.node, SDC_CAUSE, corruption.gpu, math.nan,
                              "gpu", (node.slot,) if node.serving else (),
                              corruption=corruption)
        cluster.swap_culprit(node, record)


class SdcBook:
    """The job's side of SDC: the corruptions in its state, the durable checkpoints it
    keeps (`Retention`), and the rollback a detection causes. The job calls `saving` when
    a checkpoint's snapshot is taken, `durable` when one is durable, and `roll_back`
    instead of its checkpoint policy's on every interrupt."""

    def __init__(self, job: Any) -> None:
        self.job = job
        spec = job.plan.checkpoint
        self.retention = Retention(spec.keep, spec.keep_every)
        self.active: list[Corruption] = []  # corruptions in the job's current state
        self.events = 0  # corruptions detected (each a rollback)
        self.rework_s = 0.0  # the rework of those rollbacks

    # -- the source's side --------------------------------------------------------------

    def corrupt(self, corruption: Corruption) -> bool:
        """Record `corruption` if the job is running (True); a finished job has no state
        to corrupt."""
        if not self.job.process.is_alive:
            return False
        self.active.append(corruption)
        return True

    def holds(self, corruption: Corruption) -> bool:
        """Whether the job's state still holds `corruption` (no rollback erased it)."""
        return self.job.process.is_alive and any(c is corruption for c in self.active)

    # -- the job's side -----------------------------------------------------------------

    def saving(self, steps: int) -> None:
        """A checkpoint of `steps` more steps is being taken now (its snapshot)."""
        job = self.job
        total = job.committed_steps + job.checkpointing.pending_steps + steps
        self.retention.saving(total, job.env.now)

    def durable(self) -> None:
        """The job's newest checkpoint became durable (the ledger has committed it)."""
        job = self.job
        self.retention.durable(job.committed_steps, job.checkpoints, job.ledger.committed())

    def roll_back(self, cause: object) -> Rollback:
        """An interrupt: the checkpoint policy's rollback, then, for a detected
        corruption, back past it to a retained clean checkpoint. Either way, corruptions
        younger than the state the job now resumes from are erased."""
        job, ledger = self.job, self.job.ledger
        rework_s = ledger.totals["rework"]
        rollback = job.checkpointing.roll_back(cause)
        corruption = getattr(cause, "corruption", None)
        if corruption is None:
            state_s = self.retention.recovered(job.committed_steps
                                               + job.checkpointing.pending_steps)
            self._erase(state_s)
            return rollback
        job.checkpointing.drop_pending()
        ledger.rollback(job.env.now)
        target = self.retention.target(corruption.time_s)
        ledger.uncommit(target.mark)
        job.committed_steps = target.steps
        self._erase(target.snapshot_s)
        self.events += 1
        self.rework_s += ledger.totals["rework"] - rework_s
        load_s = 0.0 if target.steps == 0 else job.plan.checkpoint.load_s
        return type(rollback)(load_s, rollback.lost_writes)

    def _erase(self, state_s: float) -> None:
        """The job resumes from the state completed at `state_s`: corruptions at or after
        it are gone with the work they tainted."""
        self.active = [c for c in self.active if c.time_s < state_s]


def sdc_book(job: Any, enabled: bool) -> SdcBook | None:
    """The job's SDC book when its failures include silent data corruption, else None
    (no bookkeeping at all: runs without SDC are untouched)."""
    return SdcBook(job) if enabled else None
