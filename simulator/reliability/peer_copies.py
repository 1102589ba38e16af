"""Where the in-memory checkpoint copies live, and when failures have lost them.

Gemini (Wang et al., SOSP 2023, "Gemini: Fast Failure Recovery in Distributed Training
with In-Memory Checkpoints", section 4, group placement) splits the job's N machines into
groups of m consecutive ones and keeps each machine's checkpoint in the CPU memory of
every machine of its group, its own included. A machine's checkpoint is gone only when
every machine of its group lost its memory. Gemini's default m is 2. When N is not a
multiple of m, the remainder joins the last group here, so that no machine's copy lives
on itself alone (a choice of this model).

Here the machines are the job's slots (simulator/reliability/node.py): a failed node's
memory is wiped, and its replacement reloads its own shard from a peer but holds no copy
of the others' until the next in-memory checkpoint writes a new copy everywhere. So the
copy is lost once every slot of some group was wiped since the last in-memory checkpoint.
A job-scope (software) fault wipes nothing: the copies live in an agent process outside
the training process, as in Gemini.
"""

from __future__ import annotations

from collections.abc import Iterable


class PeerCopies:
    """The slots wiped since the last in-memory checkpoint, by group."""

    def __init__(self, nodes: int, group: int) -> None:
        self.group = max(1, min(group, nodes))
        self.groups = max(1, nodes // self.group)
        self._wiped: dict[int, set[int]] = {}
        self._size = [self.group] * self.groups
        self._size[-1] = nodes - self.group * (self.groups - 1)

    def group_of(self, slot: int) -> int:
        """The group of job slot `slot` (the remainder belongs to the last group)."""
        return min(slot // self.group, self.groups - 1)

    def renewed(self) -> None:
        """An in-memory checkpoint wrote a new copy to every machine."""
        self._wiped.clear()

    def wipe(self, slots: Iterable[int]) -> bool:
        """The machines in `slots` lost their memory: whether some group is now wiped
        whole (the copy is lost). Slots outside the job (-1) are ignored."""
        lost = False
        for slot in slots:
            if slot < 0:
                continue
            group = self.group_of(slot)
            wiped = self._wiped.setdefault(group, set())
            wiped.add(slot)
            lost = lost or len(wiped) >= self._size[group]
        return lost
