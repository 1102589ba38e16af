"""Component lifetime distributions and the failure model of a cluster.

Every distribution is *mean-matched*: it is parameterised by the component's mean time
between failures (MTBF), so switching from exponential to Weibull changes the shape of
the lifetimes, not their long-run rate. Times are in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SECONDS_PER_HOUR = 3600.0


class Lifetime(Protocol):
    """Time to failure of one component, measured in its own in-service time."""

    mean_s: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw `size` independent lifetimes in seconds."""
        ...

    def cdf(self, t_s: np.ndarray) -> np.ndarray:
        """P(lifetime <= t_s)."""
        ...


@dataclass(frozen=True)
class Exponential:
    """Memoryless lifetimes: a constant hazard 1 / mean."""

    mean_s: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean_s, size)

    def cdf(self, t_s: np.ndarray) -> np.ndarray:
        return -np.expm1(-np.asarray(t_s, dtype=float) / self.mean_s)


@dataclass(frozen=True)
class Weibull:
    """Weibull lifetimes with the given mean; shape < 1 infant mortality, > 1 wear-out.

    scale = mean / Gamma(1 + 1/shape), so the mean (and the long-run failure rate of a
    renewed component) does not depend on the shape.
    """

    mean_s: float
    shape: float

    @property
    def scale_s(self) -> float:
        return self.mean_s / math.gamma(1.0 + 1.0 / self.shape)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.scale_s * rng.weibull(self.shape, size)

    def cdf(self, t_s: np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, dtype=float)
        return -np.expm1(-((t / self.scale_s) ** self.shape))


LIFETIME_KINDS = ("exponential", "weibull")


def make_lifetime(kind: str, mean_s: float, shape: float = 1.0) -> Lifetime:
    """Build a mean-matched lifetime distribution by name (see LIFETIME_KINDS)."""
    if kind == "exponential":
        return Exponential(mean_s)
    if kind == "weibull":
        return Weibull(mean_s, shape)
    raise ValueError(f"unknown lifetime kind {kind!r}; expected one of {LIFETIME_KINDS}")


@dataclass(frozen=True)
class TraceFailure:
    """One scripted failure: at `time_s`, part `part` of physical node `node` fails.

    `part` is "node" for the host itself or "gpu" (with `gpu` its index in the node).
    Failures that hit a node not in service at that moment are ignored.
    """

    time_s: float
    node: int
    part: str = "node"
    gpu: int = 0


@dataclass(frozen=True)
class FailureModel:
    """What fails and how: per-GPU and per-node (host) lifetimes, or a fixed trace.

    A lifetime of None means that component never fails. With a `trace`, nothing is
    sampled: exactly the listed failures happen.
    """

    kind: str
    gpu: Lifetime | None = None
    node: Lifetime | None = None
    trace: tuple[TraceFailure, ...] | None = None

    def job_rate_per_s(self, nodes: int, gpus_per_node: int) -> float:
        """Long-run rate of failures hitting a job that holds `nodes` nodes.

        The sum of the components' rates (1 / mean each): exact at every instant for
        exponential lifetimes, the renewal-theory limit for other shapes.
        """
        rate = 0.0
        if self.node is not None:
            rate += nodes / self.node.mean_s
        if self.gpu is not None:
            rate += nodes * gpus_per_node / self.gpu.mean_s
        return rate

    def job_mtbi_s(self, nodes: int, gpus_per_node: int) -> float:
        """Mean time between interruptions of the job (inf without failures)."""
        rate = self.job_rate_per_s(nodes, gpus_per_node)
        return math.inf if rate == 0.0 else 1.0 / rate


NO_FAILURES = FailureModel(kind="none")
