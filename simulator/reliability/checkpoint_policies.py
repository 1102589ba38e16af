"""Checkpoint policies: strategy objects, chosen by name from a registry.

`TrainingJob` (simulator/reliability/job.py) runs segments of compute and asks its checkpoint
policy every question that differs between policies:

- `choose_interval(configured_s, write_s, mtbi_s)`: the compute time between
  checkpoints, at configuration time, from the write time C and the job's mean time
  between interruptions M (from the failure model);
- `interval_steps(now_s, failures)`: the steps of the next segment (adaptive re-plans);
- `save(steps)`: the checkpoint at the end of a segment, as a SimPy generator: what it
  blocks for and when it becomes durable (`JobHooks.made_durable`);
- `roll_back(cause)`: what a failure discards and what the recovery then loads.

The interval rules are closed forms in simulator/reliability/intervals.py; the restart
policies are in simulator/reliability/restart_policies.py.

Adding a policy: one class here with its `name` in `CHECKPOINT_POLICIES`, one
`scenarios/checkpoint/<name>.yaml` with its schema in simulator/config/checkpoint.py,
and tests (README "Checkpoint policies").
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any, ClassVar

import simpy

from simulator.reliability.checkpoint_hooks import JobHooks, Rollback
from simulator.reliability.intervals import daly_interval, fixed_interval, young_daly_interval
from simulator.reliability.metrics import Phase
from simulator.reliability.peer_copies import PeerCopies
from simulator.reliability.scenario import CheckpointSpec, whole_steps

#: Asynchronous checkpoints: writes in flight at most; the next snapshot waits (blocked,
#: as checkpoint time) for the oldest to finish, as checkpoint libraries make a save
#: wait for the one before it. Without a bound, intervals shorter than the write would
#: pile up writes that share the bandwidth ever more thinly.
MAX_WRITES_IN_FLIGHT = 2


# ---- checkpoint policies ----------------------------------------------------------------

#: CheckpointSpec fields that belong to one policy each (None / default elsewhere).
_OWN_FIELDS = {"snapshot_s": None, "prior_mtbi_s": None, "memory_write_s": None,
               "memory_load_s": 0.0, "durable_every": 1, "memory_group": 2}


class CheckpointPolicy:
    """Synchronous checkpoints every `interval_s` of compute: the job blocks for the
    whole write; a failure rolls back to the last checkpoint, which recovery loads."""

    name: ClassVar[str] = ""
    #: chooses its interval from the failure model (checkpoint.interval_minutes is null)
    model_driven: ClassVar[bool] = False
    #: the CheckpointSpec fields of `_OWN_FIELDS` this policy needs set
    own_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: CheckpointSpec, step_s: float) -> None:
        for key, unset in _OWN_FIELDS.items():
            value = getattr(spec, key)
            if key in self.own_fields and value is None:
                raise ValueError(f"checkpoint policy {self.name!r} needs {key}")
            if key not in self.own_fields and value != unset:
                raise ValueError(f"checkpoint policy {self.name!r} does not use {key} "
                                 f"(got {value!r}); leave it {unset!r}")
        self.spec = spec
        self.step_s = step_s
        self.job: JobHooks | None = None
        self._to_durable = Rollback(spec.load_s)
        self._skipped_steps = 0  # steps of checkpoints a storage outage made us skip

    #: (configured_s, write_s, mtbi_s) -> the interval in seconds, at configuration time
    choose_interval = staticmethod(fixed_interval)

    def attach(self, job: JobHooks) -> None:
        """Run in `job` (called once, after the job's process has started)."""
        self.job = job

    def interval_steps(self, now_s: float, failures: int) -> int:
        """Steps to compute before the next checkpoint."""
        return whole_steps(self.spec.interval_s, self.step_s)

    @property
    def pending_steps(self) -> int:
        """Steps saved but not yet durable."""
        return self._skipped_steps

    def save(self, steps: int) -> Generator[simpy.Event, Any, None]:
        """The checkpoint after `steps` steps of compute (the ledger is in CHECKPOINT);
        given up for a storage outage (outage_write=skip), the next one saves them."""
        env, job = self.job.env, self.job
        if not (yield from job.storage.write(self.spec.write_s)):
            self._skipped_steps += steps
            return
        job.ledger.commit(env.now)
        job.made_durable(steps + self._skipped_steps)
        self._skipped_steps = 0

    def wiped(self, cause: object) -> None:
        """A failure the job trained through (one data-parallel replica's): its nodes'
        memory is gone, nothing is rolled back."""

    def roll_back(self, cause: object) -> Rollback:
        """A failure: discard everything not durable; recovery loads from storage."""
        self.job.ledger.rollback(self.job.env.now)
        self._skipped_steps = 0
        return self._to_durable

    def drop_pending(self) -> None:
        """Forget every checkpoint not yet durable (a rollback past the durable ones:
        silent data corruption, simulator/reliability/sdc.py)."""

    @property
    def planned_load_s(self) -> float:
        """What a planned restart (drain, swap, elastic growth) loads: the durable one."""
        return self.spec.load_s

    # ---- what the policy costs, before any run (experiments/feasibility.py asks) ----

    #: the keys that set `usual_load_s`, for messages
    load_keys: ClassVar[str] = "checkpoint.load_minutes"

    @classmethod
    def mean_blocking_s(cls, spec: CheckpointSpec) -> float:
        """Seconds the job blocks per checkpoint, on average."""
        return spec.write_s

    @classmethod
    def blocking_keys(cls, spec: CheckpointSpec) -> str | None:
        """The keys that set `mean_blocking_s` when it is not the whole write (None)."""
        return None

    @classmethod
    def background_write_s(cls, spec: CheckpointSpec) -> float | None:
        """Seconds a write runs behind the job after it stops blocking (None: none)."""
        return None

    @classmethod
    def usual_load_s(cls, spec: CheckpointSpec) -> float:
        """What recovery from a typical (one-node) failure loads."""
        return spec.load_s


class Fixed(CheckpointPolicy):
    """Every `checkpoint.interval_minutes` of compute (rounded to whole steps)."""

    name = "fixed"


class YoungDaly(CheckpointPolicy):
    """Young's (1974) interval sqrt(2 C M), from the failure model's M."""

    name = "young_daly"
    model_driven = True
    choose_interval = staticmethod(young_daly_interval)


class Daly(CheckpointPolicy):
    """Daly's (2006) higher-order interval, from the failure model's M."""

    name = "daly"
    model_driven = True
    choose_interval = staticmethod(daly_interval)


class Adaptive(YoungDaly):
    """Young's interval for the MTBI estimated so far, re-set at every segment:
    (M0 + t) / (1 + n), the prior M0 counting as one pseudo-failure, t the elapsed
    time, n the failures the job has seen."""

    name = "adaptive"
    own_fields = ("prior_mtbi_s",)

    def interval_steps(self, now_s: float, failures: int) -> int:
        mtbi_s = (self.spec.prior_mtbi_s + now_s) / (1 + failures)
        return whole_steps(young_daly_interval(None, self.spec.write_s, mtbi_s), self.step_s)


class Async(CheckpointPolicy):
    """Block only for the snapshot to host memory; a background process makes it
    durable. Writes in flight share the storage bandwidth (processor sharing: with n
    writing, each goes at 1/n of the speed); with MAX_WRITES_IN_FLIGHT writing, the next
    snapshot waits. A failure loses every write not yet finished and rolls back to the
    last durable checkpoint. Before the end of the work, a drain or a swap, the job
    waits until everything it saved is durable. With input read from storage, the
    writes share it with the input stream too (simulator/fabric/storage.py); a storage
    outage stops them, and every write in flight starts again when storage is back."""

    name = "async"
    own_fields = ("snapshot_s",)

    def __init__(self, spec: CheckpointSpec, step_s: float) -> None:
        super().__init__(spec, step_s)
        self._writes: list[list[float]] = []  # [steps, seconds of writing left]

    @classmethod
    def mean_blocking_s(cls, spec: CheckpointSpec) -> float:
        return spec.snapshot_s

    @classmethod
    def blocking_keys(cls, spec: CheckpointSpec) -> str | None:
        return "checkpoint.snapshot_minutes"

    @classmethod
    def background_write_s(cls, spec: CheckpointSpec) -> float | None:
        return spec.write_s

    def attach(self, job: JobHooks) -> None:
        super().attach(job)
        env = job.env
        self._arrived: simpy.Event = env.event()  # a snapshot joined the writes
        self._write_done: simpy.Event = env.event()  # a write finished
        self._idle: simpy.Event | None = None  # every write finished
        self._writer = env.process(self._write_in_background())
        job.storage.listeners.append(self._storage_changed)

    def _storage_changed(self, outage_started: bool) -> None:
        """Storage went down (the writes in flight fail) or came back: re-plan."""
        if self._writes and self._writer.is_alive:
            self._writer.interrupt("outage" if outage_started else "storage")

    @property
    def pending_steps(self) -> int:
        return int(sum(steps for steps, _ in self._writes))

    def save(self, steps: int) -> Generator[simpy.Event, Any, None]:
        env, job = self.job.env, self.job
        while len(self._writes) >= MAX_WRITES_IN_FLIGHT:  # storage is behind: wait
            self._write_done = env.event()
            yield self._write_done
        yield env.timeout(self.spec.snapshot_s)
        job.ledger.seal(env.now)
        self._start_write(steps)
        if job.completes(self.pending_steps) or job.draining or job.swapping:
            yield from self._await_durable()

    def roll_back(self, cause: object) -> Rollback:
        if not self._writes:
            return super().roll_back(cause)
        lost = len(self._writes)  # lost with the nodes' host memory
        self._writes.clear()
        self.job.storage.set_writing(0)
        self._writer.interrupt("failure")
        return Rollback(super().roll_back(cause).load_s, lost)

    def _start_write(self, steps: int) -> None:
        """A snapshot was taken: its write joins the ones in flight."""
        self._writes.append([steps, self.spec.write_s])
        self.job.storage.set_writing(len(self._writes))
        if len(self._writes) == 1:
            if not self._arrived.triggered:
                self._arrived.succeed()
            self._arrived = self.job.env.event()
        else:
            self._writer.interrupt("another write")

    def _await_durable(self) -> Generator[simpy.Event, Any, None]:
        """Block (as checkpoint time) until every snapshot taken is durable."""
        if self.pending_steps:
            self.job.ledger.enter(Phase.CHECKPOINT, self.job.env.now)
            self._idle = self.job.env.event()
            yield self._idle

    def _write_in_background(self) -> Generator[simpy.Event, Any, None]:
        """The writes in flight share the storage bandwidth (n writing: each at 1/n
        speed). Writes are the same size, so the oldest finishes first and the ledger
        commits segments in order."""
        env = self.job.env
        while True:
            if not self._writes:
                with contextlib.suppress(simpy.Interrupt):  # storage news as a write came
                    yield self._arrived
                continue
            sharing = len(self._writes)
            stretch = self.job.storage.write_stretch(sharing)  # n: processor sharing
            started = env.now
            try:
                yield env.timeout(self._writes[0][1] * stretch)
            except simpy.Interrupt as interrupt:  # a write joined, a failure, storage
                for write in self._writes[:sharing]:  # not the one that just joined
                    write[1] -= (env.now - started) / stretch
                    if interrupt.cause == "outage":  # failed: again from the start
                        write[1] = self.spec.write_s
                        self.job.storage.failed_writes += 1
                continue
            for write in self._writes[1:]:
                write[1] -= (env.now - started) / stretch
            steps, _ = self._writes.pop(0)
            self.job.storage.set_writing(len(self._writes))
            self.job.ledger.commit_oldest()
            self.job.made_durable(int(steps))
            if not self._write_done.triggered:
                self._write_done.succeed()
            if self.pending_steps == 0 and self._idle is not None and not self._idle.triggered:
                self._idle.succeed()


class InMemory(CheckpointPolicy):
    """Gemini-style: most checkpoints are copies to the memory of the peers of each
    node's group (`memory_group` consecutive job slots, simulator/reliability/
    peer_copies.py); every `durable_every`-th (and the last, and before planned
    maintenance) is written to storage instead, making no memory copy. A failure rolls
    back to the last in-memory copy newer than the last durable checkpoint and loads it
    fast, unless the failures since that copy wiped every machine of some group (a
    switch over a whole group, or its machines one after the other): then, as when
    there is no such copy, back to the last durable checkpoint, loaded from storage. A
    job-scope fault wipes no memory; a straggler swap keeps the copies (on peers)."""

    name = "in_memory"
    own_fields = ("memory_write_s", "memory_load_s", "durable_every", "memory_group")
    load_keys = "checkpoint.load_minutes, checkpoint.memory_load_minutes"

    @classmethod
    def mean_blocking_s(cls, spec: CheckpointSpec) -> float:
        k = spec.durable_every
        return ((k - 1) * spec.memory_write_s + spec.write_s) / k

    @classmethod
    def blocking_keys(cls, spec: CheckpointSpec) -> str | None:
        return ("checkpoint.memory_write_minutes, and checkpoint.write_minutes every "
                f"checkpoint.durable_every={spec.durable_every}")

    @classmethod
    def usual_load_s(cls, spec: CheckpointSpec) -> float:
        return spec.memory_load_s if spec.durable_every > 1 else spec.load_s

    def __init__(self, spec: CheckpointSpec, step_s: float) -> None:
        super().__init__(spec, step_s)
        self._since_durable = 0  # in-memory checkpoints since the last durable one
        self._memory_steps = 0  # steps held only in memory copies
        self._copy_held = False  # an in-memory copy newer than the last durable one
        self._to_memory = Rollback(spec.memory_load_s, from_storage=False)
        self._copies: PeerCopies | None = None

    def attach(self, job: JobHooks) -> None:
        super().attach(job)
        self._copies = PeerCopies(job.nodes, self.spec.memory_group)

    @property
    def pending_steps(self) -> int:
        return self._memory_steps

    def save(self, steps: int) -> Generator[simpy.Event, Any, None]:
        env, job, spec = self.job.env, self.job, self.spec
        last = job.completes(self._memory_steps + steps)
        if self._since_durable + 1 >= spec.durable_every or last or job.draining:
            yield from job.storage.write(spec.write_s)  # outage_write=retry only
            job.ledger.commit(env.now)
            job.made_durable(self._memory_steps + steps)
            self._memory_steps, self._since_durable = 0, 0
            self._copy_held = False  # a durable checkpoint makes no memory copy
        else:
            yield env.timeout(spec.memory_write_s)
            job.ledger.seal(env.now)
            self._memory_steps += steps
            self._since_durable += 1
            self._copy_held = True
            self._copies.renewed()

    def roll_back(self, cause: object) -> Rollback:
        """`cause.slots`: the job slots the failure wiped (none for a job-scope fault)."""
        lost = self._copies.wipe(_wiped_slots(cause))
        if self._copy_held and not lost:
            self.job.ledger.rollback_open(self.job.env.now)
            return self._to_memory
        self._memory_steps, self._since_durable, self._copy_held = 0, 0, False
        return super().roll_back(cause)

    def drop_pending(self) -> None:
        self._memory_steps, self._since_durable = 0, 0

    def wiped(self, cause: object) -> None:
        if self._copies.wipe(_wiped_slots(cause)):
            self._copy_held = False  # a whole group's copies are gone


def _wiped_slots(cause: object) -> tuple[int, ...]:
    """The job slots whose memory a failure wiped: its slots, none if it recovered in
    process (the node and its memory stay)."""
    return () if getattr(cause, "in_process", False) else getattr(cause, "slots", ())


#: Checkpoint policies by name (`checkpoint.policy`, the `checkpoint=` group option).
CHECKPOINT_POLICIES: dict[str, type[CheckpointPolicy]] = {
    policy.name: policy for policy in (Fixed, YoungDaly, Daly, Adaptive, Async, InMemory)
}
#: Policies that choose the interval themselves from the failure model.
MODEL_DRIVEN = tuple(name for name, policy in CHECKPOINT_POLICIES.items()
                     if policy.model_driven)


def checkpoint_policy(spec: CheckpointSpec, step_s: float) -> CheckpointPolicy:
    """A fresh policy object for one job (policies keep per-run state)."""
    if spec.policy not in CHECKPOINT_POLICIES:
        raise ValueError(f"unknown checkpoint policy {spec.policy!r}; expected one of "
                         f"{', '.join(CHECKPOINT_POLICIES)}")
    return CHECKPOINT_POLICIES[spec.policy](spec, step_s)
