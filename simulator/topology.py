"""Cluster topologies as networkx graphs: pure builder functions (shared/DESIGN.md).

Every builder takes plain arguments and returns a fresh undirected `nx.Graph`, in the
style of `networkx.generators.lattice`. The network solver (`network.py`) and the
collectives rely on the conventions below; keep them.

Graph conventions
-----------------
* Accelerators are the integer nodes ``0 .. G-1`` in global rank order, server-major:
  ``rank = server * gpus_per_node + local``. Node attrs: ``kind="gpu"`` (also for TPU
  chips), ``server``, ``local``, ``domain`` (index of the scale-up domain) and ``rail``
  (``= local`` when the graph has a rail-optimized scale-out fabric, else ``None``).
* Switches are tuples: ``("nvswitch", domain)``, ``("leaf", su, rail)``,
  ``("spine", group, i)``, ``("core", i)``, ``("tor", rack)``, ``("agg", plane)``.
  Every node has ``kind`` in `NODE_KINDS`.
* Every edge is a full-duplex link: ``bandwidth`` (bytes/s **per direction**),
  ``latency`` (s, for crossing that one edge), ``kind`` in `EDGE_KINDS` and ``links``
  (physical cables merged into the edge; parallel cables between the same two nodes are
  one edge with summed bandwidth, while ECMP over different switches stays separate edges).
* ``G.graph``: ``name`` (the `BUILDERS` key), ``gpus``, ``gpus_per_node``,
  ``domain_size`` and ``routing``. ``"switched"``: accelerators never forward; traffic
  between two GPUs of one scale-up domain crosses ``("nvswitch", d)``, all other traffic
  leaves through the source GPU's NIC edge and enters through the destination's.
  ``"direct"`` (torus): chips forward, route over the chip graph.
* A scale-up domain is one logical switch ``("nvswitch", d)`` with ``reduction=True``
  (NVLS in-switch reduction) and one ``"nvlink"`` edge per GPU carrying the GPU's full
  scale-up bandwidth (``links=1``: one logical port). Domains of one GPU have no switch.

Routing on a switched graph is *not* plain shortest paths: a path through another GPU
(GPU -> NVSwitch -> GPU -> leaf) can tie with the fabric path, and inside an NVL72 rack
the rail leaf is as short as the NVSwitch. Route between domains on the switch subgraph
plus the two endpoints; inside a domain use the NVSwitch. Equal-cost paths between two
leaves go through every spine (2 tiers), or every (spine of the group, core of the
plane) pair (3 tiers).

Default latencies (assumptions, per edge): NVLink GPU-switch 0.5 us, NIC to first switch
1.0 us, switch to switch 0.6 us, ICI chip to chip 1.0 us. Bandwidth figures come from
shared/REFERENCE.md ("Accelerators" and "Networks").
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import networkx as nx

__all__ = [
    "BUILDERS",
    "EDGE_KINDS",
    "NODE_KINDS",
    "build",
    "check_topology",
    "leaf_spine_tor",
    "nvl72_rack",
    "nvswitch_node",
    "rail_fat_tree",
    "torus_3d",
]

NODE_KINDS = frozenset({"gpu", "nvswitch", "leaf", "spine", "core", "tor", "agg"})
EDGE_KINDS = frozenset({"nvlink", "ib", "roce", "ici"})

NVLINK_LATENCY = 0.5e-6  # s, GPU <-> NVSwitch
NIC_LATENCY = 1.0e-6  # s, GPU NIC <-> leaf / ToR
SWITCH_LATENCY = 0.6e-6  # s, switch <-> switch
ICI_LATENCY = 1.0e-6  # s, TPU chip <-> neighbour chip

_EPS = 1e-9


# ---- argument checks -------------------------------------------------------------------


def _int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _latency(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _divides(what: str, part: int, whole_name: str, whole: int) -> int:
    if whole % part:
        raise ValueError(f"{whole_name}={whole} is not a multiple of {what}={part}")
    return whole // part


# ---- shared pieces ---------------------------------------------------------------------


def _graph(name: str, gpus: int, gpus_per_node: int, domain_size: int, routing: str,
           **extra) -> nx.Graph:
    return nx.Graph(name=name, gpus=gpus, gpus_per_node=gpus_per_node,
                    domain_size=domain_size, routing=routing, **extra)


def _add_gpus(G: nx.Graph, gpus: int, gpus_per_node: int, domain_size: int,
              rails: bool) -> None:
    G.add_nodes_from(
        (r, {"kind": "gpu", "server": r // gpus_per_node, "local": r % gpus_per_node,
             "domain": r // domain_size, "rail": r % gpus_per_node if rails else None})
        for r in range(gpus)
    )


def _add_scaleup(G: nx.Graph, gpus: int, domain_size: int, bandwidth: float,
                 latency: float) -> None:
    """One logical NVSwitch per domain, one nvlink edge per GPU (none for 1-GPU domains)."""
    if domain_size == 1:
        return
    domains = -(-gpus // domain_size)
    G.add_nodes_from((("nvswitch", d) for d in range(domains)), kind="nvswitch",
                     reduction=True)
    G.add_edges_from(((r, ("nvswitch", r // domain_size)) for r in range(gpus)),
                     bandwidth=bandwidth, latency=latency, kind="nvlink", links=1)


def _cables(bandwidth: float, port_bandwidth: float) -> int:
    """Physical ports of `port_bandwidth` needed to carry `bandwidth` (at least one)."""
    return max(1, math.ceil(bandwidth / port_bandwidth - _EPS))


def _spread(lower: int, cables: int, radix: int) -> tuple[int, int]:
    """Upper switches for `lower` switches with `cables` uplinks each, full mesh.

    Returns ``(upper, links)``: the fewest upper switches whose ports hold all the
    uplinks (``upper * radix >= lower * cables``) among the divisors of `cables`, so that
    every lower switch has the same ``links = cables / upper`` cables to every upper one.
    If more than `radix` lower switches must reach each upper switch, the upper switches
    are logical (a director chassis or a 2-stage Clos of the same bisection):
    ``upper = cables``, one cable each.
    """
    need = max(1, math.ceil(lower * cables / radix - _EPS))
    for upper in range(need, cables + 1):
        if cables % upper == 0:
            return upper, cables // upper
    return cables, 1


def _fabric_args(nic_bandwidth, oversubscription, switch_radix, nic_kind, nic_latency,
                 switch_latency) -> dict:
    """Validated keyword arguments of `_add_rail_fabric` shared by the rail builders."""
    if nic_kind not in ("ib", "roce"):
        raise ValueError(f"nic_kind must be 'ib' or 'roce', got {nic_kind!r}")
    return {
        "nic_bandwidth": _positive("nic_bandwidth", nic_bandwidth),
        "oversubscription": _positive("oversubscription", oversubscription),
        "switch_radix": _int("switch_radix", switch_radix, minimum=2),
        "kind": nic_kind,
        "nic_latency": _latency("nic_latency", nic_latency),
        "switch_latency": _latency("switch_latency", switch_latency),
    }


def _add_rail_fabric(G: nx.Graph, *, servers: int, gpus_per_node: int, su_nodes: int,
                     nic_bandwidth: float, oversubscription: float, tiers: int | None,
                     switch_radix: int, kind: str, nic_latency: float,
                     switch_latency: float) -> int:
    """Add a rail-optimized 2- or 3-tier fat-tree under the GPUs; return its tiers."""
    rails = gpus_per_node
    n_su = -(-servers // su_nodes)
    leaves = n_su * rails
    # Leaves are provisioned for a full SU, populated or not (cabling is per design).
    leaf_up_bw = su_nodes * nic_bandwidth / oversubscription
    leaf_up = _cables(leaf_up_bw, nic_bandwidth)
    if su_nodes + leaf_up > switch_radix:
        raise ValueError(
            f"a leaf needs {su_nodes} downlinks (one per server of a scalable unit) + "
            f"{leaf_up} uplinks (oversubscription={oversubscription}) = "
            f"{su_nodes + leaf_up} ports > switch_radix={switch_radix}")
    if tiers is None:
        tiers = 2 if leaves <= switch_radix else 3
    elif tiers not in (2, 3):
        raise ValueError(f"tiers must be None, 2 or 3, got {tiers!r}")

    G.add_nodes_from((("leaf", su, r) for su in range(n_su) for r in range(rails)),
                     kind="leaf")
    G.add_edges_from(
        ((s * rails + r, ("leaf", s // su_nodes, r)) for s in range(servers)
         for r in range(rails)),
        bandwidth=nic_bandwidth, latency=nic_latency, kind=kind, links=1)

    if tiers == 2:
        spines, links = _spread(leaves, leaf_up, switch_radix)
        G.add_nodes_from((("spine", 0, i) for i in range(spines)), kind="spine")
        G.add_edges_from(
            ((("leaf", su, r), ("spine", 0, i)) for su in range(n_su) for r in range(rails)
             for i in range(spines)),
            bandwidth=leaf_up_bw / spines, latency=switch_latency, kind=kind, links=links)
        return tiers

    # Three tiers: each SU has its own spine group; spine j of every SU is in plane j,
    # and plane j has its own core switches.
    spine_down_max = next((p for p in range(switch_radix, 0, -1)
                           if p + _cables(p / oversubscription, 1.0) <= switch_radix), 0)
    if spine_down_max == 0:
        raise ValueError(f"switch_radix={switch_radix} too small for a 3-tier fabric")
    group, links = _spread(rails, leaf_up, spine_down_max)
    G.add_nodes_from((("spine", su, j) for su in range(n_su) for j in range(group)),
                     kind="spine")
    G.add_edges_from(
        ((("leaf", su, r), ("spine", su, j)) for su in range(n_su) for r in range(rails)
         for j in range(group)),
        bandwidth=leaf_up_bw / group, latency=switch_latency, kind=kind, links=links)
    spine_up_bw = rails * leaf_up_bw / group / oversubscription
    per_plane, core_links = _spread(n_su, _cables(spine_up_bw, nic_bandwidth), switch_radix)
    G.add_nodes_from((("core", i) for i in range(group * per_plane)), kind="core")
    G.add_edges_from(
        ((("spine", su, j), ("core", j * per_plane + k)) for su in range(n_su)
         for j in range(group) for k in range(per_plane)),
        bandwidth=spine_up_bw / per_plane, latency=switch_latency, kind=kind,
        links=core_links)
    return tiers


# ---- builders --------------------------------------------------------------------------


def nvswitch_node(gpus: int = 8, nvlink_bandwidth: float = 450e9,
                  nvlink_latency: float = NVLINK_LATENCY) -> nx.Graph:
    """One NVSwitch server (e.g. DGX H100) with no scale-out fabric.

    Parameters
    ----------
    gpus : int, default 8
        GPUs in the server; they form one scale-up domain.
    nvlink_bandwidth : float, default 450e9
        Scale-up bandwidth per GPU per direction, bytes/s (H100 NVLink4 with NVSwitch:
        450 GB/s, REFERENCE.md "Accelerators"; B200 NVLink5: 900e9).
    nvlink_latency : float, default 0.5e-6
        Seconds per GPU <-> switch edge.

    Returns
    -------
    nx.Graph
        GPUs ``0..gpus-1`` each joined to ``("nvswitch", 0)`` (omitted when ``gpus=1``);
        ``routing="switched"``, ``gpus_per_node = domain_size = gpus``.
    """
    gpus = _int("gpus", gpus)
    bw = _positive("nvlink_bandwidth", nvlink_bandwidth)
    lat = _latency("nvlink_latency", nvlink_latency)
    G = _graph("nvswitch_node", gpus, gpus, gpus, "switched")
    _add_gpus(G, gpus, gpus, gpus, rails=False)
    _add_scaleup(G, gpus, gpus, bw, lat)
    return G


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
    nodes = _int("nodes", nodes)
    gpn = _int("gpus_per_node", gpus_per_node)
    su_nodes = _int("su_nodes", su_nodes)
    nvl_bw = _positive("nvlink_bandwidth", nvlink_bandwidth)
    nvl_lat = _latency("nvlink_latency", nvlink_latency)
    fabric = _fabric_args(nic_bandwidth, oversubscription, switch_radix, nic_kind,
                          nic_latency, switch_latency)
    gpus = nodes * gpn
    G = _graph("rail_fat_tree", gpus, gpn, gpn, "switched", su_nodes=su_nodes,
               oversubscription=fabric["oversubscription"],
               switch_radix=fabric["switch_radix"])
    _add_gpus(G, gpus, gpn, gpn, rails=True)
    _add_scaleup(G, gpus, gpn, nvl_bw, nvl_lat)
    G.graph["tiers"] = _add_rail_fabric(G, servers=nodes, gpus_per_node=gpn,
                                        su_nodes=su_nodes, tiers=tiers, **fabric)
    return G


def nvl72_rack(racks: int = 1, gpus_per_rack: int = 72, nvlink_bandwidth: float = 900e9,
               nic_bandwidth: float = 50e9, gpus_per_node: int = 4, su_racks: int = 1,
               oversubscription: float = 1.0, tiers: int | None = None,
               switch_radix: int = 64, nic_kind: str = "ib",
               nvlink_latency: float = NVLINK_LATENCY, nic_latency: float = NIC_LATENCY,
               switch_latency: float = SWITCH_LATENCY) -> nx.Graph:
    """GB200 NVL72 racks: one 72-GPU NVLink domain per rack, optional rail scale-out.

    Each rack is one scale-up domain ``("nvswitch", rack)`` (REFERENCE.md
    "Accelerators": GB200 900 GB/s per direction, 72-GPU NVLink domain) made of compute
    trays (servers) of `gpus_per_node` GPUs. With ``racks > 1`` the racks are joined by
    the rail-optimized fat-tree of `rail_fat_tree` (one NIC of `nic_bandwidth` per GPU,
    one rail per tray GPU slot), with scalable units of `su_racks` racks:
    ``("leaf", su, rail)`` takes NIC ``rail`` of every tray of the SU.

    Parameters
    ----------
    racks : int, default 1
        NVL72 racks (scale-up domains).
    gpus_per_rack : int, default 72
        GPUs per NVLink domain; a multiple of `gpus_per_node`.
    nvlink_bandwidth : float, default 900e9
        NVLink5 bandwidth per GPU per direction, bytes/s.
    nic_bandwidth : float, default 50e9
        Scale-out NIC bandwidth per GPU per direction (400 Gb/s), bytes/s.
    gpus_per_node : int, default 4
        GPUs per compute tray (2 Grace + 4 Blackwell per tray).
    su_racks : int, default 1
        Racks per scalable unit of the scale-out fabric.
    oversubscription, tiers, switch_radix, nic_kind
        As in `rail_fat_tree`.
    nvlink_latency, nic_latency, switch_latency : float
        Seconds per edge; defaults 0.5e-6, 1.0e-6, 0.6e-6.

    Returns
    -------
    nx.Graph
        ``routing="switched"``, ``gpus_per_node=4``, ``domain_size=72``; GPU
        ``rail = local`` when ``racks > 1`` (no NICs are modelled for one rack, rail None).
    """
    racks = _int("racks", racks)
    gpn = _int("gpus_per_node", gpus_per_node)
    per_rack = _int("gpus_per_rack", gpus_per_rack)
    trays = _divides("gpus_per_node", gpn, "gpus_per_rack", per_rack)
    su_racks = _int("su_racks", su_racks)
    nvl_bw = _positive("nvlink_bandwidth", nvlink_bandwidth)
    lat = _latency("nvlink_latency", nvlink_latency)
    # Scale-out arguments are checked even for one rack, so a typo does not pass silently.
    fabric = _fabric_args(nic_bandwidth, oversubscription, switch_radix, nic_kind,
                          nic_latency, switch_latency)
    gpus = racks * per_rack
    G = _graph("nvl72", gpus, gpn, per_rack, "switched")
    _add_gpus(G, gpus, gpn, per_rack, rails=racks > 1)
    _add_scaleup(G, gpus, per_rack, nvl_bw, lat)
    if racks > 1:
        tiers = _add_rail_fabric(G, servers=racks * trays, gpus_per_node=gpn,
                                 su_nodes=su_racks * trays, tiers=tiers, **fabric)
        G.graph.update(tiers=tiers, su_nodes=su_racks * trays,
                       oversubscription=fabric["oversubscription"],
                       switch_radix=fabric["switch_radix"])
    return G


def leaf_spine_tor(nodes: int, gpus_per_node: int = 8, nodes_per_rack: int = 2,
                   pod_gpus: int = 3072, nic_bandwidth: float = 50e9,
                   agg_oversubscription: float = 7.0, nvlink_bandwidth: float = 450e9,
                   cluster_switches: int = 16, tor_oversubscription: float = 1.0,
                   nvlink_latency: float = NVLINK_LATENCY, nic_latency: float = NIC_LATENCY,
                   switch_latency: float = SWITCH_LATENCY) -> nx.Graph:
    """The Llama 3 RoCE cluster: ToR per rack, full-bisection pods, oversubscribed agg.

    REFERENCE.md "Llama 3": RoCE, 400 Gb/s per GPU, racks of 16 GPUs (2 servers) under
    one ToR, 3,072-GPU pods with full bisection through cluster switches, pods joined by
    an aggregation layer oversubscribed 1:7. Not rail-optimized: all NICs of a rack go
    to its ToR ``("tor", rack)`` (``rack = server // nodes_per_rack``).

    Every ToR of pod ``p`` connects to each of its `cluster_switches` cluster switches
    ``("spine", p, j)`` with ``rack_gpus * nic_bandwidth / tor_oversubscription /
    cluster_switches``. With more than one pod, cluster switch ``j`` of every pod
    connects to aggregation switch ``("agg", j)`` (plane ``j``; kind "agg") with its
    downlink bandwidth (full pod) / `agg_oversubscription`. Cluster and aggregation
    switches are logical (chassis): no radix limit. Cables are counted at
    `nic_bandwidth` per port.

    Parameters
    ----------
    nodes : int
        Servers (>= 1); the last rack and pod may be partial.
    gpus_per_node : int, default 8
    nodes_per_rack : int, default 2
    pod_gpus : int, default 3072
        GPUs per pod; a multiple of ``gpus_per_node * nodes_per_rack``.
    nic_bandwidth : float, default 50e9
        RoCE NIC bandwidth per GPU per direction, bytes/s.
    agg_oversubscription : float, default 7.0
        Cluster-switch downlink / uplink bandwidth ratio.
    nvlink_bandwidth : float, default 450e9
        H100 NVLink4 bandwidth per GPU per direction, bytes/s.
    cluster_switches : int, default 16
        Cluster switches per pod (also the number of aggregation planes); an assumption,
        the paper gives no count.
    tor_oversubscription : float, default 1.0
        ToR downlink / uplink ratio (1: full bisection inside a pod).
    nvlink_latency, nic_latency, switch_latency : float
        Seconds per edge; defaults 0.5e-6, 1.0e-6, 0.6e-6.

    Returns
    -------
    nx.Graph
        ``routing="switched"``, ``domain_size = gpus_per_node``, NIC edges kind
        ``"roce"``, GPU ``rail = None``; graph attrs also ``pods``, ``pod_gpus``.
    """
    nodes = _int("nodes", nodes)
    gpn = _int("gpus_per_node", gpus_per_node)
    per_rack = _int("nodes_per_rack", nodes_per_rack)
    pod_gpus = _int("pod_gpus", pod_gpus)
    racks_per_pod = _divides("gpus_per_node * nodes_per_rack", gpn * per_rack, "pod_gpus",
                             pod_gpus)
    planes = _int("cluster_switches", cluster_switches)
    nic_bw = _positive("nic_bandwidth", nic_bandwidth)
    nvl_bw = _positive("nvlink_bandwidth", nvlink_bandwidth)
    agg_r = _positive("agg_oversubscription", agg_oversubscription)
    tor_r = _positive("tor_oversubscription", tor_oversubscription)
    nvl_lat = _latency("nvlink_latency", nvlink_latency)
    nic_lat = _latency("nic_latency", nic_latency)
    sw_lat = _latency("switch_latency", switch_latency)

    gpus = nodes * gpn
    racks = -(-nodes // per_rack)
    pods = -(-racks // racks_per_pod)
    G = _graph("leaf_spine_tor", gpus, gpn, gpn, "switched", pods=pods, pod_gpus=pod_gpus)
    _add_gpus(G, gpus, gpn, gpn, rails=False)
    _add_scaleup(G, gpus, gpn, nvl_bw, nvl_lat)

    G.add_nodes_from((("tor", r) for r in range(racks)), kind="tor")
    G.add_edges_from(((g, ("tor", g // (gpn * per_rack))) for g in range(gpus)),
                     bandwidth=nic_bw, latency=nic_lat, kind="roce", links=1)
    G.add_nodes_from((("spine", p, j) for p in range(pods) for j in range(planes)),
                     kind="spine")
    tor_edge_bw = gpn * per_rack * nic_bw / tor_r / planes
    G.add_edges_from(
        ((("tor", r), ("spine", r // racks_per_pod, j)) for r in range(racks)
         for j in range(planes)),
        bandwidth=tor_edge_bw, latency=sw_lat, kind="roce",
        links=_cables(tor_edge_bw, nic_bw))
    if pods > 1:
        agg_edge_bw = racks_per_pod * tor_edge_bw / agg_r
        G.add_nodes_from((("agg", j) for j in range(planes)), kind="agg")
        G.add_edges_from(
            ((("spine", p, j), ("agg", j)) for p in range(pods) for j in range(planes)),
            bandwidth=agg_edge_bw, latency=sw_lat, kind="roce",
            links=_cables(agg_edge_bw, nic_bw))
    return G


def torus_3d(dims: tuple[int, int, int] = (4, 4, 4), ici_bandwidth: float = 600e9,
             gpus_per_node: int = 4, wraparound: bool = True,
             ici_latency: float = ICI_LATENCY) -> nx.Graph:
    """TPU v5p-style 3D torus of chips with direct (chip-forwarded) routing.

    Chip ``(x, y, z)`` is node ``x + X * (y + Y * z)`` (x fastest); hosts are 4
    consecutive chips. Each chip has 6 ICI ports (+-x, +-y, +-z); the per-chip ICI
    bandwidth (REFERENCE.md "Accelerators": TPU v5p ICI 600 GB/s per direction, 3D
    torus) is split evenly over them: ``ici_bandwidth / 6`` = 100 GB/s per link per
    direction. Ports along a dimension of size 1 stay unused (not redistributed); along
    a dimension of size 2 the wraparound cable joins the same pair of chips, so the edge
    is two merged links (``links=2``, twice the bandwidth).

    Parameters
    ----------
    dims : tuple of 3 ints, default (4, 4, 4)
        Torus shape ``(X, Y, Z)``; a TPU v5p pod is up to 8,960 chips.
    ici_bandwidth : float, default 600e9
        ICI bandwidth per chip per direction summed over its 6 links, bytes/s.
    gpus_per_node : int, default 4
        Chips per host (TPU v5p: 4); must divide ``X * Y * Z``.
    wraparound : bool, default True
        Add the wraparound links (False gives a 3D mesh).
    ici_latency : float, default 1.0e-6
        Seconds per chip-to-chip edge (assumption).

    Returns
    -------
    nx.Graph
        Integer nodes only, ``kind="gpu"`` with attrs ``coords``, ``server``, ``local``,
        ``domain=0``, ``rail=None``; edges kind ``"ici"``; ``routing="direct"``,
        ``domain_size`` = all chips, graph attrs also ``dims``, ``wraparound``.
    """
    if not isinstance(dims, (tuple, list)) or len(dims) != 3:
        raise ValueError(f"dims must be three integers (X, Y, Z), got {dims!r}")
    X, Y, Z = (_int(f"dims[{i}]", d) for i, d in enumerate(dims))
    gpn = _int("gpus_per_node", gpus_per_node)
    link_bw = _positive("ici_bandwidth", ici_bandwidth) / 6
    lat = _latency("ici_latency", ici_latency)
    chips = X * Y * Z
    _divides("gpus_per_node", gpn, "X * Y * Z", chips)
    G = _graph("torus_3d", chips, gpn, chips, "direct", dims=(X, Y, Z),
               wraparound=bool(wraparound))
    G.add_nodes_from(
        (r, {"kind": "gpu", "coords": (r % X, r // X % Y, r // (X * Y)), "server": r // gpn,
             "local": r % gpn, "domain": 0, "rail": None})
        for r in range(chips))

    edges = []
    for axis, (size, stride) in enumerate(((X, 1), (Y, X), (Z, X * Y))):
        if size == 1:
            continue
        for r in range(chips):
            c = (r // stride) % size
            if c + 1 < size:
                links = 2 if size == 2 and wraparound else 1
                edges.append((r, r + stride, links, axis))
            elif size > 2 and wraparound:
                edges.append((r, r - c * stride, 1, axis))
    G.add_edges_from((u, v, {"bandwidth": link_bw * n, "latency": lat, "kind": "ici",
                             "links": n, "axis": a}) for u, v, n, a in edges)
    return G


# ---- registry --------------------------------------------------------------------------


def _balanced_dims(n: int) -> tuple[int, int, int]:
    """The most cube-like ``X <= Y <= Z`` with ``X * Y * Z = n`` (smallest sum)."""
    best = (1, 1, n)
    for x in range(1, round(n ** (1 / 3)) + 2):
        if n % x:
            continue
        for y in range(x, math.isqrt(n // x) + 1):
            if (n // x) % y == 0:
                z = n // x // y
                if y <= z and x + y + z < sum(best):
                    best = (x, y, z)
    return best


def _default(builder: Callable, param: str):
    return inspect.signature(builder).parameters[param].default


def _per(gpus: int, params: dict, builder: Callable, param: str) -> int:
    size = params.get(param, _default(builder, param))
    return _divides(param, _int(param, size), "gpus", gpus)


BUILDERS: dict[str, Callable[..., nx.Graph]] = {
    "nvswitch_node": nvswitch_node,
    "nvl72": nvl72_rack,
    "rail_fat_tree": rail_fat_tree,
    "leaf_spine_tor": leaf_spine_tor,
    "torus_3d": torus_3d,
}

# How each builder's size argument follows from the GPU count.
_SIZE: dict[str, Callable[[int, dict], dict]] = {
    "nvswitch_node": lambda g, p: {"gpus": g},
    "nvl72": lambda g, p: {"racks": _per(g, p, nvl72_rack, "gpus_per_rack")},
    "rail_fat_tree": lambda g, p: {"nodes": _per(g, p, rail_fat_tree, "gpus_per_node")},
    "leaf_spine_tor": lambda g, p: {"nodes": _per(g, p, leaf_spine_tor, "gpus_per_node")},
    "torus_3d": lambda g, p: {} if "dims" in p else {"dims": _balanced_dims(g)},
}


def build(name: str, gpus: int, **params) -> nx.Graph:
    """Build the topology `name` for `gpus` accelerators.

    Parameters
    ----------
    name : str
        A key of `BUILDERS`: "nvswitch_node", "nvl72", "rail_fat_tree",
        "leaf_spine_tor", "torus_3d".
    gpus : int
        Accelerators; a multiple of the builder's GPUs per node (per rack for "nvl72").
        For "torus_3d" without `dims`, the most cube-like shape of `gpus` chips.
    **params
        Other keyword arguments of the builder (not its size argument).

    Returns
    -------
    nx.Graph
        With ``G.graph["gpus"] == gpus``.

    Raises
    ------
    ValueError
        Unknown name (the message lists the allowed ones), a size argument in `params`,
        `gpus` not divisible, or any error of the builder.
    """
    if name not in BUILDERS:
        raise ValueError(f"unknown topology {name!r}; allowed: {', '.join(BUILDERS)}")
    gpus = _int("gpus", gpus)
    size = _SIZE[name](gpus, params)
    clash = set(size) & set(params)
    if clash:
        raise ValueError(f"{name}: {', '.join(sorted(clash))} follows from gpus; do not pass it")
    G = BUILDERS[name](**size, **params)
    if G.graph["gpus"] != gpus:
        raise ValueError(f"{name}: dims give {G.graph['gpus']} chips, not gpus={gpus}")
    return G


# ---- validation ------------------------------------------------------------------------


def _bad_number(value, minimum_exclusive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if not math.isfinite(value):
        return True
    return value <= 0 if minimum_exclusive else value < 0


def check_topology(G: nx.Graph) -> None:
    """Raise ValueError unless `G` follows the conventions of this module.

    Checks: an undirected simple graph, connected; every node has a known ``kind``;
    the ``kind="gpu"`` nodes are exactly the integers ``0..n-1`` (and no other node is
    an integer), with ``server``, ``local`` and ``domain`` attrs and ``n`` equal to
    ``G.graph["gpus"]`` when set; every edge has a finite ``bandwidth > 0``, a finite
    ``latency >= 0`` and a ``kind`` in `EDGE_KINDS`.
    """
    if G.is_directed() or G.is_multigraph():
        raise ValueError("topology must be an undirected nx.Graph (merge parallel links)")
    if G.number_of_nodes() == 0:
        raise ValueError("topology has no nodes")
    gpus = 0
    for n, data in G.nodes(data=True):
        kind = data.get("kind")
        if kind not in NODE_KINDS:
            raise ValueError(f"node {n!r}: kind={kind!r} is not one of {sorted(NODE_KINDS)}")
        is_int = isinstance(n, int) and not isinstance(n, bool)
        if kind == "gpu":
            if not is_int:
                raise ValueError(f"GPU node {n!r} is not an integer rank")
            missing = [a for a in ("server", "local", "domain") if a not in data]
            if missing:
                raise ValueError(f"GPU {n} has no {', '.join(missing)} attribute")
            gpus += 1
        elif is_int:
            raise ValueError(f"integer node {n} has kind={kind!r}; integers are GPUs")
    if any(r not in G for r in range(gpus)):
        raise ValueError(f"the {gpus} GPU nodes are not exactly the integers 0..{gpus - 1}")
    declared = G.graph.get("gpus")
    if declared is not None and declared != gpus:
        raise ValueError(f"G.graph['gpus']={declared} but the graph has {gpus} GPU nodes")
    for u, v, data in G.edges(data=True):
        if _bad_number(data.get("bandwidth"), True):
            raise ValueError(f"edge {u!r}-{v!r}: bandwidth={data.get('bandwidth')!r}, "
                             "need a finite number > 0")
        if _bad_number(data.get("latency"), False):
            raise ValueError(f"edge {u!r}-{v!r}: latency={data.get('latency')!r}, "
                             "need a finite number >= 0")
        if data.get("kind") not in EDGE_KINDS:
            raise ValueError(f"edge {u!r}-{v!r}: kind={data.get('kind')!r} is not one of "
                             f"{sorted(EDGE_KINDS)}")
    if not nx.is_connected(G):
        raise ValueError(f"topology is disconnected ({nx.number_connected_components(G)} "
                         "components)")

