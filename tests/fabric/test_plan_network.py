"""The graph-free networks of the built-in switched fabrics (simulator/fabric/
plan_network.py: rail fat-trees, NVL72 racks, the Llama 3 ToR/pod cluster) against the
reference, `Network` over the builder's graph: the same link numbering, capacities,
latencies, routes, collective times and step profile, equal with ==; and the step model
taking the shortcut only where it applies."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from simulator.fabric import stepmodel
from simulator.fabric.collectives import ALGORITHMS, OPS, CollectiveModel, Layout
from simulator.fabric.fabric_spec import FabricSpec
from simulator.fabric.flows import Incidence
from simulator.fabric.network import Network
from simulator.fabric.plan_network import PlanNetwork
from simulator.fabric.protocols import NCCL_PROTOCOLS
from simulator.fabric.topology import build
from simulator.fabric.workload import Parallelism, Transformer, Workload, step_profile

EFFICIENCY = (("ib", 0.9), ("nvlink", 0.82), ("roce", 0.85))

#: (builder, gpus, params, layouts): 2 and 3 tiers, partial scalable units, 2:1,
#: one GPU per server, RoCE, NVL72 racks (72-GPU domains over 4-GPU trays)
CASES = [
    ("rail_fat_tree", 1024, {}, [Layout(tp=8, dp=16, pp=8)]),
    ("rail_fat_tree", 512, {"su_nodes": 4, "tiers": 3},
     [Layout(tp=8, dp=8, pp=8), Layout(tp=2, dp=64, pp=4)]),
    ("rail_fat_tree", 320, {"su_nodes": 8, "tiers": 3, "oversubscription": 2.0},
     [Layout(tp=4, dp=20, pp=4), Layout(tp=8, dp=40)]),
    ("rail_fat_tree", 288, {"su_nodes": 8, "nic_kind": "roce"}, [Layout(tp=8, dp=36)]),
    ("rail_fat_tree", 80, {"gpus_per_node": 4, "su_nodes": 3, "tiers": 3, "switch_radix": 8},
     [Layout(tp=2, dp=20, pp=2, gpus_per_node=4)]),
    ("rail_fat_tree", 64, {"gpus_per_node": 1, "su_nodes": 8},
     [Layout(dp=16, pp=4, gpus_per_node=1)]),
    ("nvl72", 432, {"su_racks": 2, "switch_radix": 128},
     [Layout(tp=4, dp=18, pp=6, gpus_per_node=4), Layout(tp=8, dp=54, gpus_per_node=4)]),
    # the Llama 3 RoCE cluster: ToRs of 2 servers, pods, the aggregation layer (1:7);
    # a partial last rack and pod; one pod; one GPU per server; ToRs 2:1
    ("leaf_spine_tor", 1024, {"pod_gpus": 256}, [Layout(tp=8, dp=16, pp=8)]),
    ("leaf_spine_tor", 8 * 45, {"pod_gpus": 64, "cluster_switches": 3},
     [Layout(tp=8, dp=15, pp=3), Layout(tp=2, dp=36, pp=5)]),
    ("leaf_spine_tor", 512, {}, [Layout(tp=8, dp=64)]),
    ("leaf_spine_tor", 60, {"gpus_per_node": 1, "nodes_per_rack": 4, "pod_gpus": 16,
                            "cluster_switches": 2, "tor_oversubscription": 2.0},
     [Layout(dp=15, pp=4, gpus_per_node=1)]),
]


def _pair(builder: str, gpus: int, params: dict, efficiency=EFFICIENCY
          ) -> tuple[PlanNetwork, Network]:
    spec = FabricSpec(builder, tuple(sorted(params.items())), efficiency)
    fast = stepmodel.fabric_network(spec, gpus)
    assert isinstance(fast, PlanNetwork)
    return fast, Network(build(builder, gpus, **params), dict(efficiency))


def _same_collectives(fast, ref, layout: Layout, collnet: bool) -> None:
    """Every op, algorithm and protocol on every group of `layout`, at three sizes."""
    models = [CollectiveModel(n, layout, protocols=NCCL_PROTOCOLS, collnet=collnet)
              for n in (fast, ref)]
    for dim in ("tp", "pp", "dp", "node", "world"):
        groups = layout.groups(dim)
        if groups.shape[1] < 2:
            continue
        for op in OPS:
            for algorithm in ALGORITHMS:
                try:
                    want = [models[1].best(op, groups, s, algorithm) for s in (1e3, 1e6, 1e9)]
                except ValueError as err:
                    with pytest.raises(ValueError, match=re.escape(str(err))):
                        models[0].best(op, groups, 1e6, algorithm)
                    continue
                got = [models[0].best(op, groups, s, algorithm) for s in (1e3, 1e6, 1e9)]
                assert got == want, (dim, op, algorithm)


@pytest.mark.parametrize("builder, gpus, params, layouts", CASES)
def test_the_shortcut_is_the_graphs_network(builder, gpus, params, layouts) -> None:
    fast, ref = _pair(builder, gpus, params)
    assert fast.n_links == ref.n_links
    assert np.array_equal(fast.capacity, ref.capacity)
    assert np.array_equal(fast.latency, ref.latency)
    for i, (u, v) in enumerate(ref.links):  # the builders' edge order, both directions
        assert fast.link_id(u, v) == i
    pairs = np.random.default_rng(17).integers(0, gpus, size=(2000, 2))
    for got, want in zip(fast.paths(pairs), ref.paths(pairs), strict=True):
        assert np.array_equal(got, want)
    assert fast.path_latency(0, gpus - 1) == ref.path_latency(0, gpus - 1)
    got, want = fast.transfer_parts(pairs, 1e6), ref.transfer_parts(pairs, 1e6)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert np.array_equal(fast.rates(pairs[:500]), ref.rates(pairs[:500]))
    for layout in layouts:
        _same_collectives(fast, ref, layout, collnet=params.get("nic_kind", "ib") == "ib")


@pytest.mark.parametrize("nvlink, nic", [(50e9, 50e9), (40e9, 50e9)])
def test_a_shared_leaf_in_one_domain_ties_as_the_graph_does(nvlink, nic) -> None:
    """NVL72 ranks of one rack on one leaf reach each other at 0 hops both ways: the
    wider access link wins, equal widths alternate by (src + dst) % 2."""
    params = {"su_racks": 2, "switch_radix": 128, "nvlink_bandwidth": nvlink,
              "nic_bandwidth": nic}
    fast, ref = _pair("nvl72", 288, params, efficiency=(("ib", 1.0), ("nvlink", 1.0)))
    same_leaf = [(a, b) for a in range(0, 72, 4) for b in range(0, 72, 4)]
    for got, want in zip(fast.paths(same_leaf), ref.paths(same_leaf), strict=True):
        assert np.array_equal(got, want)
    kinds = {len(p) for p in fast.paths(same_leaf)}
    assert kinds == {0, 2}


def test_a_route_by_hand() -> None:
    """2-tier DGX fabric: GPU 0 and GPU 8 (rail 0 of servers 0 and 1) share leaf 0: up
    GPU 0's NIC edge (edge 1: its NVLink edge is 0) and down GPU 8's (edge 17)."""
    fast, _ = _pair("rail_fat_tree", 64, {})
    assert fast.path(0, 8).tolist() == [2 * 1, 2 * 17 + 1]
    assert fast.path(0, 1).tolist() == [2 * 0, 2 * 2 + 1]  # through the NVSwitch


def test_the_step_profile_is_the_graphs() -> None:
    """Llama-3-405B-shaped work (TP 8, PP 4, DP 32) on a 3-tier 1,024-GPU fabric: the
    step profile from the shortcut equals the one from the graph."""
    fast, ref = _pair("rail_fat_tree", 1024, {"su_nodes": 4, "tiers": 3})
    work = Workload(Transformer(params=405e9, layers=126, hidden=16384, heads=128,
                                kv_heads=8, seq_len=8192),
                    Parallelism(tp=8, pp=4, dp=32, zero_stage=2), 8192 * 32 * 4)
    layout = stepmodel.layout_of(work, 8)
    profiles = [step_profile(work, 989e12, 0.6,
                             CollectiveModel(n, layout, protocols=NCCL_PROTOCOLS))
                for n in (fast, ref)]
    assert profiles[0] == profiles[1]


def test_rows_make_the_incidence_paths_make() -> None:
    links = np.array([[7, 2, 5, -1], [3, -1, -1, -1], [-1, -1, -1, -1], [9, 0, 4, 1]])
    lengths = np.array([3, 1, 0, 4])
    rows = Incidence.from_rows(links, lengths, 10)
    paths = Incidence.from_paths([r[:n] for r, n in zip(links, lengths, strict=True)], 10)
    for name in ("f_ptr", "f_link", "f_weight"):
        assert np.array_equal(getattr(rows, name), getattr(paths, name))
        assert getattr(rows, name).dtype == getattr(paths, name).dtype
    assert rows.f_link.tolist() == [2, 5, 7, 3, 0, 1, 4, 9]


@pytest.mark.parametrize("builder, gpus, params", [
    ("torus_3d", 64, {}),
    ("nvswitch_node", 8, {}),
    ("nvl72", 72, {}),
])
def test_other_topologies_route_over_their_graph(builder, gpus, params) -> None:
    spec = FabricSpec(builder, tuple(sorted(params.items())), EFFICIENCY)
    assert stepmodel.needs_graph(spec, gpus)
    assert isinstance(stepmodel.fabric_network(spec, gpus), Network)


def test_a_cable_down_routes_over_the_graph() -> None:
    spec = FabricSpec("rail_fat_tree", (), EFFICIENCY)
    assert not stepmodel.needs_graph(spec, 256)
    cable = (("leaf", 0, 0), ("spine", 0, 0))
    down = FabricSpec("rail_fat_tree", (), EFFICIENCY, failed_cable=cable)
    assert stepmodel.needs_graph(down, 256)
    assert isinstance(stepmodel.fabric_network(down, 256), Network)


def test_bad_arguments_fail_as_the_builder_does() -> None:
    spec = FabricSpec("rail_fat_tree", (("switch_radix", 4),), EFFICIENCY)
    with pytest.raises(ValueError) as built:
        build("rail_fat_tree", 256, switch_radix=4)
    with pytest.raises(ValueError) as shortcut:
        stepmodel.fabric_network(spec, 256)
    assert str(shortcut.value) == str(built.value)


def test_unknown_links_and_endpoints_are_errors() -> None:
    fast, _ = _pair("rail_fat_tree", 64, {})
    with pytest.raises(ValueError, match="no link 0 -> 1"):
        fast.link_id(0, 1)
    with pytest.raises(ValueError, match="flow endpoint 64 is not an accelerator"):
        fast.path(0, 64)


@pytest.mark.parametrize("topology", ["dgx_h100_superpod", "llama3_roce"])
def test_llama3_405b_on_16384_gpus_steps_as_over_the_graph(topology) -> None:
    """The presets at full size: 16,384 H100 on the 3-tier DGX SuperPOD fabric and on
    the Llama 3 RoCE cluster (6 pods, the last partial): the step profile from the
    shortcut equals the one over the graph."""
    from simulator import load_scenario

    scenario = load_scenario(["workload=llama3_405b", f"topology={topology}"])
    fabric, gpus = scenario.fabric, scenario.cluster.gpus
    assert gpus == 16384
    fast = stepmodel.fabric_network(fabric, gpus)
    assert isinstance(fast, PlanNetwork)
    ref = Network(stepmodel.fabric_graph(fabric, gpus), dict(fabric.efficiency))
    work = scenario.workload
    layout = stepmodel.layout_of(work, scenario.cluster.gpus_per_node)
    profiles = [step_profile(work, 989e12, 0.6, CollectiveModel(
        n, layout, step_latency_s=fabric.step_latency_s,
        nvls_efficiency=fabric.nvls_efficiency, protocols=NCCL_PROTOCOLS))
        for n in (fast, ref)]
    assert profiles[0] == profiles[1]
    assert set(profiles[0].comm_s) == {"tp", "pp", "dp"}


def _random_fabric(rng: random.Random) -> tuple[str, int, dict]:
    """A small built-in switched fabric with arguments drawn from their odd corners."""
    kind = rng.choice(["rail_fat_tree", "leaf_spine_tor", "nvl72"])
    gpn = rng.choice([1, 2, 4, 8]) if kind != "nvl72" else rng.choice([2, 4])
    nvlink = {"nvlink_bandwidth": rng.choice([450e9, 50e9, 40e9])}
    if kind == "rail_fat_tree":
        return kind, rng.randint(1, 80) * gpn, {
            "gpus_per_node": gpn, "su_nodes": rng.randint(1, 16),
            "tiers": rng.choice([None, 2, 3]), "oversubscription": rng.choice([1.0, 1.5, 3.0]),
            "switch_radix": rng.choice([8, 16, 64]), "nic_kind": rng.choice(["ib", "roce"]),
            **nvlink}
    if kind == "leaf_spine_tor":
        per_rack = rng.randint(1, 4)
        return kind, rng.randint(1, 80) * gpn, {
            "gpus_per_node": gpn, "nodes_per_rack": per_rack,
            "pod_gpus": gpn * per_rack * rng.randint(1, 6),
            "cluster_switches": rng.randint(1, 5), "agg_oversubscription": rng.choice([1.0, 7.0]),
            "tor_oversubscription": rng.choice([1.0, 2.0]), **nvlink}
    per_rack = gpn * rng.randint(1, 6)
    return kind, rng.randint(2, 8) * per_rack, {
        "gpus_per_node": gpn, "gpus_per_rack": per_rack, "su_racks": rng.randint(1, 3),
        "tiers": rng.choice([None, 2, 3]), "switch_radix": rng.choice([16, 64, 128]),
        "oversubscription": rng.choice([1.0, 2.0]), **nvlink}


def test_random_fabrics_route_as_their_graphs() -> None:
    """60 fabrics drawn at random (those the builders accept), with efficiencies that
    make NVLink and the NIC tie or not: the same links, routes and transfer times."""
    rng = random.Random(17)
    checked = 0
    while checked < 60:
        builder, gpus, params = _random_fabric(rng)
        efficiency = rng.choice([EFFICIENCY, (("ib", 1.0), ("nvlink", 1.0), ("roce", 1.0))])
        try:
            graph = build(builder, gpus, **params)
        except ValueError:
            continue  # e.g. a leaf with more ports than the radix
        spec = FabricSpec(builder, tuple(sorted(params.items())), efficiency)
        fast, ref = stepmodel.fabric_network(spec, gpus), Network(graph, dict(efficiency))
        assert np.array_equal(fast.capacity, ref.capacity), (builder, gpus, params)
        assert np.array_equal(fast.latency, ref.latency)
        assert [fast.link_id(u, v) for u, v in ref.links] == list(range(ref.n_links))
        pairs = np.array([(rng.randrange(gpus), rng.randrange(gpus)) for _ in range(200)])
        for got, want in zip(fast.paths(pairs), ref.paths(pairs), strict=True):
            assert np.array_equal(got, want), (builder, gpus, params)
        got, want = fast.transfer_parts(pairs, 1e6), ref.transfer_parts(pairs, 1e6)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        checked += 1
