"""The small interface between the cluster, its failure sources and the job.

A *failure source* (simulator/reliability/sources.py, the part clock in
simulator/reliability/parts.py) decides
*when* something breaks and *what*: it is started once with `start(env, cluster,
listener)` and from then on calls the cluster's effects (`ClusterState`: a node fails, a
group of nodes, a cable, a straggler, the job itself) or, for planned maintenance, the
listener directly. The cluster applies the effect (repair, spare swap, records) and tells
its `ClusterListener` (the training job), which it is given at construction.

Also here: what a failure looks like to the listener (`FailureRecord`) and the parts a
unit of a scope carries (`Bundle`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from simulator.reliability.failures import Component, Exponential, Lifetime
from simulator.reliability.node import Node

if TYPE_CHECKING:
    import simpy


@dataclass(frozen=True)
class PartRef:
    """One part that failed: its node, its slot, what it is and its age at failure."""

    node: int
    slot: int
    scope: str  # "gpu" or "node"
    index: int  # GPU index in the node (0 for host parts)
    age_s: float


@dataclass(frozen=True)
class FailureRecord:
    """One failure hitting the job: when, where (node -1: the job itself), which
    component, its index in the node, its age (in-service time) and scope; `slots`: the
    job slots it took out (simulator/reliability/node.py; empty for the job itself);
    `in_process`: it recovers inside the running job (no node was taken out)."""

    time_s: float
    node: int
    component: str
    index: int
    age_s: float
    scope: str = "node"
    slots: tuple[int, ...] = ()
    in_process: bool = False
    #: the job's state itself is bad (a detected silent corruption): every data-parallel
    #: replica holds it, so no replica can be taken out alone
    corrupts_state: ClassVar[bool] = False


class ClusterListener(Protocol):
    """What the cluster tells the job. Called synchronously, inside the event that
    caused it; the cluster has already applied the effect (a spare swapped in, if any).
    A listener may also have an `sdc` attribute, the book silent data corruption writes
    to (simulator/reliability/sdc.py; the training job's, None without SDC)."""

    def on_failure(self, record: FailureRecord) -> None:
        """A failure stopped the job."""

    def on_planned(self) -> None:
        """Planned maintenance asks the job to stop at its next checkpoint."""

    def on_speed(self) -> None:
        """The cluster's slowdown changed (a straggler, a cable down or back)."""

    def on_found(self, node: Node) -> None:
        """A straggler was found: swap it out at the next checkpoint."""


class NullListener:
    """A listener that ignores everything (a cluster without a job: tests, studies)."""

    def on_failure(self, record: FailureRecord) -> None:
        pass

    def on_planned(self) -> None:
        pass

    def on_speed(self) -> None:
        pass

    def on_found(self, node: Node) -> None:
        pass


class ClusterState(Protocol):
    """The cluster as its failure sources see it: its nodes and the effects they cause."""

    nodes: Sequence[Node]

    def fail(self, node: Node, part: PartRef | None, kind: str = "node", index: int = 0,
             cause: str | None = None, repair_s: float | None = None) -> None: ...

    def fail_group(self, group: Sequence[Node], cause: str, scope: str,
                   repair_s: float | None = None) -> None: ...

    def link_down(self, cause: str, repair_s: float | None = None) -> None: ...

    def straggle(self, node: Node, slowdown: float, find_s: float) -> None: ...

    def fail_job(self, cause: str) -> None: ...

    def swap_culprit(self, node: Node, record: FailureRecord) -> None: ...


class FailureSource(Protocol):
    """One room of the failure model: started once, then it runs its own processes."""

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None: ...


@dataclass(frozen=True)
class Bundle:
    """Components of one scope sharing one part per unit (competing risks).

    Exponential components merge exactly: the minimum of independent exponentials is
    exponential with the summed rate, and component i is the cause with probability
    rate_i / sum. Any other lifetime stays a bundle of one.
    """

    scope: str
    lifetime: Lifetime
    causes: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def name(self) -> str:
        return "+".join(self.causes)

    def cause(self, rng: np.random.Generator) -> str:
        """One of `causes` by `weights`: the draw of ``rng.choice(len(causes),
        p=weights)`` (one uniform against the normalised cumulative weights), without
        its per-call checks of `p`, which cost more than the draw."""
        if len(self.causes) == 1:
            return self.causes[0]
        return self.causes[int(self._cdf.searchsorted(rng.random(), side="right"))]

    @cached_property
    def _cdf(self) -> np.ndarray:
        cdf = np.asarray(self.weights, dtype=np.float64).cumsum()
        cdf /= cdf[-1]
        return cdf

    def draw(self, rng: np.random.Generator) -> float:
        """One lifetime."""
        return float(self.lifetime.sample(rng, 1)[0])


def bundles(components: tuple[Component, ...], scope: str) -> list[Bundle]:
    """The parts each unit of `scope` carries: exponentials merged, others alone."""
    mine = [c for c in components if c.scope == scope]
    expo = [c for c in mine if isinstance(c.lifetime, Exponential)]
    out = [Bundle(scope, c.lifetime, (c.name,), (1.0,)) for c in mine if c not in expo]
    if expo:
        rates = np.array([1.0 / c.lifetime.mean_s for c in expo])
        out.insert(0, Bundle(scope, Exponential(1.0 / rates.sum()),
                             tuple(c.name for c in expo), tuple(rates / rates.sum())))
    return out
