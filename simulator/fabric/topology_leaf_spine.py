"""Leaf-spine with a ToR per rack: the Llama 3 RoCE cluster (pods and an aggregation layer).

Conventions in `simulator.fabric.topology_graph`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.fabric.topology_graph import (
    NIC_LATENCY,
    NVLINK_LATENCY,
    SWITCH_LATENCY,
    add_gpus,
    add_scaleup,
    cables_for,
    check_divides,
    check_int,
    check_latency,
    check_positive,
    new_graph,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["leaf_spine_tor"]


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
    nodes = check_int("nodes", nodes)
    gpn = check_int("gpus_per_node", gpus_per_node)
    per_rack = check_int("nodes_per_rack", nodes_per_rack)
    pod_gpus = check_int("pod_gpus", pod_gpus)
    racks_per_pod = check_divides("gpus_per_node * nodes_per_rack", gpn * per_rack, "pod_gpus",
                             pod_gpus)
    planes = check_int("cluster_switches", cluster_switches)
    nic_bw = check_positive("nic_bandwidth", nic_bandwidth)
    nvl_bw = check_positive("nvlink_bandwidth", nvlink_bandwidth)
    agg_r = check_positive("agg_oversubscription", agg_oversubscription)
    tor_r = check_positive("tor_oversubscription", tor_oversubscription)
    nvl_lat = check_latency("nvlink_latency", nvlink_latency)
    nic_lat = check_latency("nic_latency", nic_latency)
    sw_lat = check_latency("switch_latency", switch_latency)

    gpus = nodes * gpn
    racks = -(-nodes // per_rack)
    pods = -(-racks // racks_per_pod)
    G = new_graph("leaf_spine_tor", gpus, gpn, gpn, "switched", pods=pods, pod_gpus=pod_gpus)
    add_gpus(G, gpus, gpn, gpn, rails=False)
    add_scaleup(G, gpus, gpn, nvl_bw, nvl_lat)

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
        links=cables_for(tor_edge_bw, nic_bw))
    if pods > 1:
        agg_edge_bw = racks_per_pod * tor_edge_bw / agg_r
        G.add_nodes_from((("agg", j) for j in range(planes)), kind="agg")
        G.add_edges_from(
            ((("spine", p, j), ("agg", j)) for p in range(pods) for j in range(planes)),
            bandwidth=agg_edge_bw, latency=sw_lat, kind="roce",
            links=cables_for(agg_edge_bw, nic_bw))
    return G
