"""Step time from the fabric: topology graph -> flow network -> collectives -> profile.

Everything here is cached on frozen, hashable specs: the same topology is built once per
process, and the step profile of a (workload, fabric, cluster) is computed once, so a
sweep over checkpoint policies pays for the fabric only once.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar

import networkx as nx

from simulator.fabric.collectives import CollectiveModel, Layout
from simulator.fabric.domains import representative_uplink, without_cable
from simulator.fabric.fabric_spec import FabricSpec
from simulator.fabric.network import Network
from simulator.fabric.plan_network import PlanNetwork
from simulator.fabric.protocols import NCCL_PROTOCOLS
from simulator.fabric.rail_network import RailNetwork, RailShape, rail_shape
from simulator.fabric.structure import fabric_structure
from simulator.fabric.topology import build
from simulator.fabric.tor_network import TorNetwork, TorShape, tor_shape
from simulator.fabric.workload import StepProfile, Workload, step_profile

T = TypeVar("T")


def _gc_paused(build: Callable[..., T]) -> Callable[..., T]:
    """`build` with the garbage collector off while it runs: building a fabric makes
    millions of long-lived objects (nodes, edges, routing tables), and the collections
    their allocation triggers walk all of them again and again (~30% of a cold 16,384-GPU
    step profile) to find no garbage. Collection resumes afterwards."""
    @wraps(build)
    def paused(*args, **kwargs) -> T:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return build(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()
    return paused


@lru_cache(maxsize=8)
@_gc_paused
def fabric_graph(fabric: FabricSpec, gpus: int) -> nx.Graph:
    """The topology graph of `gpus` accelerators, without `fabric.failed_cable` if one
    is set. The built-in builders follow the graph conventions by construction
    (tests/fabric/test_topology.py runs `check_topology` on each): a walk over every
    node and edge of a 131,072-GPU graph to check them again would cost seconds."""
    if fabric.failed_cable is not None:
        healthy = fabric_graph(dataclasses.replace(fabric, failed_cable=None), gpus)
        return without_cable(healthy, fabric.failed_cable)
    return build(fabric.builder, gpus, **dict(fabric.params))


#: Node kinds of the topology graph that are scale-out switches (NVSwitch chips are in
#: the nodes: their power is the host's).
SWITCH_KINDS = frozenset({"leaf", "spine", "core", "tor", "agg"})


def switch_count(graph: nx.Graph) -> int:
    """The scale-out switches of a topology graph."""
    return sum(1 for _, kind in graph.nodes(data="kind") if kind in SWITCH_KINDS)


@lru_cache(maxsize=8)
def fabric_shape(fabric: FabricSpec, gpus: int) -> RailShape | TorShape | None:
    """The shape of a built-in switched fabric (`rail_fat_tree`, NVL72 racks,
    `leaf_spine_tor`) with every cable up, which `PlanNetwork` routes without a graph;
    None for anything else."""
    if fabric_structure(fabric, gpus) is None:  # checks the arguments as `build` does
        return None
    params = dict(fabric.params)
    return (rail_shape(fabric.builder, gpus, params)
            or tor_shape(fabric.builder, gpus, params))


def needs_graph(fabric: FabricSpec, gpus: int) -> bool:
    """Whether the network of this fabric is built from its topology graph."""
    return fabric_shape(fabric, gpus) is None


@lru_cache(maxsize=8)
@_gc_paused
def fabric_network(fabric: FabricSpec, gpus: int) -> Network | PlanNetwork:
    """The flow network: from the builder's plan for a built-in switched fabric (the
    same routes and times as the graph's, simulator/fabric/plan_network.py; no graph:
    131,072 GPUs in a fraction of a second instead of ~15 s and ~3.5 GB), else over the
    graph."""
    shape = fabric_shape(fabric, gpus)
    if isinstance(shape, RailShape):
        return RailNetwork(shape, dict(fabric.efficiency))
    if isinstance(shape, TorShape):
        return TorNetwork(shape, dict(fabric.efficiency))
    return Network(fabric_graph(fabric, gpus), dict(fabric.efficiency))


@lru_cache(maxsize=16)
@_gc_paused
def collective_model(fabric: FabricSpec, gpus: int, layout: Layout) -> CollectiveModel:
    """Collectives as NCCL runs them by default: channels over every NIC, LL / LL128 /
    Simple, NVLS and NVLS-tree where the NVSwitches reduce; CollNet (SHARP) off, as
    NCCL_COLLNET_ENABLE defaults to 0."""
    return CollectiveModel(fabric_network(fabric, gpus), layout,
                           step_latency_s=fabric.step_latency_s,
                           nvls_efficiency=fabric.nvls_efficiency,
                           protocols=NCCL_PROTOCOLS)


def layout_of(work: Workload, gpus_per_node: int) -> Layout:
    p = work.parallel
    return Layout(tp=p.tp, cp=p.cp, dp=p.dp, pp=p.pp, ep=p.ep, gpus_per_node=gpus_per_node)


@lru_cache(maxsize=64)
@_gc_paused
def profile(work: Workload, fabric: FabricSpec, gpus_per_node: int, peak_flops: float,
            compute_efficiency: float, attention_peak_flops: float | None = None
            ) -> StepProfile:
    """The StepProfile of `work` on this fabric (cached). A large fabric takes a while
    (a built-in switched fabric of 131,072 GPUs well under a second, its graph ~20 s):
    elaboration (simulator/elaborate.py) builds the graph where one is needed, the
    routing and then the collectives as stages it can report."""
    comm = collective_model(fabric, work.parallel.gpus, layout_of(work, gpus_per_node))
    return step_profile(work, peak_flops, compute_efficiency, comm, attention_peak_flops)


def link_slowdown(work: Workload, fabric: FabricSpec, gpus_per_node: int,
                  peak_flops: float, compute_efficiency: float,
                  attention_peak_flops: float | None = None) -> float:
    """Step time with one redundant cable down (the first uplink in front of GPU 0)
    over the healthy step time; 1.0 if the fabric has no such cable."""
    cable = representative_uplink(fabric_graph(fabric, work.parallel.gpus))
    if cable is None:
        return 1.0
    args = (gpus_per_node, peak_flops, compute_efficiency, attention_peak_flops)
    healthy = profile(work, fabric, *args)
    degraded = profile(work, dataclasses.replace(fabric, failed_cable=cable), *args)
    return degraded.step_s / healthy.step_s


def clear_caches() -> None:
    """Forget every built graph and computed profile (for cold-start measurements)."""
    for cached in (fabric_graph, fabric_structure, fabric_shape, fabric_network,
                   collective_model, profile):
        cached.cache_clear()
