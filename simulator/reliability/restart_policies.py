"""Restart policies: after a failure, whether the job waits for its full width of
healthy nodes or restarts at once on fewer (elastic). Hot spares and the spare swap
differ only in the repair pipeline (simulator/reliability/spares.py), not in what the job
decides. Chosen by `restart.elastic`.
"""

from __future__ import annotations

from typing import ClassVar

from simulator.reliability.scenario import RestartSpec


class FullWidth:
    """After a failure, wait until every job slot has a healthy node, then restart."""

    name: ClassVar[str] = "full_width"

    def waits(self, short: int, nodes: int) -> bool:
        """Whether the job, `short` of its `nodes` nodes, waits for hardware."""
        return short > 0

    def grows_back(self, width: int, nodes: int, full: bool) -> bool:
        """Whether the job, running on `width` of `nodes`, restarts wider now."""
        return False


class Elastic(FullWidth):
    """Restart at once on the nodes left (fewer data-parallel replicas, the same global
    batch, each step nodes / width as long); wait only with no node at all. Grow back
    with a restart at the first checkpoint after the cluster is whole again."""

    name = "elastic"

    def waits(self, short: int, nodes: int) -> bool:
        return short >= nodes

    def grows_back(self, width: int, nodes: int, full: bool) -> bool:
        return width < nodes and full


#: Restart policies by name; `restart.elastic` chooses between them.
RESTART_POLICIES: dict[str, type[FullWidth]] = {p.name: p for p in (FullWidth, Elastic)}


def restart_policy(spec: RestartSpec) -> FullWidth:
    return RESTART_POLICIES["elastic" if spec.elastic else "full_width"]()
