"""The flow network of a built-in rail-optimized fat-tree from its plan, without a graph.

`Network` over the graph of `rail_fat_tree` (or of NVL72 racks joined by a rail fabric)
of 131,072 GPUs spends ~15 s and ~3.5 GB on what the builder's arguments already say:
the graph, its link tables, a breadth-first search from every leaf and an ECMP walk per
flow. `RailNetwork` numbers the links as `Network` numbers the graph's edges (the
builders' insertion order, `graph.edges()`), routes every flow by the rule of
`simulator.fabric.routing` in closed form (vectorised over the flows, nothing cached per
pair) and hands the same link x flow incidence to the same solver, so every route, path
latency and transfer time is the graph's, bit for bit (tests/fabric/test_rail_network.py
holds them equal with == at several sizes, 2 and 3 tiers, partial scalable units,
oversubscription, NVL72 racks). The graph path stays the reference and serves every
other topology.

Link ids (``2 e``: the earlier node of edge e -> the later one, ``2 e + 1`` back), in
the builders' edge order: per GPU g its NVLink edge (if its domain has an NVSwitch) and
then its NIC edge; then per leaf ``L = su * rails + r`` one edge to each spine of its
group; then (3 tiers) per spine ``(su, j)`` one edge to each core of plane j.

ECMP in closed form (`simulator.fabric.routing`, "switched"): the same scale-up domain
goes through the NVSwitch (or, tied at 0 hops on a shared leaf, through the wider of the
two access links); otherwise leaf to leaf. At the source leaf, with ``a`` the source's
server in its scalable unit, ``A`` the servers of that unit and ``q`` the destination's
port (leaf ports before it + its server in its unit), spine ``y % G`` of the G spines
(``y = a + A q``, then ``q = y // G``); at a spine bound for another unit, core
``(r + R q) % P`` of the P cores of its plane (r the source's rail, R the rails); below
that every switch has one way down.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.fabric.collective_placement import RankPlacement
from simulator.fabric.flows import RTOL, Incidence, check_capacity, transfer_parts, water_fill
from simulator.fabric.routing import as_pairs
from simulator.fabric.routing_hops import KEY_MOD, split_rows
from simulator.fabric.topology import BUILDERS, size_args
from simulator.fabric.topology_fat_tree import RailPlan, fabric_args, rail_plan
from simulator.fabric.topology_graph import check_positive

__all__ = ["RailNetwork", "RailPlacement", "RailShape", "rail_shape"]

MAX_HOPS = 6  # GPU -> leaf -> spine -> core -> spine -> leaf -> GPU


@dataclass(frozen=True)
class RailShape:
    """What routing needs of a rail fabric: sizes, the plan, the edges' figures."""

    gpus: int
    rails: int  # GPUs per server = NICs = rails
    domain: int  # GPUs per scale-up domain (1: no NVSwitch)
    servers: int
    su_nodes: int  # servers per scalable unit
    plan: RailPlan
    nvlink_bandwidth: float
    nvlink_latency: float
    nic_bandwidth: float
    nic_latency: float
    switch_latency: float
    kind: str  # "ib" or "roce"


def rail_shape(name: str, gpus: int, params: Mapping[str, object]) -> RailShape | None:
    """The RailShape of `build(name, gpus, **params)` if it is a rail fabric this module
    routes (`rail_fat_tree`, `nvl72` with several racks), else None. Arguments must have
    been checked (simulator.fabric.structure.structure raises what `build` would)."""
    builder = BUILDERS.get(name)
    if builder not in (BUILDERS["rail_fat_tree"], BUILDERS["nvl72"]):
        return None
    params = dict(params)
    bound = inspect.signature(builder).bind(**size_args(name, gpus, params), **params)
    bound.apply_defaults()
    a = bound.arguments
    rails = a["gpus_per_node"]
    if builder is BUILDERS["nvl72"]:
        if a["racks"] < 2:
            return None
        domain, per_su = a["gpus_per_rack"], a["su_racks"] * a["gpus_per_rack"] // rails
    else:
        domain, per_su = rails, a["su_nodes"]
    fabric = fabric_args(a["nic_bandwidth"], a["oversubscription"], a["switch_radix"],
                         a["nic_kind"], a["nic_latency"], a["switch_latency"])
    servers = gpus // rails
    plan = rail_plan(servers=servers, gpus_per_node=rails, su_nodes=per_su, tiers=a["tiers"],
                     **fabric)
    return RailShape(gpus, rails, domain, servers, per_su, plan,
                     check_positive("nvlink_bandwidth", a["nvlink_bandwidth"]),
                     float(a["nvlink_latency"]), fabric["nic_bandwidth"],
                     fabric["nic_latency"], fabric["switch_latency"], fabric["kind"])


