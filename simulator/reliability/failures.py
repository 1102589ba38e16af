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

from simulator.fabric.domains import GROUP_SCOPES, FailureDomains
from simulator.units import DAY


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


@dataclass(frozen=True)
class LogNormal:
    """Lognormal lifetimes with the given mean and log-space deviation `sigma`.

    mu = ln(mean) - sigma^2 / 2, so the mean does not depend on sigma.
    """

    mean_s: float
    sigma: float

    @property
    def mu(self) -> float:
        return math.log(self.mean_s) - self.sigma**2 / 2

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size)

    def cdf(self, t_s: np.ndarray) -> np.ndarray:
        t = np.maximum(np.asarray(t_s, dtype=float), 1e-300)
        return 0.5 * (1 + np.vectorize(math.erf)((np.log(t) - self.mu)
                                                  / (self.sigma * math.sqrt(2))))


LIFETIME_KINDS = ("exponential", "weibull", "lognormal")


def make_lifetime(kind: str, mean_s: float, shape: float = 1.0) -> Lifetime:
    """Build a mean-matched lifetime distribution by name (see LIFETIME_KINDS).

    `shape` is the Weibull shape, or the lognormal's sigma.
    """
    if kind == "exponential":
        return Exponential(mean_s)
    if kind == "weibull":
        return Weibull(mean_s, shape)
    if kind == "lognormal":
        return LogNormal(mean_s, shape)
    raise ValueError(f"unknown lifetime kind {kind!r}; expected one of {LIFETIME_KINDS}")


#: What a failing component takes down: one accelerator (and so its node), its node,
#: every node behind one first-tier switch, every node of a rack (power), every node of a
#: scale-up domain (an NVL72 rack's NVLink), or the job alone (software: no hardware is
#: replaced). These interrupt the job.
SCOPES = ("gpu", "node", "switch", "rack", "scaleup", "job")
#: Scopes that slow the job down instead of stopping it: a redundant switch-to-switch
#: cable (the step runs on the degraded graph) and a straggling node.
SLOWDOWN_SCOPES = ("link", "straggler")
#: A silent data corruption's onset (a trace row): it stops nothing until detected.
SDC_KIND = "sdc"


@dataclass(frozen=True)
class Component:
    """A class of failing parts: one per unit of its scope, each with `lifetime`.

    For scope "job" the lifetime is per accelerator: the job sees failures at a rate
    proportional to its size (software bugs, NCCL timeouts).
    """

    name: str
    scope: str
    lifetime: Lifetime
    category: str = ""
    repair_s: float | None = None  # None: the restart policy's repair time
    in_process_share: float = 0.0  # share that recovers in process (restart=in_process)


@dataclass(frozen=True)
class TraceFailure:
    """One scripted failure: at `time_s`, something of kind `kind` fails (the trace
    file's `kind` column).

    `kind`: "node" (physical node `node`), "gpu" (GPU `gpu` of node `node`), "switch",
    "rack" or "scaleup" (the domain of node `node`), "job" (no hardware), "link" (a
    redundant cable, down for `repair_s`) or "straggler" (node `node` turns slow and is
    found `repair_s` later). `repair_s` overrides the repair time of this failure;
    `component` names its cause in the event table.
    """

    time_s: float
    node: int = 0
    kind: str = "node"
    gpu: int = 0
    repair_s: float | None = None
    component: str | None = None


@dataclass(frozen=True)
class Lemons:
    """A `fraction` of nodes whose parts fail `factor` times as often. A node with
    `retire_after` failures within `window_s` is retired after its repair (None: never)."""

    fraction: float
    factor: float
    retire_after: int | None = None
    window_s: float = 30 * DAY


@dataclass(frozen=True)
class InfantMortality:
    """A repaired part's hazard is `factor` times its mean rate for its first `window_s`
    (an extra exponential risk (factor - 1) / mean races its lifetime meanwhile)."""

    factor: float
    window_s: float

    def lifetime(self, base_s: float, mean_s: float, rng: np.random.Generator) -> float:
        if self.factor <= 1.0:
            return base_s
        early = float(rng.exponential(mean_s / (self.factor - 1.0)))
        return early if early < min(self.window_s, base_s) else base_s


@dataclass(frozen=True)
class Stragglers:
    """GPUs that turn slow: each in-service GPU does so at rate 1 / `mean_s`; the job's
    synchronous steps take `slowdown` times as long until the slow node is found (after
    an exponential time of mean `detect_s`) and swapped at the next checkpoint."""

    mean_s: float
    slowdown: float
    detect_s: float


