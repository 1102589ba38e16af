"""Restart policies: what the job does after a failure.

- `full_width` (restart=spare_swap, hot_spares, in_process): the whole job rolls back to
  its checkpoint and waits until every job slot has a healthy node, then restarts.
  Hot spares and the spare swap differ only in the repair pipeline
  (simulator/reliability/spares.py), in-process restart only in which failures skip it.
- `elastic`: restart at once on the nodes left; wait only with none at all.
- `per_replica` (FT-HSDP, torchft): a failure inside one data-parallel replica takes only
  that replica out while the others keep training (simulator/reliability/replicas.py);
  a wider one takes the full-width path.

Chosen by `restart.policy` (the option's schema sets it: simulator/config/restart.py).
"""

from __future__ import annotations

from typing import ClassVar

from simulator.reliability.scenario import RestartSpec


class FullWidth:
    """After a failure, wait until every job slot has a healthy node, then restart."""

    name: ClassVar[str] = "full_width"
    #: a failure inside one data-parallel replica takes only that replica out
    per_replica: ClassVar[bool] = False

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


class PerReplica(FullWidth):
    """A failure inside one data-parallel replica takes only that replica out; the job
    keeps training on the others (simulator/reliability/replicas.py). Its synchronous
    path (a wider failure, too few replicas left) is full_width's."""

    name = "per_replica"
    per_replica = True


#: Restart policies by name (`restart.policy`).
RESTART_POLICIES: dict[str, type[FullWidth]] = {
    p.name: p for p in (FullWidth, Elastic, PerReplica)}


def restart_policy(spec: RestartSpec) -> FullWidth:
    if spec.policy not in RESTART_POLICIES:
        raise ValueError(f"unknown restart policy {spec.policy!r}; expected one of "
                         f"{', '.join(RESTART_POLICIES)}")
    return RESTART_POLICIES[spec.policy]()
