"""Topology builders: counts, attributes and fabric properties derived by hand.

Expected numbers come from the construction rules in `simulator/topology_*.py` (and the
B200 SuperPOD switch counts of shared/REFERENCE.md), worked out in the comments.
"""

from __future__ import annotations

import math
from collections import Counter

import networkx as nx
import pytest

from simulator.fabric.topology import BUILDERS, build
from simulator.fabric.topology_fat_tree import rail_fat_tree
from simulator.fabric.topology_graph import EDGE_KINDS, NODE_KINDS, check_topology
from simulator.fabric.topology_leaf_spine import leaf_spine_tor
from simulator.fabric.topology_scaleup import nvl72_rack, nvswitch_node
from simulator.fabric.topology_torus import torus_3d

NIC = 50e9


def kinds(G: nx.Graph) -> Counter:
    return Counter(k for _, k in G.nodes(data="kind"))


def edge_kinds(G: nx.Graph) -> Counter:
    return Counter(k for _, _, k in G.edges(data="kind"))


def switches(G: nx.Graph) -> nx.Graph:
    """The fabric without accelerators (which never forward in switched routing)."""
    return G.subgraph(n for n, k in G.nodes(data="kind") if k != "gpu")


def ports(G: nx.Graph, node) -> int:
    return sum(d["links"] for _, _, d in G.edges(node, data=True))


def uplink_bw(G: nx.Graph, node, upper: str) -> float:
    return sum(d["bandwidth"] for _, v, d in G.edges(node, data=True)
               if G.nodes[v]["kind"] == upper)


SMALL = {
    "nvswitch_node": lambda: nvswitch_node(),
    "nvl72 x1": lambda: nvl72_rack(),
    "nvl72 x3": lambda: nvl72_rack(racks=3),
    "rail_fat_tree 2t": lambda: rail_fat_tree(40),
    "rail_fat_tree 3t": lambda: rail_fat_tree(20, gpus_per_node=2, su_nodes=4, switch_radix=8),
    "leaf_spine_tor": lambda: leaf_spine_tor(8, pod_gpus=32, cluster_switches=4),
    "torus_3d": lambda: torus_3d((4, 4, 2)),
}


# ---- conventions shared by every builder -----------------------------------------------


