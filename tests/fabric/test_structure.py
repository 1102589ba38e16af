"""The structure of a built-in topology (simulator/fabric/structure.py) against its graph.

The graph is the reference: its first-tier switches' servers, scale-up domains,
switch-to-switch cables and scale-out switches are read off the built graph by
simulator/fabric/domains.py and stepmodel.switch_count (walks of nodes and edges that
share no code with the structure's arithmetic). Every builder, at sizes with partial
scalable units, racks and pods, 2 and 3 tiers, oversubscription and spare nodes.
"""

from __future__ import annotations

import pytest

from simulator.fabric.domains import domains_from_graph, failure_domains
from simulator.fabric.stepmodel import switch_count
from simulator.fabric.structure import structure
from simulator.fabric.topology import build

CASES = [
    ("nvswitch_node", 1, {}),
    ("nvswitch_node", 8, {}),
    ("rail_fat_tree", 8, {}),
    ("rail_fat_tree", 256, {}),
    ("rail_fat_tree", 1024, {}),
    ("rail_fat_tree", 8 * 100, {"su_nodes": 16}),  # partial SU
    ("rail_fat_tree", 8 * 300, {}),  # 80 leaves > radix 64: 3 tiers, a partial SU
    ("rail_fat_tree", 8 * 64 * 20, {}),  # 20 full SUs, 3 tiers
    ("rail_fat_tree", 4 * 96, {"gpus_per_node": 4, "oversubscription": 2.0}),
    ("rail_fat_tree", 8 * 96, {"tiers": 3, "oversubscription": 3.0, "nic_kind": "roce"}),
    ("rail_fat_tree", 8 * 40, {"switch_radix": 48, "su_nodes": 20}),
    ("nvl72", 72, {}),
    ("nvl72", 72 * 2, {}),
    ("nvl72", 72 * 17, {"su_racks": 2, "switch_radix": 128}),  # a partial SU
    ("nvl72", 72 * 40, {}),  # 3 tiers
    ("nvl72", 36 * 6, {"gpus_per_rack": 36, "gpus_per_node": 2}),
    ("leaf_spine_tor", 8, {}),
    ("leaf_spine_tor", 8 * 7, {"nodes_per_rack": 2}),  # a partial rack
    ("leaf_spine_tor", 8 * 50, {"pod_gpus": 64}),  # 13 pods, the last partial
    ("leaf_spine_tor", 8 * 50, {"pod_gpus": 96, "nodes_per_rack": 3,
                                "cluster_switches": 5, "agg_oversubscription": 2.5,
                                "tor_oversubscription": 3.0}),
    ("leaf_spine_tor", 16384, {}),  # Llama 3: 6 pods of 3,072 GPUs (the last partial)
    ("torus_3d", 64, {}),
    ("torus_3d", 8, {"dims": (2, 2, 2)}),
    ("torus_3d", 4 * 6 * 10, {"dims": (4, 6, 10), "wraparound": False}),
    ("torus_3d", 1, {"dims": (1, 1, 1), "gpus_per_node": 1}),
]


@pytest.mark.parametrize(("name", "gpus", "params"), CASES)
@pytest.mark.parametrize("spares", [0, 5])
def test_structure_matches_the_graph(name: str, gpus: int, params: dict,
                                     spares: int) -> None:
    G = build(name, gpus, **params)
    found = structure(name, gpus, **params)
    job_nodes = G.graph["gpus"] // G.graph["gpus_per_node"]
    assert found.job_nodes == job_nodes
    assert found.switches == switch_count(G)
    for nodes_per_rack in (1, 2, 3):
        reference = domains_from_graph(G, nodes_per_rack, job_nodes + spares, 1.25)
        assert failure_domains(found.job_nodes, found.switch_groups, found.scaleup_groups,
                               found.cables, nodes_per_rack, job_nodes + spares,
                               1.25) == reference


BAD = [
    ("rail_fat_tree", 1024, {"switch_radix": 4}),
    ("rail_fat_tree", 1024, {"tiers": 4}),
    ("rail_fat_tree", 1024, {"nic_kind": "ethernet"}),
    ("rail_fat_tree", 1020, {}),
    ("rail_fat_tree", 1024, {"nodes": 128}),
    ("rail_fat_tree", 1024, {"nic_bandwidth": -1.0}),
    ("nvl72", 72, {"nic_kind": "x"}),
    ("nvl72", 70, {}),
    ("nvl72", 72, {"gpus_per_node": 5}),
    ("leaf_spine_tor", 64, {"pod_gpus": 100}),
    ("leaf_spine_tor", 64, {"switch_latency": -1.0}),
    ("torus_3d", 64, {"dims": (4, 4, 2)}),
    ("torus_3d", 64, {"dims": (4, 4)}),
    ("torus_3d", 64, {"gpus_per_node": 3}),
    ("nvswitch_node", 8, {"nvlink_bandwidth": 0}),
    ("fat_tree", 8, {}),
]


@pytest.mark.parametrize(("name", "gpus", "params"), BAD)
def test_structure_refuses_what_the_builder_refuses(name: str, gpus: int,
                                                    params: dict) -> None:
    """The same ValueError, word for word, as building the graph (an unknown topology
    has no structure: None, and its graph says why)."""
    with pytest.raises(ValueError) as built:
        build(name, gpus, **params)
    if name == "fat_tree":
        assert structure(name, gpus, **params) is None
        return
    with pytest.raises(ValueError) as structural:
        structure(name, gpus, **params)
    assert str(structural.value) == str(built.value)
