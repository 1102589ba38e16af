"""A rail-optimized fat-tree (`rail_fat_tree`, NVL72 racks joined by a rail fabric) as a
`simulator.fabric.plan_network.PlanNetwork`: its links and routes from the builder's
plan, no graph.

Switch-to-switch edges, in the builder's order: per leaf ``L = su * rails + r`` one edge
to each spine of its group; then (3 tiers) per spine ``(su, j)`` one edge to each core
of plane j.

ECMP in closed form (`simulator.fabric.routing`, "switched"): at the source leaf, with
``a`` the source's server in its scalable unit, ``A`` the servers of that unit and
``q`` the destination's port (the ports of the leaves before its leaf + its server in
its unit), spine ``y % G`` of the G spines (``y = a + A q``, then ``q = y // G`` if
G > 1); at a spine bound for another unit, core ``(r + R q) % P`` of the P cores of its
plane (r the source's rail, R the rails); below that every switch has one way down.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simulator.fabric.plan_network import PlanNetwork
from simulator.fabric.routing_hops import KEY_MOD
from simulator.fabric.topology import BUILDERS, size_args
from simulator.fabric.topology_fat_tree import RailPlan, fabric_args, rail_plan
from simulator.fabric.topology_graph import check_positive

__all__ = ["RailNetwork", "RailShape", "rail_shape"]


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


class RailNetwork(PlanNetwork):
    """The network of a rail fabric from its `RailShape` (see the module docstring)."""

    def __init__(self, shape: RailShape, efficiency: Mapping[str, float] | None = None
                 ) -> None:
        plan = shape.plan
        self._core_edges = shape.gpus * (2 if shape.domain > 1 else 1) + (
            plan.leaves * plan.group)  # the first spine-core edge
        super().__init__(shape, efficiency)

    def _upper(self) -> list[tuple[int, float]]:
        plan = self.shape.plan
        upper = [(plan.leaves * plan.group, plan.leaf_up_bw / plan.group)]
        if plan.tiers == 3:
            upper.append((plan.n_su * plan.group * plan.per_plane,
                          plan.spine_up_bw / plan.per_plane))
        return upper

    def _first(self, g: np.ndarray) -> np.ndarray:
        server, rail = np.divmod(g, self.shape.rails)
        return server // self.shape.su_nodes * self.shape.rails + rail

    def _leaf_spine(self, leaf: np.ndarray, spine: np.ndarray) -> np.ndarray:
        return self._switch_edges + leaf * self.shape.plan.group + spine

    def _spine_core(self, su: np.ndarray, spine: np.ndarray, core: np.ndarray) -> np.ndarray:
        plan = self.shape.plan
        return self._core_edges + (su * plan.group + spine) * plan.per_plane + core

    def nic_switch(self, rank: int):
        server, rail = divmod(int(rank), self.shape.rails)
        return ("leaf", server // self.shape.su_nodes, rail)

    def _edge(self, x, y) -> int | None:
        s, plan = self.shape, self.shape.plan
        if len(x) != 3 or len(y) not in (2, 3):
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

    def _walk(self, out: np.ndarray, hops: np.ndarray, f: np.ndarray, a: np.ndarray,
              b: np.ndarray) -> None:
        """Leaf to leaf: up to a spine and down (2 tiers, or one scalable unit), or up
        to a core and down (3 tiers, two units)."""
        s, plan = self.shape, self.shape.plan
        server_a, rail_a = np.divmod(a, s.rails)
        server_b, rail_b = np.divmod(b, s.rails)
        su_a, su_b = server_a // s.su_nodes, server_b // s.su_nodes
        leaf_a, leaf_b = su_a * s.rails + rail_a, su_b * s.rails + rail_b
        last = plan.n_su - 1
        last_servers = s.servers - last * s.su_nodes
        in_su_a = np.where(su_a == last, last_servers, s.su_nodes)  # ports of each leaf
        in_su_b = np.where(su_b == last, last_servers, s.su_nodes)
        rank_a, rank_b = server_a - su_a * s.su_nodes, server_b - su_b * s.su_nodes
        port = su_b * s.rails * s.su_nodes + rail_b * in_su_b + rank_b
        y = rank_a + in_su_a * port
        spine = y % plan.group
        key = (y // plan.group) % KEY_MOD if plan.group > 1 else port
        out[f, 1] = 2 * self._leaf_spine(leaf_a, spine)
        near = (su_a == su_b) if plan.tiers == 3 else np.ones(f.size, dtype=bool)
        down_nic = 2 * self._gpu_edge(b, True) + 1
        g, n = f[near], f[~near]
        out[g, 2] = 2 * self._leaf_spine(leaf_b[near], spine[near]) + 1
        out[g, 3] = down_nic[near]
        hops[g] = 4
        if n.size:
            far = ~near
            core = (rail_a[far] + s.rails * key[far]) % plan.per_plane
            j = spine[far]
            out[n, 2] = 2 * self._spine_core(su_a[far], j, core)
            out[n, 3] = 2 * self._spine_core(su_b[far], j, core) + 1
            out[n, 4] = 2 * self._leaf_spine(leaf_b[far], j) + 1
            out[n, 5] = down_nic[far]
            hops[n] = 6