@pytest.mark.parametrize("make", SMALL.values(), ids=SMALL.keys())
def test_conventions(make):
    G = make()
    check_topology(G)
    assert type(G) is nx.Graph
    gpn, ds, n = G.graph["gpus_per_node"], G.graph["domain_size"], G.graph["gpus"]
    assert G.graph["routing"] in ("switched", "direct")
    for r in range(n):
        a = G.nodes[r]
        assert (a["kind"], a["server"], a["local"], a["domain"]) == ("gpu", r // gpn, r % gpn,
                                                                     r // ds)
        assert "rail" in a
    for node, k in G.nodes(data="kind"):
        assert k in NODE_KINDS
        assert isinstance(node, int) == (k == "gpu")
    for _, _, d in G.edges(data=True):
        assert d["bandwidth"] > 0 and d["latency"] >= 0 and d["kind"] in EDGE_KINDS
        assert isinstance(d["links"], int) and d["links"] >= 1


def test_edge_attr_dicts_are_not_shared():
    G = rail_fat_tree(2)
    G.edges[0, ("leaf", 0, 0)]["bandwidth"] = 1.0  # e.g. a degraded link
    assert G.edges[8, ("leaf", 0, 0)]["bandwidth"] == NIC


def test_default_latencies_and_overrides():
    G = rail_fat_tree(2)
    assert G.edges[0, ("nvswitch", 0)]["latency"] == 0.5e-6
    assert G.edges[0, ("leaf", 0, 0)]["latency"] == 1.0e-6
    assert G.edges[("leaf", 0, 0), ("spine", 0, 0)]["latency"] == 0.6e-6
    G = rail_fat_tree(2, nvlink_latency=1e-7, nic_latency=2e-6, switch_latency=3e-6)
    assert G.edges[0, ("nvswitch", 0)]["latency"] == 1e-7
    assert G.edges[0, ("leaf", 0, 0)]["latency"] == 2e-6
    assert G.edges[("leaf", 0, 0), ("spine", 0, 0)]["latency"] == 3e-6


# ---- scale-up domains ------------------------------------------------------------------


def test_nvswitch_node():
    G = nvswitch_node()
    assert kinds(G) == {"gpu": 8, "nvswitch": 1}
    assert G.number_of_edges() == 8  # one NVLink edge per GPU
    assert all(G.has_edge(r, ("nvswitch", 0)) for r in range(8))
    assert {d["bandwidth"] for *_, d in G.edges(data=True)} == {450e9}
    assert edge_kinds(G) == {"nvlink": 8}
    assert G.nodes["nvswitch", 0]["reduction"] is True
    assert (G.graph["gpus"], G.graph["gpus_per_node"], G.graph["domain_size"]) == (8, 8, 8)
    assert G.graph["routing"] == "switched" and G.graph["name"] == "nvswitch_node"
    single = nvswitch_node(gpus=1)  # a one-GPU domain has no switch
    assert list(single.nodes) == [0] and single.number_of_edges() == 0
    check_topology(single)


def test_nvl72_one_rack():
    G = nvl72_rack()
    assert kinds(G) == {"gpu": 72, "nvswitch": 1}
    assert edge_kinds(G) == {"nvlink": 72}
    assert {d["bandwidth"] for *_, d in G.edges(data=True)} == {900e9}
    assert (G.graph["gpus_per_node"], G.graph["domain_size"]) == (4, 72)
    assert G.nodes[5] == {"kind": "gpu", "server": 1, "local": 1, "domain": 0, "rail": None}


def test_nvl72_racks_with_rail_fabric():
    G = nvl72_rack(racks=2)
    # 2 racks x 18 trays; SU = 1 rack (18 trays), 4 rails -> 8 leaves.
    # Leaf: 18 down, 18 up cables; spines: fewest divisors of 18 holding 8*18 = 144
    # uplinks on 64-port switches: ceil(144/64) = 3 -> 3 spines, 6 cables per leaf-spine.
    assert kinds(G) == {"gpu": 144, "nvswitch": 2, "leaf": 8, "spine": 3}
    assert edge_kinds(G) == {"nvlink": 144, "ib": 144 + 8 * 3}
    assert G.nodes[77]["domain"] == 1 and G.nodes[77]["rail"] == 1
    assert G.has_edge(77, ("nvswitch", 1)) and G.has_edge(77, ("leaf", 1, 1))
    assert G.edges[("leaf", 0, 0), ("spine", 0, 2)]["links"] == 6
    assert uplink_bw(G, ("leaf", 0, 0), "spine") == pytest.approx(18 * NIC)


# ---- rail-optimized fat-tree -----------------------------------------------------------


def test_rail_fat_tree_two_sus_counts():
    G = rail_fat_tree(64)
    # 512 GPUs, 64 NVSwitch domains, 2 SUs x 8 rails = 16 leaves; 16 leaves x 32 uplinks
    # = 512 spine ports = 8 spines of 64; each leaf has 32/8 = 4 cables to each spine.
    assert kinds(G) == {"gpu": 512, "nvswitch": 64, "leaf": 16, "spine": 8}
    assert G.graph["tiers"] == 2
    assert edge_kinds(G) == {"nvlink": 512, "ib": 512 + 16 * 8}
    e = G.edges[("leaf", 1, 7), ("spine", 0, 7)]
    assert (e["links"], e["bandwidth"], e["kind"]) == (4, 4 * NIC, "ib")


def test_rails_and_partial_su():
    G = rail_fat_tree(40)  # SU 0 full (32 servers), SU 1 partial (8 servers)
    assert kinds(G)["leaf"] == 16
    for r in range(40 * 8):
        server, local = divmod(r, 8)
        nics = [v for v in G[r] if G.edges[r, v]["kind"] == "ib"]
        assert nics == [("leaf", server // 32, local)]
        assert G.nodes[r]["rail"] == local
    assert G.degree[("leaf", 0, 3)] == 32 + 8  # 32 servers + 8 spines
    assert G.degree[("leaf", 1, 3)] == 8 + 8  # 8 servers + 8 spines


@pytest.mark.parametrize(("ratio", "spines"), [(1, 8), (2, 4), (4, 2)])
def test_oversubscription_two_tiers(ratio, spines):
    G = rail_fat_tree(64, oversubscription=ratio)
    # Leaf downlink 32 x 50 GB/s; uplink 32/ratio cables = 16 leaves x 32/ratio ports
    # -> 512/ratio/64 spines: 8, 4, 2.
    assert kinds(G)["spine"] == spines
    for su in range(2):
        for rail in range(8):
            down = uplink_bw(G, ("leaf", su, rail), "gpu")
            assert down == 32 * NIC
            assert uplink_bw(G, ("leaf", su, rail), "spine") == pytest.approx(down / ratio)


@pytest.mark.parametrize("ratio", [1, 2, 4])
def test_oversubscription_three_tiers(ratio):
    G = rail_fat_tree(64, oversubscription=ratio, tiers=3)
    assert G.graph["tiers"] == 3
    for node, k in G.nodes(data="kind"):
        if k == "leaf":
            down = uplink_bw(G, node, "gpu")
            assert uplink_bw(G, node, "spine") == pytest.approx(down / ratio)
        elif k == "spine":
            down = uplink_bw(G, node, "leaf")
            assert uplink_bw(G, node, "core") == pytest.approx(down / ratio)


@pytest.mark.parametrize(("sus", "leaf", "spine", "core"),
                         [(2, 16, 8, 0), (4, 32, 16, 0), (16, 128, 128, 64)])
def test_b200_superpod_switch_counts(sus, leaf, spine, core):
    """REFERENCE.md: B200 SuperPOD 2 SUs 16/8, 4 SUs 32/16, 16 SUs 128/128/64."""
    G = rail_fat_tree(32 * sus, nvlink_bandwidth=900e9)
    c = kinds(G)
    assert (c["leaf"], c["spine"], c["core"]) == (leaf, spine, core)
    assert G.graph["tiers"] == (2 if core == 0 else 3)
    check_topology(G)


def test_superpod_16_su_wiring():
    G = rail_fat_tree(512)
    # Per SU: 8 leaves x 32 uplinks = 256 = 8 spines x 32 downlinks -> 4 cables each.
    assert G.edges[("leaf", 5, 2), ("spine", 5, 7)]["links"] == 4
    assert not G.has_edge(("leaf", 5, 2), ("spine", 6, 7))
    # Plane j = spine j of all 16 SUs: 16 x 32 uplinks = 512 = 8 cores x 64 -> 4 cables.
    assert G.edges[("spine", 5, 3), ("core", 3 * 8 + 7)]["links"] == 4
    assert not G.has_edge(("spine", 5, 3), ("core", 0))
    for node, k in G.nodes(data="kind"):
        if k == "leaf":
            assert ports(G, node) == 64  # 32 servers + 32 uplinks
        elif k == "spine":
            assert ports(G, node) == 64 and uplink_bw(G, node, "core") == 32 * NIC
        elif k == "core":
            assert ports(G, node) == 64


@pytest.mark.parametrize("sus", [1, 2, 3, 5, 8, 12, 32, 64])
def test_physical_switches_fit_the_radix(sus):
    G = rail_fat_tree(32 * sus)
    for node, k in G.nodes(data="kind"):
        if k in ("leaf", "spine", "core"):
            assert ports(G, node) <= 64, node


def test_ecmp_two_tiers():
    S = switches(rail_fat_tree(64))
    for a, b in [(("leaf", 0, 0), ("leaf", 1, 0)), (("leaf", 0, 0), ("leaf", 1, 5)),
                 (("leaf", 0, 0), ("leaf", 0, 5))]:
        paths = list(nx.all_shortest_paths(S, a, b))
        assert len(paths) == 8 and all(len(p) == 3 for p in paths)  # via each spine


def test_ecmp_three_tiers():
    G = rail_fat_tree(20, gpus_per_node=2, su_nodes=4, switch_radix=8)
    # Leaf: 4 down + 4 up = 8 ports. 5 SUs x 2 rails = 10 leaves > 8 -> 3 tiers.
    # Spines: at most 4 down (4 + 4 up = 8); SU group holds 2 x 4 uplinks -> 2 spines,
    # 2 cables per leaf-spine. Spine: 4 cables up. Plane: 5 spines x 4 = 20 ports ->
    # ceil(20/8) = 3, smallest divisor of 4 that is >= 3 is 4 cores per plane; 2 planes.
    assert G.graph["tiers"] == 3
    c = kinds(G)
    assert (c["leaf"], c["spine"], c["core"]) == (10, 10, 8)
    S = switches(G)
    paths = list(nx.all_shortest_paths(S, ("leaf", 0, 0), ("leaf", 1, 0)))
    assert len(paths) == 2 * 4 and all(len(p) == 5 for p in paths)  # group x per_plane
    assert len({p[2] for p in paths}) == 8  # through 8 distinct cores
    same_su = list(nx.all_shortest_paths(S, ("leaf", 0, 0), ("leaf", 0, 1)))
    assert len(same_su) == 2  # via the SU's two spines


def test_large_fat_tree_16k_gpus():
    G = rail_fat_tree(2048)
    # 64 SUs: 512 leaves > 64 -> 3 tiers; 8 spines per SU; plane of 64 spines x 32 up
    # = 2048 ports -> 32 cores per plane (1 cable each), 8 planes.
    assert kinds(G) == {"gpu": 16384, "nvswitch": 2048, "leaf": 512, "spine": 512,
                        "core": 256}
    assert G.number_of_edges() == 16384 * 2 + 512 * 8 + 512 * 32
    check_topology(G)


@pytest.mark.slow
def test_large_fat_tree_131k_gpus():
    G = rail_fat_tree(16384)
    # 512 SUs > 64-port radix: cores are logical, 32 per plane, one cable per spine.
    assert kinds(G) == {"gpu": 131072, "nvswitch": 16384, "leaf": 4096, "spine": 4096,
                        "core": 256}
    assert G.number_of_edges() == 131072 * 2 + 4096 * 8 + 4096 * 32
    assert ports(G, ("core", 0)) == 512
    check_topology(G)


# ---- Llama 3 RoCE cluster --------------------------------------------------------------


def test_leaf_spine_tor_small():
    G = leaf_spine_tor(8, pod_gpus=32, cluster_switches=4)
    # 8 servers, 2 per rack -> 4 racks of 16 GPUs; 2 racks per pod -> 2 pods;
    # 4 cluster switches per pod; 2 pods -> 4 aggregation planes.
    assert kinds(G) == {"gpu": 64, "nvswitch": 8, "tor": 4, "spine": 8, "agg": 4}
    assert edge_kinds(G) == {"nvlink": 64, "roce": 64 + 4 * 4 + 2 * 4}
    assert G.nodes[17]["rail"] is None
    assert G.has_edge(17, ("tor", 1)) and G.has_edge(33, ("tor", 2))
    tor = G.edges[("tor", 3), ("spine", 1, 2)]  # 16 x 50 GB/s over 4 cluster switches
    assert (tor["bandwidth"], tor["links"]) == (4 * NIC, 4)
    assert not G.has_edge(("tor", 3), ("spine", 0, 2))
    agg = G.edges[("spine", 1, 2), ("agg", 2)]  # 2 racks x 200 GB/s / 7
    assert agg["bandwidth"] == pytest.approx(2 * 4 * NIC / 7)
    assert agg["links"] == math.ceil(8 / 7)
    assert uplink_bw(G, ("tor", 0), "spine") == uplink_bw(G, ("tor", 0), "gpu")


def test_leaf_spine_tor_llama3_scale():
    G = build("leaf_spine_tor", 16384)
    # 2,048 servers, 1,024 racks, 192 racks per 3,072-GPU pod -> 6 pods (last partial).
    assert kinds(G) == {"gpu": 16384, "nvswitch": 2048, "tor": 1024, "spine": 6 * 16,
                        "agg": 16}
    assert G.graph["pods"] == 6
    assert edge_kinds(G)["roce"] == 16384 + 1024 * 16 + 6 * 16
    spine = ("spine", 0, 0)
    assert uplink_bw(G, spine, "agg") == pytest.approx(uplink_bw(G, spine, "tor") / 7)
    check_topology(G)


def test_leaf_spine_tor_single_pod_has_no_agg():
    assert "agg" not in kinds(leaf_spine_tor(4))


# ---- torus -----------------------------------------------------------------------------


def test_torus_degree_and_wraparound():
    G = torus_3d((4, 4, 4))
    assert G.number_of_nodes() == 64 and G.number_of_edges() == 64 * 6 // 2
    assert all(deg == 6 for _, deg in G.degree)
    assert G.has_edge(0, 3) and G.has_edge(0, 12) and G.has_edge(0, 48)  # x, y, z wraps
    assert G.nodes[13]["coords"] == (1, 3, 0)
    assert {d["bandwidth"] for *_, d in G.edges(data=True)} == {100e9}  # 600 GB/s / 6
    assert edge_kinds(G) == {"ici": 192}
    assert G.graph["routing"] == "direct" and G.graph["domain_size"] == 64
    assert (G.nodes[13]["server"], G.nodes[13]["local"]) == (3, 1)
    assert nx.diameter(G) == 2 + 2 + 2


def test_torus_small_dims_and_mesh():
    G = torus_3d((2, 3, 1), gpus_per_node=2)
    # x (size 2): wrap cable doubles the one edge per row -> 3 edges with links 2;
    # y (size 3): a ring of 3 per x column -> 6 edges; z (size 1): none.
    assert G.number_of_edges() == 9
    assert G.edges[0, 1]["links"] == 2 and G.edges[0, 1]["bandwidth"] == 200e9
    assert all(deg == 3 for _, deg in G.degree)
    mesh = torus_3d((4, 4, 4), wraparound=False)
    assert mesh.number_of_edges() == 3 * 16 * 3  # 3 edges per line, 16 lines per axis
    assert not mesh.has_edge(0, 3)


# ---- registry --------------------------------------------------------------------------


def test_build_dispatch():
    assert set(BUILDERS) == {"nvswitch_node", "nvl72", "rail_fat_tree", "leaf_spine_tor",
                             "torus_3d"}
    assert build("rail_fat_tree", 16).number_of_nodes() == 16 + 2 + 8 + 4
    assert build("rail_fat_tree", 16, gpus_per_node=4).graph["gpus_per_node"] == 4
    assert build("nvl72", 144).graph["domain_size"] == 72
    assert build("nvswitch_node", 4).graph["gpus"] == 4
    assert build("torus_3d", 64).graph["dims"] == (4, 4, 4)
    assert build("torus_3d", 8960).graph["dims"] == (16, 20, 28)  # smallest x + y + z
    assert build("torus_3d", 32, dims=(2, 4, 4)).graph["dims"] == (2, 4, 4)
    for name in BUILDERS:
        G = build(name, 144 if name == "nvl72" else 64)
        assert G.graph["name"] == name
        check_topology(G)


@pytest.mark.parametrize(("name", "gpus", "params", "match"), [
    ("fat_tree", 8, {}, "allowed: nvswitch_node, nvl72, rail_fat_tree"),
    ("rail_fat_tree", 12, {}, "gpus=12 is not a multiple of gpus_per_node=8"),
    ("nvl72", 100, {}, "gpus_per_rack=72"),
    ("rail_fat_tree", 16, {"nodes": 2}, "follows from gpus"),
    ("torus_3d", 64, {"dims": (4, 4, 2)}, "32 chips"),
    ("rail_fat_tree", 0, {}, "gpus must be"),
])
def test_build_errors(name, gpus, params, match):
    with pytest.raises(ValueError, match=match):
        build(name, gpus, **params)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: nvswitch_node(nvlink_bandwidth=0), "nvlink_bandwidth"),
    (lambda: rail_fat_tree(0), "nodes"),
    (lambda: rail_fat_tree(4, nic_bandwidth=-1.0), "nic_bandwidth"),
    (lambda: rail_fat_tree(4, nic_bandwidth=float("nan")), "nic_bandwidth"),
    (lambda: rail_fat_tree(4, oversubscription=0), "oversubscription"),
    (lambda: rail_fat_tree(4, su_nodes=40), "80 ports > switch_radix=64"),
    (lambda: rail_fat_tree(4, tiers=4), "tiers"),
    (lambda: rail_fat_tree(4, nic_kind="eth"), "nic_kind"),
    (lambda: rail_fat_tree(4, switch_latency=-1e-6), "switch_latency"),
    (lambda: rail_fat_tree(2.5), "nodes"),
    (lambda: nvl72_rack(gpus_per_rack=70), "not a multiple of gpus_per_node=4"),
    (lambda: nvl72_rack(nic_bandwidth=0), "nic_bandwidth"),
    (lambda: leaf_spine_tor(4, pod_gpus=3000), "pod_gpus=3000"),
    (lambda: leaf_spine_tor(4, agg_oversubscription=0), "agg_oversubscription"),
    (lambda: torus_3d((3, 3, 3)), "not a multiple of gpus_per_node=4"),
    (lambda: torus_3d((0, 4, 4)), r"dims\[0\]"),
    (lambda: torus_3d((4, 4)), "three integers"),
    (lambda: torus_3d(ici_bandwidth=0), "ici_bandwidth"),
])
def test_builder_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---- check_topology --------------------------------------------------------------------


