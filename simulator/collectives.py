"""Collective communication as phases of concurrent flows over the flow-level network.

A collective on p ranks is a sequence of *phases*; in each phase every rank of every
group sends one flow at the same time, and the phase lasts as long as its slowest flow
(plus a per-step software latency). All groups of a parallel dimension run together, so
contention between them on shared links (an oversubscribed spine) shows.

Algorithms (NCCL's, in their bandwidth-optimal forms):
- ring: all-reduce = 2(p-1) steps of S/p to the ring neighbour; reduce-scatter and
  all-gather p-1 steps of S/p (alpha-beta: 2(p-1)a + 2(p-1)/p S b, and (p-1)a + (p-1)/p S b);
- tree: NCCL's pipelined double binary tree all-reduce: two complementary binary trees
  each reduce and broadcast half the data, all tree edges busy at once (every rank
  sends 2S in all), plus 2 ceil(log2 p) steps of pipeline fill;
- hierarchical all-reduce: intra-domain reduce-scatter, inter-domain ring all-reduce of
  S/g on g rail-aligned rings at once, intra-domain all-gather;
- nvls: in-switch reduction (NVLS / SHARP) inside one scale-up domain: every rank sends
  S into the switch and receives S back, at `nvls_efficiency` of its link rate;
- all-to-all: every rank sends S/p to every other rank at once; send/recv: one flow.
Sizes follow nccl-tests: S is the total buffer (all-gather output, reduce-scatter input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OPS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "send_recv")
ALGORITHMS = ("auto", "ring", "tree", "hierarchical", "nvls", "direct")
DIMS = ("tp", "cp", "pp", "dp", "ep", "node", "world")

#: nccl-tests' busbw factors (doc/PERFORMANCE.md): busbw = algbw x factor(p)
BUS_FACTOR = {
    "all_reduce": lambda p: 2 * (p - 1) / p,
    "reduce_scatter": lambda p: (p - 1) / p,
    "all_gather": lambda p: (p - 1) / p,
    "all_to_all": lambda p: (p - 1) / p,
    "send_recv": lambda p: 1.0,
}


@dataclass(frozen=True)
class Layout:
    """Ranks -> (tp, cp, dp, pp) coordinates in Megatron-LM's order (tp fastest, then
    cp, dp, pp): rank = tp + TP (cp + CP (dp + DP pp)). EP groups are blocks of EP
    consecutive dp indices; DP groups span dp x cp (gradients are reduced over both)."""

    tp: int = 1
    cp: int = 1
    dp: int = 1
    pp: int = 1
    ep: int = 1
    gpus_per_node: int = 8

    @property
    def gpus(self) -> int:
        return self.tp * self.cp * self.dp * self.pp

    def groups(self, dim: str) -> np.ndarray:
        """Every group of `dim` as rows of global ranks, in ring order."""
        ranks = np.arange(self.gpus).reshape(self.pp, self.dp, self.cp, self.tp)
        if dim == "tp":
            return ranks.reshape(-1, self.tp)
        if dim == "cp":
            return ranks.transpose(0, 1, 3, 2).reshape(-1, self.cp)
        if dim == "dp":
            return ranks.transpose(0, 3, 1, 2).reshape(-1, self.dp * self.cp)
        if dim == "pp":
            return ranks.transpose(1, 2, 3, 0).reshape(-1, self.pp)
        if dim == "ep":
            blocks = ranks.reshape(self.pp, self.dp // self.ep, self.ep, self.cp, self.tp)
            return blocks.transpose(0, 1, 3, 4, 2).reshape(-1, self.ep)
        if dim == "node":
            return np.arange(self.gpus).reshape(-1, min(self.gpus_per_node, self.gpus))
        if dim == "world":
            return np.arange(self.gpus).reshape(1, -1)
        raise ValueError(f"unknown group {dim!r}; expected one of {', '.join(DIMS)}")


@dataclass(frozen=True)
class Phase:
    """`repeat` rounds of concurrent flows src[i] -> dst[i] of `size` bytes each."""

    src: np.ndarray
    dst: np.ndarray
    size: float
    repeat: int


def _ring_neighbours(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return groups.ravel(), np.roll(groups, -1, axis=1).ravel()


def ring_phases(op: str, groups: np.ndarray, size: float) -> list[Phase]:
    p = groups.shape[1]
    src, dst = _ring_neighbours(groups)
    steps = {"all_reduce": 2 * (p - 1), "reduce_scatter": p - 1, "all_gather": p - 1}[op]
    return [Phase(src, dst, size / p, steps)]


def tree_phases(groups: np.ndarray, size: float) -> list[Phase]:
    """Double binary tree: tree one on the group order, tree two on its reverse."""
    p = groups.shape[1]
    child = np.arange(1, p)
    parent = (child - 1) // 2
    src, dst = [], []
    for order in (groups, groups[:, ::-1]):
        kids, parents = order[:, child].ravel(), order[:, parent].ravel()
        src += [kids, parents]  # reduce up, broadcast down: S/2 each way on every edge
        dst += [parents, kids]
    src_all, dst_all = np.concatenate(src), np.concatenate(dst)
    depth = math.ceil(math.log2(p))
    return [Phase(src_all, dst_all, size / 2, 1),
            Phase(src_all, dst_all, 0.0, max(2 * depth - 1, 0))]  # pipeline fill


def all_to_all_phases(groups: np.ndarray, size: float) -> list[Phase]:
    p = groups.shape[1]
    src = np.repeat(groups, p - 1, axis=1).ravel()
    shifts = [np.roll(groups, -k, axis=1) for k in range(1, p)]
    dst = np.stack(shifts, axis=2).ravel()
    return [Phase(src, dst, size / p, 1)]


def send_recv_phases(groups: np.ndarray, size: float) -> list[Phase]:
    """Pipeline steady state: every stage sends to the next one at the same time."""
    return [Phase(groups[:, :-1].ravel(), groups[:, 1:].ravel(), size, 1)]


class CollectiveModel:
    """Times collectives over a `Network` for the groups of a `Layout` (cached)."""

    def __init__(self, network, layout: Layout, *, step_latency_s: float = 1e-6,
                 nvls_efficiency: float = 0.61) -> None:
        self.network = network
        self.graph = network.graph
        self.layout = layout
        self.step_latency_s = step_latency_s
        self.nvls_efficiency = nvls_efficiency
        self._cache: dict[tuple, float] = {}
        self._domains: np.ndarray | None = None  # scale-up domain of every rank

    @property
    def computed(self) -> int:
        """How many distinct collectives this model has timed (the rest were cached)."""
        return len(self._cache)

    def time(self, op: str, dim: str, size_bytes: float, algorithm: str = "auto") -> float:
        key = (op, dim, float(size_bytes), algorithm)
        if key not in self._cache:
            groups = self.layout.groups(dim)
            self._cache[key] = self.time_groups(op, groups, size_bytes, algorithm)
        return self._cache[key]

    def time_groups(self, op: str, groups: np.ndarray, size_bytes: float,
                    algorithm: str = "auto") -> float:
        """Seconds for `op` on every row of `groups` at once."""
        if op not in OPS:
            raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(OPS)}")
        p = groups.shape[1]
        if p <= 1 or size_bytes <= 0:
            return 0.0
        algorithm = self.choose(op, groups, algorithm)
        if algorithm == "nvls":
            return self._nvls(groups, size_bytes)
        return self.run(self.phases(op, groups, size_bytes, algorithm))

    def choose(self, op: str, groups: np.ndarray, algorithm: str) -> str:
        """The algorithm to run; 'auto' picks like NCCL. Raises ValueError if it does
        not apply (ring/hierarchical/nvls are for reductions and gathers, direct for
        all-to-all and send/recv, hierarchical needs several ranks in each of several
        domains, nvls one domain)."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; expected one of "
                             f"{', '.join(ALGORITHMS)}")
        pointwise = op in ("all_to_all", "send_recv")
        if algorithm == "auto":
            if pointwise:
                return "direct"
            per_domain = self._ranks_per_domain(groups)
            spans = per_domain < groups.shape[1]
            return "hierarchical" if op == "all_reduce" and spans and per_domain > 1 else "ring"
        if pointwise != (algorithm == "direct"):
            raise ValueError(f"{algorithm} does not apply to {op}")
        if algorithm == "tree" and op != "all_reduce":
            raise ValueError("tree is for all_reduce only")
        if algorithm == "hierarchical":
            per_domain = self._ranks_per_domain(groups)
            if op != "all_reduce" or not 1 < per_domain < groups.shape[1]:
                raise ValueError("hierarchical needs an all_reduce over several ranks in "
                                 "each of several scale-up domains")
        if algorithm == "nvls" and (op != "all_reduce" or
                                    self._ranks_per_domain(groups) < groups.shape[1]):
            raise ValueError("nvls needs an all_reduce inside one scale-up domain")
        return algorithm

    def phases(self, op: str, groups: np.ndarray, size: float,
               algorithm: str = "auto") -> list[Phase]:
        """The flows of `op` on every group, phase by phase (not for nvls)."""
        algorithm = self.choose(op, groups, algorithm)
        if op == "all_to_all":
            return all_to_all_phases(groups, size)
        if op == "send_recv":
            return send_recv_phases(groups, size)
        if algorithm == "hierarchical":
            return self._hierarchical_phases(groups, size)
        if algorithm == "tree":
            return tree_phases(groups, size)
        return ring_phases(op, groups, size)

    def run(self, phases: Sequence[Phase]) -> float:
        """Each phase: its slowest flow (max-min rates, path latency) + step latency."""
        total = 0.0
        for phase in phases:
            pairs = list(zip(phase.src.tolist(), phase.dst.tolist(), strict=True))
            sizes = np.full(len(pairs), phase.size)
            slowest = float(np.max(self.network.transfer_times(pairs, sizes)))
            total += phase.repeat * (slowest + self.step_latency_s)
        return total

    def _domain(self, ranks: np.ndarray) -> np.ndarray:
        if self._domains is None:
            self._domains = np.array([self.graph.nodes[r]["domain"]
                                      for r in range(self.graph.graph["gpus"])])
        return self._domains[ranks]

    def _ranks_per_domain(self, groups: np.ndarray) -> int:
        """Ranks of one group per scale-up domain (layouts give every group the same
        shape, so the first group stands for all)."""
        first = self._domain(groups[0])
        return int(np.max(np.unique(first, return_counts=True)[1]))

    def _hierarchical_phases(self, groups: np.ndarray, size: float) -> list[Phase]:
        """Reduce-scatter in each domain, g rail rings across domains, all-gather back.

        Each rank's NIC carries 2(k-1)/k x S/g bytes (k domains, g ranks per domain).
        """
        g = self._ranks_per_domain(groups)
        p = groups.shape[1]
        if p % g:
            return ring_phases("all_reduce", groups, size)
        # order each group domain-major so that local index i of every domain lines up
        order = np.argsort(self._domain(groups), axis=1, kind="stable")
        ordered = np.take_along_axis(groups, order, axis=1)
        k = p // g
        local = ordered.reshape(-1, g)  # one row per (group, domain)
        rails = ordered.reshape(-1, k, g).transpose(0, 2, 1).reshape(-1, k)
        phases = ring_phases("reduce_scatter", local, size)
        if k > 1:
            phases += ring_phases("all_reduce", rails, size / g)
        return phases + ring_phases("all_gather", local, size)

    def _nvls(self, groups: np.ndarray, size: float) -> float:
        """S up into the switch and S back down, at nvls_efficiency of the NVLink rate."""
        rank = int(groups[0, 0])
        link = next(d for _, _, d in self.graph.edges(rank, data=True) if d["kind"] == "nvlink")
        return (2 * link["latency"] + self.step_latency_s
                + size / (link["bandwidth"] * self.nvls_efficiency))


def bandwidths(op: str, p: int, size_bytes: float, seconds: float) -> tuple[float, float]:
    """(algbw, busbw) in bytes/s, nccl-tests' definitions."""
    if seconds <= 0:
        return math.inf, math.inf
    algbw = size_bytes / seconds
    return algbw, algbw * BUS_FACTOR[op](p)


if __name__ == "__main__":  # python -m simulator.collectives: the nccl-tests-style table
    import sys

    from simulator.collectives_cli import main

    sys.exit(main())
