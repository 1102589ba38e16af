"""What failure domains and the power model need of a built-in topology, without its graph.

A failing first-tier switch takes down the servers behind it, a scale-up domain its
servers; the power model counts scale-out switches; link failures count switch-to-switch
cables. For the built-in builders (`simulator.fabric.topology.BUILDERS`) all of that
follows from their arguments: this module computes it from the same plan the builders
follow, in time and memory linear in the servers, where the graph of a 1,000,000-GPU
cluster takes seconds and gigabytes. `simulator.fabric.domains` reads the same facts off
any graph (the reference; tests/fabric/test_structure.py holds the two equal for every
builder at several sizes).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from simulator.fabric.fabric_spec import FabricSpec
from simulator.fabric.topology import BUILDERS, size_args
from simulator.fabric.topology_fat_tree import fabric_args, rail_plan
from simulator.fabric.topology_graph import (
    cables_for,
    check_divides,
    check_int,
    check_latency,
    check_positive,
)

__all__ = ["Structure", "TorPlan", "fabric_structure", "structure", "tor_plan"]

Groups = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Structure:
    """The servers behind each first-tier switch (sorted, one entry per switch with
    servers), the servers of each scale-up domain (sorted), the switch-to-switch cables
    and the scale-out switches of a topology of `job_nodes` servers."""

    job_nodes: int
    switch_groups: Groups
    scaleup_groups: Groups
    cables: int
    switches: int


def _consecutive(total: int, size: int, repeat: int = 1) -> Groups:
    """`total` servers in consecutive groups of `size` (the last may be short), each
    group `repeat` times."""
    return tuple(group for first in range(0, total, size)
                 for group in [tuple(range(first, min(first + size, total)))] * repeat)


def _singles(total: int) -> Groups:
    return tuple((s,) for s in range(total))


def _rail(servers: int, gpn: int, su_nodes: int, a: dict) -> tuple[Groups, int, int]:
    """Switch groups, cables and switches of the rail fabric under `servers` servers."""
    fabric = fabric_args(a["nic_bandwidth"], a["oversubscription"], a["switch_radix"],
                         a["nic_kind"], a["nic_latency"], a["switch_latency"])
    plan = rail_plan(servers=servers, gpus_per_node=gpn, su_nodes=su_nodes,
                     tiers=a["tiers"], **fabric)
    return _consecutive(servers, su_nodes, plan.rails), plan.cables, plan.switches


def _nvswitch_node(a: dict) -> Structure:
    check_int("gpus", a["gpus"])
    check_positive("nvlink_bandwidth", a["nvlink_bandwidth"])
    check_latency("nvlink_latency", a["nvlink_latency"])
    return Structure(1, (), ((0,),), 0, 0)


def _rail_fat_tree(a: dict) -> Structure:
    nodes = check_int("nodes", a["nodes"])
    gpn = check_int("gpus_per_node", a["gpus_per_node"])
    su_nodes = check_int("su_nodes", a["su_nodes"])
    check_positive("nvlink_bandwidth", a["nvlink_bandwidth"])
    check_latency("nvlink_latency", a["nvlink_latency"])
    switch, cables, switches = _rail(nodes, gpn, su_nodes, a)
    return Structure(nodes, switch, _singles(nodes), cables, switches)


def _nvl72(a: dict) -> Structure:
    racks = check_int("racks", a["racks"])
    gpn = check_int("gpus_per_node", a["gpus_per_node"])
    per_rack = check_int("gpus_per_rack", a["gpus_per_rack"])
    trays = check_divides("gpus_per_node", gpn, "gpus_per_rack", per_rack)
    su_racks = check_int("su_racks", a["su_racks"])
    check_positive("nvlink_bandwidth", a["nvlink_bandwidth"])
    check_latency("nvlink_latency", a["nvlink_latency"])
    servers = racks * trays
    if racks > 1:
        switch, cables, switches = _rail(servers, gpn, su_racks * trays, a)
    else:  # the scale-out arguments are checked even for one rack, as the builder does
        fabric_args(a["nic_bandwidth"], a["oversubscription"], a["switch_radix"],
                    a["nic_kind"], a["nic_latency"], a["switch_latency"])
        switch, cables, switches = (), 0, 0
    return Structure(servers, switch, _consecutive(servers, trays), cables, switches)


class TorPlan(NamedTuple):
    """The checked arguments of `leaf_spine_tor` and what its builder derives from them
    (shared with simulator/fabric/tor_network.py, which routes the same fabric)."""

    nodes: int
    gpus_per_node: int
    nodes_per_rack: int
    racks_per_pod: int
    planes: int
    nic_bandwidth: float
    agg_oversubscription: float
    racks: int
    pods: int
    tor_edge_bw: float


def tor_plan(a: dict) -> TorPlan:
    """`leaf_spine_tor`'s bound arguments `a`, checked as the builder checks them."""
    nodes = check_int("nodes", a["nodes"])
    gpn = check_int("gpus_per_node", a["gpus_per_node"])
    per_rack = check_int("nodes_per_rack", a["nodes_per_rack"])
    pod_gpus = check_int("pod_gpus", a["pod_gpus"])
    racks_per_pod = check_divides("gpus_per_node * nodes_per_rack", gpn * per_rack,
                                  "pod_gpus", pod_gpus)
    planes = check_int("cluster_switches", a["cluster_switches"])
    nic_bw = check_positive("nic_bandwidth", a["nic_bandwidth"])
    check_positive("nvlink_bandwidth", a["nvlink_bandwidth"])
    agg_r = check_positive("agg_oversubscription", a["agg_oversubscription"])
    tor_r = check_positive("tor_oversubscription", a["tor_oversubscription"])
    for name in ("nvlink_latency", "nic_latency", "switch_latency"):
        check_latency(name, a[name])
    racks = -(-nodes // per_rack)
    return TorPlan(nodes, gpn, per_rack, racks_per_pod, planes, nic_bw, agg_r, racks,
                   -(-racks // racks_per_pod), gpn * per_rack * nic_bw / tor_r / planes)


def _leaf_spine_tor(a: dict) -> Structure:
    p = tor_plan(a)
    cables = p.racks * p.planes * cables_for(p.tor_edge_bw, p.nic_bandwidth)
    switches = p.racks + p.pods * p.planes
    if p.pods > 1:
        agg_edge_bw = p.racks_per_pod * p.tor_edge_bw / p.agg_oversubscription
        cables += p.pods * p.planes * cables_for(agg_edge_bw, p.nic_bandwidth)
        switches += p.planes
    return Structure(p.nodes, _consecutive(p.nodes, p.nodes_per_rack), _singles(p.nodes),
                     cables, switches)


def _torus(a: dict) -> Structure:
    dims = a["dims"]
    if not isinstance(dims, (tuple, list)) or len(dims) != 3:
        raise ValueError(f"dims must be three integers (X, Y, Z), got {dims!r}")
    X, Y, Z = (check_int(f"dims[{i}]", d) for i, d in enumerate(dims))
    gpn = check_int("gpus_per_node", a["gpus_per_node"])
    check_positive("ici_bandwidth", a["ici_bandwidth"])
    check_latency("ici_latency", a["ici_latency"])
    chips = X * Y * Z
    check_divides("gpus_per_node", gpn, "X * Y * Z", chips)
    return Structure(chips // gpn, (), (tuple(range(chips // gpn)),), 0, 0)


_STRUCTURES: dict[Callable, Callable[[dict], Structure]] = {
    BUILDERS["nvswitch_node"]: _nvswitch_node,
    BUILDERS["rail_fat_tree"]: _rail_fat_tree,
    BUILDERS["nvl72"]: _nvl72,
    BUILDERS["leaf_spine_tor"]: _leaf_spine_tor,
    BUILDERS["torus_3d"]: _torus,
}


def structure(name: str, gpus: int, **params) -> Structure | None:
    """The Structure of `build(name, gpus, **params)`, without building it; None for a
    topology this module does not know (its graph is the only source). Raises the
    ValueError `build` would (the arguments are checked the same way)."""
    builder = BUILDERS.get(name)
    if builder not in _STRUCTURES:
        return None
    size = size_args(name, gpus, params)
    bound = inspect.signature(builder).bind(**size, **params)
    bound.apply_defaults()
    found = _STRUCTURES[builder](bound.arguments)
    if name == "torus_3d" and found.job_nodes * bound.arguments["gpus_per_node"] != gpus:
        dims = bound.arguments["dims"]
        raise ValueError(f"{name}: dims give {dims[0] * dims[1] * dims[2]} chips, "
                         f"not gpus={gpus}")
    return found


@lru_cache(maxsize=8)
def fabric_structure(fabric: FabricSpec, gpus: int) -> Structure | None:
    """The failure domains, cables and switch count of a built-in topology without its
    graph; None where only the graph can tell (a topology this module does not know, a
    fabric with a cable down). Here, not in simulator.fabric.stepmodel: a study with a
    power model but no workload needs only this, and importing the step model (the flow
    network, scipy's sparse graphs: ~0.2-0.4 s) would be most of its start-up."""
    if fabric.failed_cable is not None:
        return None
    return structure(fabric.builder, gpus, **dict(fabric.params))