def test_check_topology_rejects_bad_graphs():
    G = rail_fat_tree(2)
    G.add_node(("spine", 9, 9), kind="spine")
    with pytest.raises(ValueError, match="disconnected"):
        check_topology(G)

    G = rail_fat_tree(2)
    G.edges[0, ("leaf", 0, 0)]["bandwidth"] = 0.0
    with pytest.raises(ValueError, match="bandwidth"):
        check_topology(G)

    G = rail_fat_tree(2)
    del G.edges[0, ("leaf", 0, 0)]["latency"]
    with pytest.raises(ValueError, match="latency"):
        check_topology(G)

    G = rail_fat_tree(2)
    G.edges[0, ("leaf", 0, 0)]["kind"] = "ethernet"
    with pytest.raises(ValueError, match="kind"):
        check_topology(G)

    G = nx.relabel_nodes(nvswitch_node(), {7: 8})
    with pytest.raises(ValueError, match=r"not exactly the integers 0\.\.7"):
        check_topology(G)

    G = nvswitch_node()
    G.add_edge(100, ("nvswitch", 0), bandwidth=1.0, latency=0.0, kind="nvlink")
    with pytest.raises(ValueError, match="kind=None"):
        check_topology(G)

    with pytest.raises(ValueError, match="undirected"):
        check_topology(nx.DiGraph(nvswitch_node()))
    with pytest.raises(ValueError, match="no nodes"):
        check_topology(nx.Graph())
