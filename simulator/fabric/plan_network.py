"""The flow network of a built-in switched topology from its builder's plan, no graph.

`Network` over the graph of a 131,072-GPU fat-tree spends ~15 s and ~3.5 GB on what the
builder's arguments already say: the graph, its link tables, a breadth-first search
from every first-tier switch and an ECMP walk per flow. A `PlanNetwork` numbers the
links as `Network` numbers the graph's edges (the builder's insertion order,
`graph.edges()`: ``2 e`` the earlier node of edge e -> the later one, ``2 e + 1``
back), routes every flow by the rule of `simulator.fabric.routing` in closed form
(vectorised over the flows, nothing cached per pair) and hands the same link x flow
incidence to the same solver, so every route, path latency and transfer time is the
graph's, bit for bit. The graph path stays the reference and serves every other
topology; tests/fabric/test_plan_network.py holds the two equal with ==.

What every such topology shares, and this base class routes: per GPU g its NVLink edge
(if its scale-up domain has an NVSwitch) and then its NIC edge to its first switch
(edges ``g * per_gpu``, ``g * per_gpu + per_gpu - 1``), then the switch-to-switch edges
(`simulator.fabric.rail_network`: leaves, spines, cores; `simulator.fabric.tor_network`:
ToRs, cluster and aggregation switches). Two GPUs of one domain go through the NVSwitch
(or, when they also share their first switch, 0 hops both ways, through the wider of
the two access links, equal widths alternating by ``(src + dst) % 2``); two GPUs on one
first switch through it; the rest by the subclass's `_walk`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from simulator.fabric.collective_placement import RankPlacement
from simulator.fabric.flows import Incidence, SolvesFlows
from simulator.fabric.routing import as_pairs
from simulator.fabric.routing_hops import split_rows

__all__ = ["MAX_HOPS", "PlanNetwork", "PlanPlacement"]

MAX_HOPS = 6  # GPU -> first switch -> 3 switches at most -> last switch -> GPU


class PlanNetwork(SolvesFlows):
    """`simulator.fabric.network.Network`'s routes and transfer times from a shape
    (no graph; `graph` is None). Attributes as `Network`'s: `routing`, `efficiency`,
    `n_links`, `capacity` (may be edited in place; routes never change), `latency`.

    The shape has `gpus`, `rails` (GPUs per server), `domain` (GPUs per scale-up
    domain, 1: no NVSwitch), `nvlink_bandwidth`, `nvlink_latency`, `nic_bandwidth`,
    `nic_latency`, `switch_latency` and `kind` (of the NIC and switch links).
    Subclasses give the switch-to-switch edges (`_upper`), a GPU's first switch
    (`_first`), the routes between first switches (`_walk`) and `_edge`.
    """

    graph = None
    routing = "switched"

    def __init__(self, shape, efficiency: Mapping[str, float] | None = None) -> None:
        self.shape = s = shape
        self.efficiency = dict(efficiency or {})
        for k, e in self.efficiency.items():
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e < np.inf:
                raise ValueError(f"efficiency[{k!r}]={e!r}: must be a positive number")
        self._per_gpu = 2 if s.domain > 1 else 1  # edges per GPU: NVLink, NIC
        self._switch_edges = s.gpus * self._per_gpu  # the first switch-to-switch edge
        eff = self.efficiency.get
        per_gpu = [(s.nic_bandwidth, eff(s.kind, 1.0), s.nic_latency)]
        if s.domain > 1:
            per_gpu.insert(0, (s.nvlink_bandwidth, eff("nvlink", 1.0), s.nvlink_latency))
        bandwidth = [np.tile([p[0] for p in per_gpu], s.gpus)]
        factor = [np.tile([float(p[1]) for p in per_gpu], s.gpus)]
        latency = [np.tile([p[2] for p in per_gpu], s.gpus)]
        for count, bw in self._upper():
            bandwidth.append(np.full(count, bw))
            factor.append(np.full(count, float(eff(s.kind, 1.0))))
            latency.append(np.full(count, s.switch_latency))
        cap = np.concatenate(bandwidth) * np.concatenate(factor)
        if not (cap > 0).all():
            raise ValueError(f"a link of this {s.kind} fabric has non-positive capacity")
        self.n_links: int = 2 * cap.size
        self.capacity: np.ndarray = np.repeat(cap, 2)
        self.latency: np.ndarray = np.repeat(np.concatenate(latency), 2)
        self._nvlink_cap = float(cap[0]) if s.domain > 1 else 0.0
        self._nic_cap = float(cap[self._per_gpu - 1])

    # -- what a topology says --

    def _upper(self) -> list[tuple[int, float]]:
        """(edges, bandwidth) of each block of switch-to-switch edges, in edge order."""
        raise NotImplementedError

    def _first(self, g: np.ndarray) -> np.ndarray:
        """The first switch of each GPU (any numbering, equal for equal switches)."""
        raise NotImplementedError

    def _walk(self, out: np.ndarray, hops: np.ndarray, f: np.ndarray, a: np.ndarray,
              b: np.ndarray) -> None:
        """Write the routes a[i] -> b[i] between different first switches into rows `f`
        of `out` (hop 0 is the source's NIC link) and their lengths into `hops`."""
        raise NotImplementedError

    def _edge(self, x, y) -> int | None:
        """The id of edge x - y between switches, x the earlier one, or None."""
        raise NotImplementedError

    def nic_switch(self, rank: int):
        """The switch `rank`'s NIC connects to (a graph node name)."""
        raise NotImplementedError

    # -- link ids --

    def _gpu_edge(self, g: np.ndarray, nic: bool) -> np.ndarray:
        return g * self._per_gpu + (self._per_gpu - 1 if nic else 0)

    def link_id(self, u, v) -> int:
        """Id of the directed link u -> v (ValueError if the fabric has no such link)."""
        for x, y, back in ((u, v, 0), (v, u, 1)):
            edge = self._gpu_or_switch_edge(x, y)
            if edge is not None:
                return 2 * edge + back
        raise ValueError(f"no link {u!r} -> {v!r} in the graph")

    def _gpu_or_switch_edge(self, x, y) -> int | None:
        s = self.shape
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            if not 0 <= x < s.gpus:
                return None
            if s.domain > 1 and y == ("nvswitch", int(x) // s.domain):
                return int(self._gpu_edge(int(x), nic=False))
            if y == self.nic_switch(int(x)):
                return int(self._gpu_edge(int(x), nic=True))
            return None
        if not (isinstance(x, tuple) and isinstance(y, tuple) and x and y):
            return None
        return self._edge(x, y)

    # -- routing --

    def routes(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(links in hop order, padded with -1, shape (F, 6); hops per flow) of the routes
        src[i] -> dst[i]: `Network.path` of every pair, vectorised."""
        s = self.shape
        a, b = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        bad = (a < 0) | (a >= s.gpus) | (b < 0) | (b >= s.gpus)
        if bad.any():
            i = int(np.argmax(bad))
            node = a[i] if not 0 <= a[i] < s.gpus else b[i]
            raise ValueError(f"flow endpoint {int(node)!r} is not an accelerator (integer "
                             "node) of the graph")
        out = np.full((a.size, MAX_HOPS), -1, dtype=np.int64)
        hops = np.zeros(a.size, dtype=np.int64)
        moving = a != b
        # attachments: the NVSwitch (0 hops within a domain), the first switches (0 hops
        # if shared); the fewest hops, then the widest access links, then (src + dst) %
        # ties
        scaleup = moving & (a // s.domain == b // s.domain) & (s.domain > 1)
        shared = moving & (self._first(a) == self._first(b))
        both = scaleup & shared
        nvswitch = scaleup & ~shared
        if both.any():
            if self._nvlink_cap > self._nic_cap:
                nvswitch |= both
            elif self._nvlink_cap == self._nic_cap:
                nvswitch |= both & ((a + b) % 2 == 0)
        out[nvswitch, 0] = 2 * self._gpu_edge(a[nvswitch], False)
        out[nvswitch, 1] = 2 * self._gpu_edge(b[nvswitch], False) + 1
        hops[nvswitch] = 2
        local = moving & ~nvswitch & shared
        out[local, 0] = 2 * self._gpu_edge(a[local], True)
        out[local, 1] = 2 * self._gpu_edge(b[local], True) + 1
        hops[local] = 2
        far = np.flatnonzero(moving & ~nvswitch & ~shared)
        if far.size:
            out[far, 0] = 2 * self._gpu_edge(a[far], True)
            self._walk(out, hops, far, a[far], b[far])
        return out, hops

    def paths(self, pairs: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """`Network.paths`: the route of each pair as read-only link ids, in order."""
        ends = np.array(as_pairs(pairs), dtype=np.int64).reshape(-1, 2)
        links, hops = self.routes(ends[:, 0], ends[:, 1])
        return split_rows(links, hops)

    # -- the solver --

    def _incidence(self, pairs) -> Incidence:
        ends = pairs if isinstance(pairs, np.ndarray) else np.array(as_pairs(pairs))
        ends = np.asarray(ends, dtype=np.int64).reshape(-1, 2)
        links, hops = self.routes(ends[:, 0], ends[:, 1])
        return Incidence.from_rows(links, hops, self.n_links)

    def placement(self) -> PlanPlacement:
        return PlanPlacement(self)


class PlanPlacement(RankPlacement):
    """`RankPlacement` from a `PlanNetwork`: the answers the graph's nodes and edges
    would give (domains of `domain` consecutive ranks behind an NVSwitch with
    reduction, one NIC per rank on its first switch)."""

    def __init__(self, network: PlanNetwork) -> None:
        super().__init__(None)
        self.network = network
        self.shape = network.shape

    def switched(self) -> bool:
        return True

    def domain(self, ranks: np.ndarray) -> np.ndarray:
        return np.asarray(ranks, dtype=np.int64) // self.shape.domain

    def has_nvswitch(self, groups: np.ndarray) -> bool:
        return self.shape.domain > 1

    def nvlink(self, rank: int) -> dict:
        if self.shape.domain == 1:
            raise ValueError(f"rank {rank} has no NVLink (one GPU per domain)")
        return {"bandwidth": self.shape.nvlink_bandwidth, "latency": self.shape.nvlink_latency,
                "kind": "nvlink", "links": 1}

    def nic_switch(self, rank: int):
        return self.network.nic_switch(rank)

    def sharp(self, groups: np.ndarray) -> bool:
        return self.shape.kind == "ib"
