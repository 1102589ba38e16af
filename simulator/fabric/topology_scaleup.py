"""Scale-up domains: one NVSwitch server, and GB200 NVL72 racks (joined by a rail fabric).

Conventions in `simulator.fabric.topology_graph`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.fabric.topology_fat_tree import add_rail_fabric, fabric_args
from simulator.fabric.topology_graph import (
    NIC_LATENCY,
    NVLINK_LATENCY,
    SWITCH_LATENCY,
    add_gpus,
    add_scaleup,
    check_divides,
    check_int,
    check_latency,
    check_positive,
    new_graph,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["nvl72_rack", "nvswitch_node"]


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
    gpus = check_int("gpus", gpus)
    bw = check_positive("nvlink_bandwidth", nvlink_bandwidth)
    lat = check_latency("nvlink_latency", nvlink_latency)
    G = new_graph("nvswitch_node", gpus, gpus, gpus, "switched")
    add_gpus(G, gpus, gpus, gpus, rails=False)
    add_scaleup(G, gpus, gpus, bw, lat)
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
    racks = check_int("racks", racks)
    gpn = check_int("gpus_per_node", gpus_per_node)
    per_rack = check_int("gpus_per_rack", gpus_per_rack)
    trays = check_divides("gpus_per_node", gpn, "gpus_per_rack", per_rack)
    su_racks = check_int("su_racks", su_racks)
    nvl_bw = check_positive("nvlink_bandwidth", nvlink_bandwidth)
    lat = check_latency("nvlink_latency", nvlink_latency)
    # Scale-out arguments are checked even for one rack, so a typo does not pass silently.
    fabric = fabric_args(nic_bandwidth, oversubscription, switch_radix, nic_kind,
                          nic_latency, switch_latency)
    gpus = racks * per_rack
    G = new_graph("nvl72", gpus, gpn, per_rack, "switched")
    add_gpus(G, gpus, gpn, per_rack, rails=racks > 1)
    add_scaleup(G, gpus, per_rack, nvl_bw, lat)
    if racks > 1:
        tiers = add_rail_fabric(G, servers=racks * trays, gpus_per_node=gpn,
                                 su_nodes=su_racks * trays, tiers=tiers, **fabric)
        G.graph.update(tiers=tiers, su_nodes=su_racks * trays,
                       oversubscription=fabric["oversubscription"],
                       switch_radix=fabric["switch_radix"])
    return G
