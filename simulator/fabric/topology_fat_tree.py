"""Rail-optimized fat-trees of NVSwitch servers (DGX SuperPOD style), 2 or 3 tiers.

`add_rail_fabric` adds the scale-out fabric under any GPUs with one NIC per GPU (used
by `rail_fat_tree` and by the NVL72 racks of `topology_scaleup`); the conventions are in
`simulator.fabric.topology_graph`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.fabric.topology_graph import (
    EPS,
    NIC_LATENCY,
    NVLINK_LATENCY,
    SWITCH_LATENCY,
    add_gpus,
    add_scaleup,
    cables_for,
    check_int,
    check_latency,
    check_positive,
    new_graph,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["RailPlan", "add_rail_fabric", "fabric_args", "rail_fat_tree", "rail_plan", "spread"]


def spread(lower: int, cables: int, radix: int) -> tuple[int, int]:
    """Upper switches for `lower` switches with `cables` uplinks each, full mesh.

    Returns ``(upper, links)``: the fewest upper switches whose ports hold all the
    uplinks (``upper * radix >= lower * cables``) among the divisors of `cables`, so that
    every lower switch has the same ``links = cables / upper`` cables to every upper one.
    If more than `radix` lower switches must reach each upper switch, the upper switches
    are logical (a director chassis or a 2-stage Clos of the same bisection):
    ``upper = cables``, one cable each.
    """
    need = max(1, math.ceil(lower * cables / radix - EPS))
    for upper in range(need, cables + 1):
        if cables % upper == 0:
            return upper, cables // upper
    return cables, 1


def fabric_args(nic_bandwidth, oversubscription, switch_radix, nic_kind, nic_latency,
                 switch_latency) -> dict:
    """Validated keyword arguments of `add_rail_fabric` shared by the rail builders."""
    if nic_kind not in ("ib", "roce"):
        raise ValueError(f"nic_kind must be 'ib' or 'roce', got {nic_kind!r}")
    return {
        "nic_bandwidth": check_positive("nic_bandwidth", nic_bandwidth),
        "oversubscription": check_positive("oversubscription", oversubscription),
        "switch_radix": check_int("switch_radix", switch_radix, minimum=2),
        "kind": nic_kind,
        "nic_latency": check_latency("nic_latency", nic_latency),
        "switch_latency": check_latency("switch_latency", switch_latency),
    }


@dataclass(frozen=True)
class RailPlan:
    """The switch counts and cabling of a rail-optimized fat-tree (`rail_plan`)."""

    n_su: int  # scalable units
    rails: int  # leaves per SU (one per GPU of a server)
    tiers: int
    leaf_up_bw: float  # uplink bandwidth of a leaf, bytes/s
    group: int  # 2 tiers: spines; 3 tiers: spines per SU
    links: int  # cables from a leaf to each spine it meets
    per_plane: int = 0  # 3 tiers: cores per plane
    core_links: int = 0  # 3 tiers: cables from a spine to each core of its plane
    spine_up_bw: float = 0.0  # 3 tiers: uplink bandwidth of a spine

    @property
    def leaves(self) -> int:
        return self.n_su * self.rails

    @property
    def switches(self) -> int:
        """Leaves, spines and cores."""
        if self.tiers == 2:
            return self.leaves + self.group
        return self.leaves + self.n_su * self.group + self.group * self.per_plane

    @property
    def cables(self) -> int:
        """Switch-to-switch cables (leaf-spine, spine-core)."""
        up = self.leaves * self.group * self.links
        if self.tiers == 2:
            return up
        return up + self.n_su * self.group * self.per_plane * self.core_links


def rail_plan(*, servers: int, gpus_per_node: int, su_nodes: int, nic_bandwidth: float,
              oversubscription: float, tiers: int | None, switch_radix: int,
              **_: object) -> RailPlan:
    """How many switches of each tier a rail-optimized fat-tree has and how they are
    cabled (`add_rail_fabric` builds this plan; ValueError where it cannot be built)."""
    rails = gpus_per_node
    n_su = -(-servers // su_nodes)
    leaves = n_su * rails
    # Leaves are provisioned for a full SU, populated or not (cabling is per design).
    leaf_up_bw = su_nodes * nic_bandwidth / oversubscription
    leaf_up = cables_for(leaf_up_bw, nic_bandwidth)
    if su_nodes + leaf_up > switch_radix:
        raise ValueError(
            f"a leaf needs {su_nodes} downlinks (one per server of a scalable unit) + "
            f"{leaf_up} uplinks (oversubscription={oversubscription}) = "
            f"{su_nodes + leaf_up} ports > switch_radix={switch_radix}")
    if tiers is None:
        tiers = 2 if leaves <= switch_radix else 3
    elif tiers not in (2, 3):
        raise ValueError(f"tiers must be None, 2 or 3, got {tiers!r}")
    if tiers == 2:
        spines, links = spread(leaves, leaf_up, switch_radix)
        return RailPlan(n_su, rails, tiers, leaf_up_bw, spines, links)
    # Three tiers: each SU has its own spine group; spine j of every SU is in plane j,
    # and plane j has its own core switches.
    spine_down_max = next((p for p in range(switch_radix, 0, -1)
                           if p + cables_for(p / oversubscription, 1.0) <= switch_radix), 0)
    if spine_down_max == 0:
        raise ValueError(f"switch_radix={switch_radix} too small for a 3-tier fabric")
    group, links = spread(rails, leaf_up, spine_down_max)
    spine_up_bw = rails * leaf_up_bw / group / oversubscription
    per_plane, core_links = spread(n_su, cables_for(spine_up_bw, nic_bandwidth), switch_radix)
    return RailPlan(n_su, rails, tiers, leaf_up_bw, group, links, per_plane, core_links,
                    spine_up_bw)


def add_rail_fabric(G: nx.Graph, *, servers: int, gpus_per_node: int, su_nodes: int,
                     nic_bandwidth: float, oversubscription: float, tiers: int | None,
                     switch_radix: int, kind: str, nic_latency: float,
                     switch_latency: float) -> int:
    """Add a rail-optimized 2- or 3-tier fat-tree under the GPUs; return its tiers."""
    plan = rail_plan(servers=servers, gpus_per_node=gpus_per_node, su_nodes=su_nodes,
                     nic_bandwidth=nic_bandwidth, oversubscription=oversubscription,
                     tiers=tiers, switch_radix=switch_radix)
    rails, n_su, leaf_up_bw = plan.rails, plan.n_su, plan.leaf_up_bw
    G.add_nodes_from((("leaf", su, r) for su in range(n_su) for r in range(rails)),
                     kind="leaf")
    G.add_edges_from(
        ((s * rails + r, ("leaf", s // su_nodes, r)) for s in range(servers)
         for r in range(rails)),
        bandwidth=nic_bandwidth, latency=nic_latency, kind=kind, links=1)

    if plan.tiers == 2:
        spines = plan.group
        G.add_nodes_from((("spine", 0, i) for i in range(spines)), kind="spine")
        G.add_edges_from(
            ((("leaf", su, r), ("spine", 0, i)) for su in range(n_su) for r in range(rails)
             for i in range(spines)),
            bandwidth=leaf_up_bw / spines, latency=switch_latency, kind=kind,
            links=plan.links)
        return plan.tiers

    group, per_plane = plan.group, plan.per_plane
    G.add_nodes_from((("spine", su, j) for su in range(n_su) for j in range(group)),
                     kind="spine")
    G.add_edges_from(
        ((("leaf", su, r), ("spine", su, j)) for su in range(n_su) for r in range(rails)
         for j in range(group)),
        bandwidth=leaf_up_bw / group, latency=switch_latency, kind=kind, links=plan.links)
    G.add_nodes_from((("core", i) for i in range(group * per_plane)), kind="core")
    G.add_edges_from(
        ((("spine", su, j), ("core", j * per_plane + k)) for su in range(n_su)
         for j in range(group) for k in range(per_plane)),
        bandwidth=plan.spine_up_bw / per_plane, latency=switch_latency, kind=kind,
        links=plan.core_links)
    return plan.tiers


def rail_fat_tree(nodes: int, gpus_per_node: int = 8, nic_bandwidth: float = 50e9,
                  nvlink_bandwidth: float = 450e9, su_nodes: int = 32,
                  oversubscription: float = 1.0, tiers: int | None = None,
                  switch_radix: int = 64, nic_kind: str = "ib",
                  nvlink_latency: float = NVLINK_LATENCY, nic_latency: float = NIC_LATENCY,
                  switch_latency: float = SWITCH_LATENCY) -> nx.Graph:
    """DGX SuperPOD-style rail-optimized fat-tree of NVSwitch servers.

    Servers are grouped into scalable units (SUs) of `su_nodes`; the last SU may be
    partial. Each SU has one leaf per rail and NIC ``i`` of every server of SU ``su``
    goes to ``("leaf", su, i)`` (REFERENCE.md "Networks": ConnectX-7 NDR 400 Gb/s =
    50 GB/s, one per GPU; SU = 32 nodes).

    Switches have `switch_radix` ports running at `nic_bandwidth` (NDR QM9700: 64 x 400G).
    A leaf has `su_nodes` downlinks, provisioned for a full SU, and uplink bandwidth
    ``su_nodes * nic_bandwidth / oversubscription`` (``ceil`` of that in cables).

    * Two tiers: every leaf connects to every spine ``("spine", 0, i)``.
    * Three tiers: SU ``su`` has its own spine group ``("spine", su, j)`` meshed with its
      leaves; spines use at most the ports that leave room for their uplinks
      (32 down + 32 up for 64 ports at 1:1); spine ``j`` of every SU forms plane ``j``, meshed with
      that plane's cores ``("core", j * per_plane + k)``; spine uplink bandwidth =
      spine downlink bandwidth / `oversubscription`.

    At every layer the upper switch count is the fewest that holds all uplinks while
    giving each lower switch the same number of cables to each upper one. With the
    defaults this reproduces the B200 SuperPOD counts (REFERENCE.md "Networks"):
    2 SUs 16 leaf / 8 spine, 4 SUs 32 / 16, 16 SUs 128 leaf / 128 spine / 64 core.
    Beyond `switch_radix` SUs the core switches are logical (more ports than one box: a
    director chassis or an extra Clos stage of equal bisection).

    Parameters
    ----------
    nodes : int
        Servers (>= 1).
    gpus_per_node : int, default 8
        GPUs (and NICs, and rails) per server; one NVSwitch domain per server.
    nic_bandwidth : float, default 50e9
        NIC (and switch port) bandwidth per direction, bytes/s.
    nvlink_bandwidth : float, default 450e9
        Scale-up bandwidth per GPU per direction, bytes/s (H100; B200: 900e9).
    su_nodes : int, default 32
        Servers per scalable unit.
    oversubscription : float, default 1.0
        Downlink / uplink bandwidth ratio of every leaf and (3 tiers) every spine.
    tiers : {None, 2, 3}, default None
        None: 2 while all leaves fit on one spine's ports (``leaves <= switch_radix``),
        else 3.
    switch_radix : int, default 64
        Ports per switch.
    nic_kind : {"ib", "roce"}, default "ib"
        Edge kind of the scale-out fabric.
    nvlink_latency, nic_latency, switch_latency : float
        Seconds per edge; defaults 0.5e-6, 1.0e-6, 0.6e-6.

    Returns
    -------
    nx.Graph
        ``routing="switched"``, ``domain_size = gpus_per_node``, GPU ``rail = local``;
        graph attrs also ``tiers``, ``su_nodes``, ``oversubscription``, ``switch_radix``.

    Raises
    ------
    ValueError
        Non-positive sizes or bandwidths, a leaf needing more than `switch_radix` ports,
        an unknown `tiers` or `nic_kind`.
    """
    nodes = check_int("nodes", nodes)
    gpn = check_int("gpus_per_node", gpus_per_node)
    su_nodes = check_int("su_nodes", su_nodes)
    nvl_bw = check_positive("nvlink_bandwidth", nvlink_bandwidth)
    nvl_lat = check_latency("nvlink_latency", nvlink_latency)
    fabric = fabric_args(nic_bandwidth, oversubscription, switch_radix, nic_kind,
                          nic_latency, switch_latency)
    gpus = nodes * gpn
    G = new_graph("rail_fat_tree", gpus, gpn, gpn, "switched", su_nodes=su_nodes,
               oversubscription=fabric["oversubscription"],
               switch_radix=fabric["switch_radix"])
    add_gpus(G, gpus, gpn, gpn, rails=True)
    add_scaleup(G, gpus, gpn, nvl_bw, nvl_lat)
    G.graph["tiers"] = add_rail_fabric(G, servers=nodes, gpus_per_node=gpn,
                                        su_nodes=su_nodes, tiers=tiers, **fabric)
    return G