@dataclass(frozen=True)
class SilentCorruption:
    """Silent data corruption (simulator/reliability/sdc.py): each in-service GPU corrupts
    the training state at rate 1 / `mtbf_s`; the corruption is found `detect` later (a
    loss spike, a checksum check), and the job then rolls back past it."""

    mtbf_s: float  # per GPU; inf: only a trace's sdc rows
    detect_s: float  # the mean detection latency...
    detect_kind: str = "exponential"  # ... its distribution (LIFETIME_KINDS)...
    detect_shape: float = 1.0  # ... and shape (Weibull shape, lognormal sigma)

    @property
    def detect(self) -> Lifetime:
        return make_lifetime(self.detect_kind, self.detect_s, self.detect_shape)


@dataclass(frozen=True)
class FailureModel:
    """What fails and how: components and their lifetimes, or a fixed trace.

    `gpu` and `node` are the two plain components (named "gpu" and "node"); a catalog
    adds more in `catalog`. A lifetime of None means that component never fails. With a
    `trace`, nothing is sampled: exactly the listed failures happen. Planned maintenance
    arrives as a Poisson process of mean gap `planned_gap_s` (None: never).
    """

    kind: str
    gpu: Lifetime | None = None
    node: Lifetime | None = None
    trace: tuple[TraceFailure, ...] | None = None
    catalog: tuple[Component, ...] = ()
    planned_gap_s: float | None = None
    lemons: Lemons | None = None
    infant: InfantMortality | None = None
    stragglers: Stragglers | None = None
    domains: FailureDomains | None = None  # from the topology graph (simulator/fabric/domains.py)
    sdc: SilentCorruption | None = None  # silent data corruption (None: none)
    resample: bool = False  # each replicate replays a bootstrap of the trace by host
    trace_hosts: tuple[str, ...] = ()  # the trace's host names by node index (if named)

    @property
    def components(self) -> tuple[Component, ...]:
        plain = [Component(name, name, life) for name, life in
                 (("gpu", self.gpu), ("node", self.node)) if life is not None]
        return (*plain, *self.catalog)

    @property
    def has_sdc(self) -> bool:
        """Whether silent data corruption strikes: sampled, or `sdc` rows in the trace."""
        return self.sdc is not None or any(t.kind == SDC_KIND for t in self.trace or ())

    @property
    def graph_scopes(self) -> frozenset[str]:
        """The scopes of its failures whose units come from the topology graph: switch,
        rack and scale-up domains, and links (components' scopes and a trace's parts)."""
        scopes = {c.scope for c in self.components} | {t.kind for t in self.trace or ()}
        return frozenset(scopes & {*GROUP_SCOPES, "link"})

    def units(self, scope: str, nodes: int, gpus_per_node: int) -> int:
        """How many parts of `scope` a job of `nodes` nodes runs on."""
        if scope in ("gpu", "job"):
            return nodes * gpus_per_node
        if scope == "node":
            return nodes
        if self.domains is None:  # switch, rack, scaleup and link units need the graph
            return 0
        if scope == "link":
            return self.domains.link_cables
        return self.domains.units(scope, nodes)

    def groups(self, scope: str) -> tuple[tuple[int, ...], ...]:
        """The physical nodes each unit of `scope` takes down (switch, rack, scaleup)."""
        return () if self.domains is None else self.domains.of(scope)

    def job_rate_per_s(self, nodes: int, gpus_per_node: int) -> float:
        """Long-run rate of failures hitting a job that holds `nodes` nodes.

        The sum of the components' rates (1 / mean each): exact at every instant for
        exponential lifetimes, the renewal-theory limit for other shapes.
        """
        lemon = 1.0
        if self.lemons is not None:  # the expected share of lemons among the job's nodes
            lemon = 1 - self.lemons.fraction + self.lemons.fraction * self.lemons.factor
        sdc = 0.0 if self.sdc is None else nodes * gpus_per_node / self.sdc.mtbf_s
        return sdc + sum(self.units(c.scope, nodes, gpus_per_node) / c.lifetime.mean_s
                         * (lemon if c.scope in ("gpu", "node") else 1.0)
                         for c in self.components if c.scope in SCOPES)

    def job_mtbi_s(self, nodes: int, gpus_per_node: int) -> float:
        """Mean time between interruptions of the job (inf without failures)."""
        rate = self.job_rate_per_s(nodes, gpus_per_node)
        return math.inf if rate == 0.0 else 1.0 / rate


NO_FAILURES = FailureModel(kind="none")