class RailNetwork:
    """`simulator.fabric.network.Network`'s routes and transfer times over a rail fabric
    described by a `RailShape` (no graph; `graph` is None).

    Attributes as `Network`'s: `routing`, `efficiency`, `n_links`, `capacity` (may be
    edited in place; routes never change), `latency`.
    """

    graph = None
    routing = "switched"

    def __init__(self, shape: RailShape, efficiency: Mapping[str, float] | None = None
                 ) -> None:
        self.shape = s = shape
        self.efficiency = dict(efficiency or {})
        for k, e in self.efficiency.items():
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e < np.inf:
                raise ValueError(f"efficiency[{k!r}]={e!r}: must be a positive number")
        plan = s.plan
        self._per_gpu = 2 if s.domain > 1 else 1  # edges per GPU: NVLink, NIC
        self._spine_edges = s.gpus * self._per_gpu  # first leaf-spine edge
        self._core_edges = self._spine_edges + plan.leaves * plan.group  # first spine-core
        eff = self.efficiency.get
        per_gpu = [(s.nic_bandwidth, eff(s.kind, 1.0), s.nic_latency)]
        if s.domain > 1:
            per_gpu.insert(0, (s.nvlink_bandwidth, eff("nvlink", 1.0), s.nvlink_latency))
        bandwidth = np.tile([p[0] for p in per_gpu], s.gpus)
        factor = np.tile([float(p[1]) for p in per_gpu], s.gpus)
        latency = np.tile([p[2] for p in per_gpu], s.gpus)
        upper = [(plan.leaves * plan.group, plan.leaf_up_bw / plan.group)]
        if plan.tiers == 3:
            upper.append((plan.n_su * plan.group * plan.per_plane,
                          plan.spine_up_bw / plan.per_plane))
        for count, bw in upper:
            bandwidth = np.concatenate([bandwidth, np.full(count, bw)])
            factor = np.concatenate([factor, np.full(count, float(eff(s.kind, 1.0)))])
            latency = np.concatenate([latency, np.full(count, s.switch_latency)])
        cap = bandwidth * factor
        if not (cap > 0).all():
            raise ValueError(f"a link of this {s.kind} rail fabric has non-positive capacity")
        self.n_links: int = 2 * cap.size
        self.capacity: np.ndarray = np.repeat(cap, 2)
        self.latency: np.ndarray = np.repeat(latency, 2)
        self._nvlink_cap = float(cap[0]) if s.domain > 1 else 0.0
        self._nic_cap = float(cap[self._per_gpu - 1])

    # -- link ids --

    def _gpu_edge(self, g: np.ndarray, nic: bool) -> np.ndarray:
        return g * self._per_gpu + (self._per_gpu - 1 if nic else 0)

    def _leaf_spine(self, leaf: np.ndarray, spine: np.ndarray) -> np.ndarray:
        return self._spine_edges + leaf * self.shape.plan.group + spine

    def _spine_core(self, su: np.ndarray, spine: np.ndarray, core: np.ndarray) -> np.ndarray:
        plan = self.shape.plan
        return self._core_edges + (su * plan.group + spine) * plan.per_plane + core

    def link_id(self, u, v) -> int:
        """Id of the directed link u -> v (ValueError if the fabric has no such link)."""
        for x, y, base in ((u, v, 0), (v, u, 1)):
            edge = self._edge(x, y)
            if edge is not None:
                return 2 * edge + base
        raise ValueError(f"no link {u!r} -> {v!r} in the graph")

    def _edge(self, x, y) -> int | None:
        """The edge id of x - y with x the earlier node in the builder's order, or None."""
        s, plan = self.shape, self.shape.plan
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool) and 0 <= x < s.gpus:
            server, rail = divmod(int(x), s.rails)
            if y == ("nvswitch", int(x) // s.domain) and s.domain > 1:
                return int(self._gpu_edge(int(x), nic=False))
            if y == ("leaf", server // s.su_nodes, rail):
                return int(self._gpu_edge(int(x), nic=True))
            return None
        if not (isinstance(x, tuple) and isinstance(y, tuple) and len(x) == 3):
            return None
        if x[0] == "leaf" and y[0] == "spine" and len(y) == 3:
            su, r = x[1], x[2]
            if 0 <= su < plan.n_su and 0 <= r < s.rails and 0 <= y[2] < plan.group and (
                    y[1] == (0 if plan.tiers == 2 else su)):
                return int(self._leaf_spine(su * s.rails + r, y[2]))
        if x[0] == "spine" and y[0] == "core" and plan.tiers == 3 and len(y) == 2:
            su, j = x[1], x[2]
            if (0 <= su < plan.n_su and 0 <= j < plan.group
                    and j * plan.per_plane <= y[1] < (j + 1) * plan.per_plane):
                return int(self._spine_core(su, j, y[1] - j * plan.per_plane))
        return None

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
        server_a, rail_a = np.divmod(a, s.rails)
        server_b, rail_b = np.divmod(b, s.rails)
        su_a, su_b = server_a // s.su_nodes, server_b // s.su_nodes
        leaf_a, leaf_b = su_a * s.rails + rail_a, su_b * s.rails + rail_b
        moving = a != b
        # attachments: the NVSwitch (0 hops within a domain), the leaves (0, 2 or 4 hops);
        # the fewest hops, then the widest access links, then (src + dst) % ties
        scaleup = moving & (a // s.domain == b // s.domain) & (s.domain > 1)
        shared = moving & (leaf_a == leaf_b)
        both = scaleup & shared
        nvswitch = scaleup & ~shared
        if both.any():
            if self._nvlink_cap > self._nic_cap:
                nvswitch |= both
            elif self._nvlink_cap == self._nic_cap:
                nvswitch |= both & ((a + b) % 2 == 0)
        leaf = moving & ~nvswitch
        up_nic, down_nic = 2 * self._gpu_edge(a, True), 2 * self._gpu_edge(b, True) + 1
        out[nvswitch, 0] = 2 * self._gpu_edge(a[nvswitch], False)
        out[nvswitch, 1] = 2 * self._gpu_edge(b[nvswitch], False) + 1
        hops[nvswitch] = 2
        local = leaf & (leaf_a == leaf_b)
        out[local, 0], out[local, 1] = up_nic[local], down_nic[local]
        hops[local] = 2
        far = leaf & ~local
        if far.any():
            self._walk(out, hops, far, a, b, su_a, su_b, leaf_a, leaf_b, rail_a,
                       server_a, server_b, rail_b, up_nic, down_nic)
        return out, hops

    def _walk(self, out, hops, far, a, b, su_a, su_b, leaf_a, leaf_b, rail_a, server_a,
              server_b, rail_b, up_nic, down_nic) -> None:
        """The leaf-to-leaf routes of the flows `far` (2 hops up to a spine and down, or
        4 through a core), written into `out` and `hops`."""
        s, plan = self.shape, self.shape.plan
        f = np.flatnonzero(far)
        su_a, su_b, leaf_a, leaf_b = su_a[f], su_b[f], leaf_a[f], leaf_b[f]
        last = plan.n_su - 1
        last_servers = s.servers - last * s.su_nodes
        in_su_a = np.where(su_a == last, last_servers, s.su_nodes)  # ports of each leaf
        in_su_b = np.where(su_b == last, last_servers, s.su_nodes)
        rank_a, rank_b = server_a[f] - su_a * s.su_nodes, server_b[f] - su_b * s.su_nodes
        port = su_b * s.rails * s.su_nodes + rail_b[f] * in_su_b + rank_b
        y = rank_a + in_su_a * port
        spine = y % plan.group
        key = (y // plan.group) % KEY_MOD if plan.group > 1 else port
        out[f, 0] = up_nic[f]
        out[f, 1] = 2 * self._leaf_spine(leaf_a, spine)
        near = (su_a == su_b) if plan.tiers == 3 else np.ones(f.size, dtype=bool)
        g, n = f[near], f[~near]
        out[g, 2] = 2 * self._leaf_spine(leaf_b[near], spine[near]) + 1
        out[g, 3] = down_nic[g]
        hops[g] = 4
        if n.size:
            core = (rail_a[n] + s.rails * key[~near]) % plan.per_plane
            j = spine[~near]
            out[n, 2] = 2 * self._spine_core(su_a[~near], j, core)
            out[n, 3] = 2 * self._spine_core(su_b[~near], j, core) + 1
            out[n, 4] = 2 * self._leaf_spine(leaf_b[~near], j) + 1
            out[n, 5] = down_nic[n]
            hops[n] = 6

    def paths(self, pairs: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """`Network.paths`: the route of each pair as read-only link ids, in order."""
        ends = np.array(as_pairs(pairs), dtype=np.int64).reshape(-1, 2)
        links, hops = self.routes(ends[:, 0], ends[:, 1])
        return split_rows(links, hops)

    def path(self, src: int, dst: int) -> np.ndarray:
        return self.paths([(src, dst)])[0]

    def path_latency(self, src: int, dst: int) -> float:
        """Sum of the link latencies along the route (s), in hop order as `Network`'s."""
        return float(self.latency[self.path(src, dst)].sum())

    # -- the solver --

    def _incidence(self, pairs) -> Incidence:
        ends = pairs if isinstance(pairs, np.ndarray) else np.array(as_pairs(pairs))
        ends = np.asarray(ends, dtype=np.int64).reshape(-1, 2)
        links, hops = self.routes(ends[:, 0], ends[:, 1])
        return Incidence.from_rows(links, hops, self.n_links)

    def rates(self, pairs) -> np.ndarray:
        """`Network.rates`: max-min fair rate (B/s) of each of the concurrent flows."""
        check_capacity(self.capacity)
        inc = self._incidence(pairs)
        return water_fill(inc, self.capacity, np.diff(inc.f_ptr) > 0, RTOL)

    def transfer_times(self, pairs, sizes) -> np.ndarray:
        latency, transfer = self.transfer_parts(pairs, sizes)
        return latency + transfer

    def transfer_parts(self, pairs, sizes) -> tuple[np.ndarray, np.ndarray]:
        """`Network.transfer_parts`: (path latency, time moving the bytes) per flow."""
        check_capacity(self.capacity)
        return transfer_parts(self._incidence(pairs), self.capacity, self.latency, sizes)

    def placement(self) -> RailPlacement:
        return RailPlacement(self.shape)


class RailPlacement(RankPlacement):
    """`RankPlacement` of a rail fabric from its shape: the answers the graph's nodes and
    edges would give (domains of `domain` consecutive ranks behind an NVSwitch with
    reduction, NIC i of a server on leaf i of its scalable unit)."""

    def __init__(self, shape: RailShape) -> None:
        super().__init__(None)
        self.shape = shape

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
        server, rail = divmod(int(rank), self.shape.rails)
        return ("leaf", server // self.shape.su_nodes, rail)

    def sharp(self, groups: np.ndarray) -> bool:
        return self.shape.kind == "ib"
