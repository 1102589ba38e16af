"""Checkpoint retention: which durable checkpoints are still on storage to roll back to.

Checkpoint managers keep the newest few and delete the rest, optionally keeping some for
good (Orbax's `CheckpointManagerOptions(max_to_keep, keep_period)`, torchtitan's
`checkpoint.keep_latest_k`): `checkpoint.keep` = K keeps the K newest durable checkpoints
(None: all), `checkpoint.keep_every` = n keeps every n-th durable checkpoint written
forever (None: none), and a kept-forever checkpoint among the K newest counts as one of
them, as in Orbax. The start of training (step 0) is always there to go back to.

Only silent data corruption (simulator/reliability/sdc.py) ever rolls back past the
newest durable checkpoint, so the job keeps this book only when SDC is on. Memory: one
entry per kept checkpoint (K + the kept-forever ones; all of them with K = None) and one
per snapshot not yet durable.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Kept:
    """A durable checkpoint on storage: the time its state was complete (the end of the
    compute it saves), its steps, the ledger's committed time then (`Ledger.committed`)
    and whether it is kept forever."""

    snapshot_s: float
    steps: int
    mark: tuple[float, float, float]
    forever: bool


#: The start of training: nothing computed, nothing committed.
START = Kept(0.0, 0, (0.0, 0.0, 0.0), True)


class Retention:
    """The kept durable checkpoints, oldest first, and the snapshots still being made
    durable (an asynchronous write in flight, in-memory copies before the next durable
    write)."""

    def __init__(self, keep: int | None, keep_every: int | None) -> None:
        self.keep, self.keep_every = keep, keep_every
        self.kept: list[Kept] = [START]
        self._saves: deque[tuple[int, float]] = deque()  # (total steps, snapshot time)

    def saving(self, total_steps: int, now_s: float) -> None:
        """A snapshot of the state after `total_steps` steps, complete at `now_s`."""
        self._saves.append((total_steps, now_s))

    def durable(self, total_steps: int, ordinal: int, mark: tuple[float, float, float]) -> None:
        """The snapshot of `total_steps` is durable: the `ordinal`-th durable checkpoint
        written; delete the one that falls out of the K newest (unless kept forever)."""
        snapshot_s = None
        while self._saves and self._saves[0][0] <= total_steps:
            snapshot_s = self._saves.popleft()[1]
        if snapshot_s is None:
            raise RuntimeError(f"a durable checkpoint of {total_steps} steps without a "
                               "snapshot")
        forever = self.keep_every is not None and ordinal % self.keep_every == 0
        self.kept.append(Kept(snapshot_s, total_steps, mark, forever))
        if self.keep is not None:
            leaving = len(self.kept) - 1 - self.keep  # index 0 is the start
            if leaving >= 1 and not self.kept[leaving].forever:
                del self.kept[leaving]

    def recovered(self, total_steps: int) -> float:
        """A failure: the job resumes from the state after `total_steps` steps (the
        newest durable checkpoint, or an in-memory copy); snapshots past it are lost.
        Returns the time that state was complete."""
        while self._saves and self._saves[-1][0] > total_steps:
            self._saves.pop()
        if self._saves and self._saves[-1][0] == total_steps:
            return self._saves[-1][1]
        return self.kept[-1].snapshot_s

    def target(self, onset_s: float) -> Kept:
        """A corruption at `onset_s` was detected: the newest kept checkpoint complete at
        or before it (else the start). Every newer one holds the corruption and is
        deleted, with the snapshots in flight."""
        while self.kept[-1].snapshot_s > onset_s:
            self.kept.pop()
        self._saves.clear()
        return self.kept[-1]
