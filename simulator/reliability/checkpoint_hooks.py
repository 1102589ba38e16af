"""What a checkpoint policy (simulator/reliability/checkpoint_policies.py) sees of the
job it runs in, and what a failure costs the checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import simpy

from simulator.reliability.metrics import Ledger
from simulator.reliability.storage_io import Storage


class JobHooks(Protocol):
    """The job a checkpoint policy runs in: its clock, its ledger, its progress."""

    env: simpy.Environment
    ledger: Ledger
    nodes: int  # the job's full width: its slots 0..nodes-1
    storage: Storage  # writes go through it (shared bandwidth, outages)

    def made_durable(self, steps: int) -> None:
        """`steps` more steps are in a durable checkpoint."""

    def completes(self, pending_steps: int) -> bool:
        """Whether durable + `pending_steps` steps reach the job's work budget."""

    @property
    def draining(self) -> bool:
        """Planned maintenance waits for this checkpoint (then the job restarts)."""

    @property
    def swapping(self) -> bool:
        """A straggler waits for this checkpoint to be swapped out (then a restart)."""


@dataclass(frozen=True)
class Rollback:
    """What a failure cost the checkpoints, and what the recovery loads (seconds)."""

    load_s: float
    lost_writes: int = 0  # background writes lost with the failed nodes' host memory
    from_storage: bool = True  # False: from the peers' memory (in_memory)

    @property
    def load(self) -> tuple[float, bool]:
        """(seconds, whether they are read from storage)."""
        return self.load_s, self.from_storage
