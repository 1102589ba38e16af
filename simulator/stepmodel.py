"""Step time from the fabric: topology graph -> flow network -> collectives -> profile.

Everything here is cached on frozen, hashable specs: the same topology is built once per
process, and the step profile of a (workload, fabric, cluster) is computed once, so a
sweep over checkpoint policies pays for the fabric only once.
"""

from __future__ import annotations

from functools import lru_cache

import networkx as nx

from simulator.collectives import CollectiveModel, Layout
from simulator.network import Network
from simulator.scenario import FabricSpec
from simulator.topology import build, check_topology
from simulator.workload import StepProfile, Workload, step_profile


@lru_cache(maxsize=8)
def fabric_graph(fabric: FabricSpec, gpus: int) -> nx.Graph:
    """The topology graph of `gpus` accelerators (checked: connected, positive links)."""
    graph = build(fabric.builder, gpus, **dict(fabric.params))
    check_topology(graph)
    return graph


@lru_cache(maxsize=8)
def fabric_network(fabric: FabricSpec, gpus: int) -> Network:
    return Network(fabric_graph(fabric, gpus), dict(fabric.efficiency))


@lru_cache(maxsize=16)
def collective_model(fabric: FabricSpec, gpus: int, layout: Layout) -> CollectiveModel:
    return CollectiveModel(fabric_network(fabric, gpus), layout,
                           step_latency_s=fabric.step_latency_s,
                           nvls_efficiency=fabric.nvls_efficiency)


def layout_of(work: Workload, gpus_per_node: int) -> Layout:
    p = work.parallel
    return Layout(tp=p.tp, cp=p.cp, dp=p.dp, pp=p.pp, ep=p.ep, gpus_per_node=gpus_per_node)


@lru_cache(maxsize=64)
def profile(work: Workload, fabric: FabricSpec, gpus_per_node: int, peak_flops: float,
            compute_efficiency: float) -> StepProfile:
    """The StepProfile of `work` on this fabric (cached)."""
    gpus = work.parallel.gpus
    comm = collective_model(fabric, gpus, layout_of(work, gpus_per_node))
    return step_profile(work, peak_flops, compute_efficiency, comm)


def clear_caches() -> None:
    """Forget every built graph and computed profile (for cold-start measurements)."""
    for cached in (fabric_graph, fabric_network, collective_model, profile):
        cached.cache_clear()
