"""Per-replica fault tolerance (restart=per_replica): the job's data-parallel replicas
as the units of failure, as FT-HSDP (Meta, arXiv 2602.00277) and torchft run them.

The job's `nodes` slots are cut into R replicas of `replica_nodes` consecutive slots
(node.slot, simulator/reliability/node.py). A failure whose slots all lie in one replica,
while the job trains, takes that replica out: it is detected (`detect_s`), waits until
its slots have healthy nodes again (a spare, or a repaired node), restarts
(`restart_s`) and catches up from a healthy peer (`catch_up_s`) instead of loading a
checkpoint; a failure recovered in process skips detection, the wait and the restart
(`in_process_s` instead). Another failure of a replica that is out starts its return
over. While k replicas are out, the others train at (R - k) / R of the job's
throughput: the job's *capacity*; the ledger counts the rest as `replicas_out`. Each
replica that goes out also stalls the whole job `replica_stall_s` (the job's business).

A failure is *not* taken here (the job then takes the synchronous path: roll back,
restart everything at full width) when it spans more than one replica (a switch over
several), has no slots (a job-scope software fault), or would leave fewer than
`min_replicas` training. A synchronous recovery brings every replica back with it
(`cancel_all`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from simulator.reliability.failure_source import FailureRecord
from simulator.reliability.scenario import RestartSpec

#: The interrupt cause that cancels a replica's return (a synchronous restart).
CANCEL = "cancel"

SlotsFilled = Callable[[range], simpy.Event]


class Replicas:
    """Which replicas are out and their returns; `capacity` is the share training.

    `changed()` is called whenever a replica comes back (the capacity grew),
    `went_out(stall_s)` whenever one goes out (the job stalls, then trains on fewer);
    `slots_filled(slots)` is an event that fires once those job slots have nodes.
    """

    def __init__(self, env: simpy.Environment, spec: RestartSpec, nodes: int,
                 slots_filled: SlotsFilled, changed: Callable[[], None],
                 went_out: Callable[[float], None]) -> None:
        assert spec.replica_nodes, "per-replica restarts need the replica size"
        self.env, self.spec = env, spec
        self.size = spec.replica_nodes
        self.count = nodes // self.size
        self.slots_filled = slots_filled
        self.changed = changed
        self.went_out = went_out
        self.out: dict[int, simpy.Process] = {}  # replica -> its return
        self.failures = 0  # failures taken here (the replica's, not the job's path)

    @property
    def capacity(self) -> float:
        """The share of the job's replicas training: (R - k) / R."""
        return (self.count - len(self.out)) / self.count

    def replica_of(self, record: FailureRecord) -> int | None:
        """The one replica `record` hit; None if it hit none (the job itself), more than
        one, or the state every replica holds (a detected silent corruption)."""
        replicas = {slot // self.size for slot in record.slots}
        if len(replicas) != 1 or record.corrupts_state:
            return None
        return replicas.pop()

    def take(self, record: FailureRecord) -> bool:
        """Whether the failure `record` is taken here (a replica's: the job trains on);
        False: the job must take the synchronous path. A replica already out starts its
        return over; one that goes out stalls the job (`went_out`)."""
        replica = self.replica_of(record)
        if replica is None:
            return False
        if replica in self.out:
            self.failures += 1
            self.out[replica].interrupt(record.in_process)
            return True
        if self.count - len(self.out) - 1 < self.spec.min_replicas:
            return False
        self.failures += 1
        self.out[replica] = self.env.process(self._return(replica, record.in_process))
        self.went_out(self.spec.replica_stall_s)
        return True

    def cancel_all(self) -> None:
        """A synchronous restart brings every replica back with the job."""
        for process in self.out.values():
            process.interrupt(CANCEL)
        self.out.clear()

    def _return(self, replica: int, in_process: bool) -> Generator[simpy.Event, Any, None]:
        spec, env = self.spec, self.env
        slots = range(replica * self.size, (replica + 1) * self.size)
        while True:
            try:
                if in_process:
                    yield env.timeout(spec.in_process_s)
                else:
                    yield env.timeout(spec.detect_s)
                    yield self.slots_filled(slots)
                    yield env.timeout(spec.restart_s)
                yield env.timeout(spec.catch_up_s)
                break
            except simpy.Interrupt as interrupt:
                if interrupt.cause == CANCEL:
                    return
                in_process = bool(interrupt.cause)  # failed again: start over
        del self.out[replica]
        self.changed()
