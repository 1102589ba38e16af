"""Collectives over the flow-level network, against closed forms (the published nccl-tests
figures are in tests/validation/test_nccl_tests.py).

Every expected value is derived by hand in the comments: the alpha-beta ring formulas and
nccl-tests' busbw factors of shared/REFERENCE.md ("Collectives"), the construction rules
of `simulator.fabric.topology_graph` (edge bandwidths and latencies) and the routing rules of
`simulator.fabric.network` (a ring neighbour's flow is alone on its links unless stated).

Per-step latency ``a`` of a ring step = latency of the flow's path (sum of its edges'
``latency``, counted once per step, as `Network.transfer_times` does) +
``CollectiveModel.step_latency_s`` (added once per step; the default protocol of a
`CollectiveModel` is the pure flow model, `simulator.fabric.protocols.FLOW`).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import networkx as nx
import numpy as np
import pytest

from simulator import load_scenario
from simulator.fabric import stepmodel
from simulator.fabric.collectives import (
    BUS_FACTOR,
    OPS,
    CollectiveModel,
    Layout,
    bandwidths,
)
from simulator.fabric.network import Network
from simulator.fabric.topology_fat_tree import rail_fat_tree
from simulator.fabric.topology_graph import NIC_LATENCY, NVLINK_LATENCY, SWITCH_LATENCY
from simulator.fabric.topology_scaleup import nvswitch_node

GiB, MiB = 2**30, 2**20
NVL = 450e9  # H100 NVLink4 per GPU per direction (REFERENCE.md "Accelerators")
NIC = 50e9  # ConnectX-7 NDR 400 Gb/s (REFERENCE.md "Networks")
STEP = 3e-6  # a step latency distinct from every edge latency, to tell the terms apart
EXACT = 1e-12  # relative: the simulator's sums vs the closed form, floating point only


def ring_time(op: str, p: int, n: float, a: float, b: float) -> float:
    """REFERENCE.md: all-reduce 2(p-1)a + 2(p-1)/p n b; RS / AG (p-1)a + (p-1)/p n b."""
    if op == "all_reduce":
        return 2 * (p - 1) * a + 2 * (p - 1) / p * n * b
    return (p - 1) * a + (p - 1) / p * n * b


def latency_term(op: str, p: int, a: float) -> float:
    return (2 if op == "all_reduce" else 1) * (p - 1) * a


RING_OPS = ("all_reduce", "reduce_scatter", "all_gather")


# ---- 1. ring collectives = alpha-beta, exactly (efficiency 1) ---------------------------


def direct_ring(p: int, bw: float, lat: float) -> nx.Graph:
    """p chips in a cycle, chips forward (routing "direct"), one edge kind "ici"."""
    G = nx.cycle_graph(p)
    nx.set_node_attributes(G, "gpu", "kind")
    for r in G:
        G.nodes[r].update(server=r, local=0, domain=0, rail=None)
    nx.set_edge_attributes(G, bw, "bandwidth")
    nx.set_edge_attributes(G, lat, "latency")
    nx.set_edge_attributes(G, "ici", "kind")
    nx.set_edge_attributes(G, 1, "links")
    G.graph.update(name="hand_ring", gpus=p, gpus_per_node=1, domain_size=p, routing="direct")
    return G


def switched_ring(p: int, nic_bw: float, trunk_bw: float) -> nx.Graph:
    """GPU i on its own ToR i; the ToRs form a cycle (trunks wider than the NICs).

    GPU i -> GPU i+1 is GPU -> ToR i -> ToR i+1 -> GPU (3 hops; for p >= 3 the direct
    trunk is the only shortest path), each directed link carrying one ring flow.
    """
    G = nx.Graph(name="hand_switched_ring", gpus=p, gpus_per_node=1, domain_size=1,
                 routing="switched")
    for r in range(p):
        G.add_node(r, kind="gpu", server=r, local=0, domain=r, rail=None)
        G.add_node(("tor", r), kind="tor")
        G.add_edge(r, ("tor", r), bandwidth=nic_bw, latency=NIC_LATENCY, kind="roce", links=1)
    for r in range(p):
        G.add_edge(("tor", r), ("tor", (r + 1) % p), bandwidth=trunk_bw,
                   latency=SWITCH_LATENCY, kind="roce", links=1)
    return G


CASES = {
    # one NVSwitch: path GPU -> switch -> GPU = 2 NVLink edges of 0.5 us; b = 1 / 450 GB/s
    "nvswitch_node p=8": (lambda: nvswitch_node(8), 8, 2 * NVLINK_LATENCY, NVL),
    "nvswitch_node p=4": (lambda: nvswitch_node(4, nvlink_bandwidth=900e9), 4,
                          2 * NVLINK_LATENCY, 900e9),
    # a cycle of chips: the neighbour is one edge away; a = that edge's latency
    "direct ring p=5": (lambda: direct_ring(5, 100e9, 1e-6), 5, 1e-6, 100e9),
    "direct ring p=8": (lambda: direct_ring(8, 100e9, 2e-6), 8, 2e-6, 100e9),
    # ToRs in a cycle: 2 NIC edges + 1 trunk; the bottleneck is the NIC (trunk wider)
    "switched ring p=6": (lambda: switched_ring(6, NIC, 2 * NIC), 6,
                          2 * NIC_LATENCY + SWITCH_LATENCY, NIC),
}


@pytest.mark.parametrize("op", RING_OPS)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_ring_equals_alpha_beta(case, op):
    make, p, path_latency, bw = case
    net = Network(make())  # no efficiency: every kind at 1.0
    model = CollectiveModel(net, Layout(dp=p, gpus_per_node=1), step_latency_s=STEP)
    ring = np.arange(p)[None, :]
    # the path latency a flow sees is the sum of its edges' latencies
    assert net.path_latency(0, 1) == pytest.approx(path_latency, rel=EXACT)
    a, b = path_latency + STEP, 1 / bw
    for n in (1 * MiB, 64 * MiB, 8 * GiB, 3_000_001.0):
        t = model.time_groups(op, ring, n, "ring")
        assert t == pytest.approx(ring_time(op, p, n, a, b), rel=EXACT)
        # busbw is the link bandwidth once the latency term is taken out ...
        _, busbw = bandwidths(op, p, n, t - latency_term(op, p, a))
        assert busbw == pytest.approx(bw, rel=EXACT)
    # ... and with the latency in, busbw = 1 / (b + p a / n) for every ring op: at 8 GiB
    # within p a / (n b) < 0.2% of the link rate (worst case here: 8 x 4 us x 450 GB/s)
    n = 8 * GiB
    _, busbw = bandwidths(op, p, n, model.time_groups(op, ring, n, "ring"))
    assert busbw == pytest.approx(1 / (b + p * a / n), rel=EXACT)
    assert busbw == pytest.approx(bw, rel=2e-3) and busbw < bw


def test_auto_inside_one_nvswitch_nvls_for_all_reduce_ring_for_the_rest():
    """NCCL's default on an NVSwitch node: NVLS for all-reduce, ring for reduce-scatter
    and all-gather. NVLS (module docstring): S into the switch and back at 0.61 of the
    NVLink rate, one step: 2 x 0.5 us + step + S / (450 GB/s x 0.61); at 256 MiB that
    beats the ring's 2 (7/8) S / 450 GB/s (1.75 / 450 = 1 / 257 > 1 / 274.5)."""
    model = CollectiveModel(Network(nvswitch_node(8)), Layout(tp=8), step_latency_s=STEP)
    n = 256 * MiB
    a, b = 2 * NVLINK_LATENCY + STEP, 1 / NVL
    group = np.arange(8)[None]
    for op in ("reduce_scatter", "all_gather"):
        assert model.time(op, "tp", n) == pytest.approx(ring_time(op, 8, n, a, b), rel=EXACT)
        assert model.time(op, "tp", n) == model.time_groups(op, group, n, "ring")
        assert model.best(op, group, n).algorithm == "ring"
    nvls = 2 * NVLINK_LATENCY + STEP + n / (NVL * 0.61)
    assert model.time("all_reduce", "tp", n) == pytest.approx(nvls, rel=EXACT)
    assert model.best("all_reduce", group, n).algorithm == "nvls"
    assert model.time_groups("all_reduce", group, n, "ring") == pytest.approx(
        ring_time("all_reduce", 8, n, a, b), rel=EXACT)


def test_all_to_all_and_send_recv_on_one_switch():
    """All-to-all: p-1 flows of S/p share each GPU's uplink: (p-1)/p S b + a, so busbw
    (factor (p-1)/p) is the link rate. Send/recv: one flow of S per stage, S b + a."""
    p, n = 8, 512 * MiB
    model = CollectiveModel(Network(nvswitch_node(p)), Layout(pp=p), step_latency_s=STEP)
    a, b = 2 * NVLINK_LATENCY + STEP, 1 / NVL
    group = np.arange(p)[None, :]
    t = model.time_groups("all_to_all", group, n)
    assert t == pytest.approx(a + (p - 1) / p * n * b, rel=EXACT)
    assert bandwidths("all_to_all", p, n, t - a)[1] == pytest.approx(NVL, rel=EXACT)
    t = model.time_groups("send_recv", group, n)
    assert t == pytest.approx(a + n * b, rel=EXACT)
    assert model.time("send_recv", "pp", n) == t


# ---- 2. nccl-tests conventions ----------------------------------------------------------


@pytest.mark.parametrize("p", [2, 3, 8, 128, 16384])
def test_busbw_factors_follow_nccl_tests(p):
    # REFERENCE.md: all-reduce 2(n-1)/n; RS, AG, all-to-all (n-1)/n; point-to-point 1
    expected = {"all_reduce": 2 * (p - 1) / p, "reduce_scatter": (p - 1) / p,
                "all_gather": (p - 1) / p, "all_to_all": (p - 1) / p, "send_recv": 1.0}
    assert set(BUS_FACTOR) == set(OPS) == set(expected)
    size, seconds = 3 * GiB, 0.25
    for op, factor in expected.items():
        assert BUS_FACTOR[op](p) == pytest.approx(factor, rel=EXACT)
        algbw, busbw = bandwidths(op, p, size, seconds)
        assert algbw == pytest.approx(size / seconds, rel=EXACT)  # algbw = S / t
        assert busbw == pytest.approx(size / seconds * factor, rel=EXACT)


def test_bandwidths_of_a_zero_time_are_infinite():
    assert bandwidths("all_reduce", 8, 1.0, 0.0) == (math.inf, math.inf)


def test_trivial_groups_take_no_time():
    model = CollectiveModel(Network(nvswitch_node(8)), Layout(tp=8))
    assert model.time_groups("all_reduce", np.arange(8).reshape(8, 1), GiB) == 0.0
    assert model.time_groups("all_reduce", np.arange(8)[None], 0) == 0.0


# ---- 3. oversubscription: rings across the spine vs rings under one leaf ----------------
#
# rail_fat_tree defaults (DGX SuperPOD): 32-node SUs, 8 rails, 50 GB/s NICs, 64-port
# switches. 128 nodes = 4 SUs -> 32 leaves, 2 tiers. A leaf has 32 downlinks (one per
# server of its SU) and uplink bandwidth 32 x 50 GB/s / r: 1,600 GB/s at 1:1, 800 GB/s at
# 2:1. A ring taking node j of every SU on rail `rail` sends one flow out of each of its
# leaves (every hop leaf -> spine -> leaf). With all 32 such rings per rail at once a leaf
# sends 32 flows = 1,600 GB/s of NIC rate: exactly its uplink at 1:1 (each flow gets
# 50 GB/s), twice its uplink at 2:1 (each flow gets 25 GB/s). 16 rings (j < 16) only
# fill a 2:1 uplink: not slowed. Destination-mod-k ECMP spreads the j's over the spines
# evenly (32 flows on 16 spine edges of 100 GB/s at 1:1, on 8 of 100 GB/s at 2:1).

SU, GPN, SUS = 32, 8, 4
CROSS_LATENCY = 2 * NIC_LATENCY + 2 * SWITCH_LATENCY  # GPU-leaf-spine-leaf-GPU
LEAF_LATENCY = 2 * NIC_LATENCY  # GPU-leaf-GPU


def spine_rings(nodes_per_su: int) -> np.ndarray:
    """Rings of 4 ranks, node j of each SU, on every rail, for j < nodes_per_su."""
    return np.array([[(j + k * SU) * GPN + rail for k in range(SUS)]
                     for rail in range(GPN) for j in range(nodes_per_su)])


def leaf_rings() -> np.ndarray:
    """Rings of 32 ranks: one rail, every server of one SU (never leave the leaf)."""
    return np.array([[(s * SU + j) * GPN + rail for j in range(SU)]
                     for rail in range(GPN) for s in range(SUS)])


@pytest.fixture(scope="module")
def fat_trees() -> dict[float, CollectiveModel]:
    return {r: CollectiveModel(Network(rail_fat_tree(SU * SUS, oversubscription=r)),
                               Layout(tp=GPN, dp=SU * SUS), step_latency_s=STEP)
            for r in (1.0, 2.0)}


def test_fat_tree_construction_as_assumed(fat_trees):
    for r, model in fat_trees.items():
        G = model.graph
        leaf = ("leaf", 1, 3)
        up = sum(d["bandwidth"] for _, v, d in G.edges(leaf, data=True)
                 if G.nodes[v]["kind"] == "spine")
        down = sum(d["bandwidth"] for _, v, d in G.edges(leaf, data=True)
                   if G.nodes[v]["kind"] == "gpu")
        assert down == pytest.approx(SU * NIC) and up == pytest.approx(SU * NIC / r)
        assert G.graph["tiers"] == 2
        path = model.network.path(0, SU * GPN)  # node 0 -> node 32, rail 0: via a spine
        assert len(path) == 4


@pytest.mark.parametrize("op", RING_OPS)
def test_two_to_one_halves_rings_that_cross_the_spine(fat_trees, op):
    n = 64 * MiB
    full, over = fat_trees[1.0], fat_trees[2.0]
    groups = spine_rings(SU)  # 8 rails x 32 rings: every leaf uplink saturated at 2:1
    a = CROSS_LATENCY + STEP
    t1 = full.time_groups(op, groups, n, "ring")
    t2 = over.time_groups(op, groups, n, "ring")
    assert t1 == pytest.approx(ring_time(op, SUS, n, a, 1 / NIC), rel=EXACT)
    assert t2 == pytest.approx(ring_time(op, SUS, n, a, 2 / NIC), rel=EXACT)
    # bandwidth term exactly halved, hence busbw (latency taken out) exactly halved
    bw1 = bandwidths(op, SUS, n, t1 - latency_term(op, SUS, a))[1]
    bw2 = bandwidths(op, SUS, n, t2 - latency_term(op, SUS, a))[1]
    assert bw1 == pytest.approx(NIC, rel=EXACT) and bw2 == pytest.approx(NIC / 2, rel=EXACT)
    # and with the latency in, at a large size, half to 0.1%
    big = 4 * GiB
    ratio = (over.time_groups(op, groups, big, "ring")
             / full.time_groups(op, groups, big, "ring"))
    assert ratio == pytest.approx(2.0, rel=1e-3)


def test_half_as_many_spine_rings_fit_a_two_to_one_uplink(fat_trees):
    n = 64 * MiB
    groups = spine_rings(SU // 2)  # 16 flows per leaf = 800 GB/s = the 2:1 uplink
    expected = ring_time("all_reduce", SUS, n, CROSS_LATENCY + STEP, 1 / NIC)
    for model in fat_trees.values():
        assert model.time_groups("all_reduce", groups, n, "ring") == pytest.approx(
            expected, rel=EXACT)


@pytest.mark.parametrize("op", RING_OPS)
def test_rings_under_one_leaf_are_not_slowed(fat_trees, op):
    n = 64 * MiB
    groups = leaf_rings()  # all 32 leaves busy at once
    expected = ring_time(op, SU, n, LEAF_LATENCY + STEP, 1 / NIC)
    for model in fat_trees.values():
        assert model.time_groups(op, groups, n, "ring") == pytest.approx(expected, rel=EXACT)


# ---- 4. hierarchical all-reduce: bytes per NIC ------------------------------------------
#
# k = 4 nodes of g = 8 GPUs in SUs of 2 nodes (so the rail rings cross the spine), one
# all-reduce over all 32 ranks: auto picks hierarchical (several ranks in each of several
# domains). Reduce-scatter in each node (7 steps of S/8 over NVLink), all-reduce of S/g
# on each rail ring of k ranks (2(k-1) steps of S/(g k) through the NICs), all-gather in
# each node. Every NIC sends and receives 2(k-1)/k x S/g; every NVLink port 2(g-1)/g x S.


@pytest.fixture(scope="module")
def four_nodes() -> CollectiveModel:
    return CollectiveModel(Network(rail_fat_tree(4, su_nodes=2)), Layout(dp=32),
                           step_latency_s=STEP)


def link_bytes(model: CollectiveModel, phases) -> dict[int, float]:
    carried: dict[int, float] = defaultdict(float)
    for ph in phases:
        sizes = np.broadcast_to(ph.size, ph.src.shape).tolist()
        for s, d, size in zip(ph.src.tolist(), ph.dst.tolist(), sizes, strict=True):
            for link in model.network.path(s, d).tolist():
                carried[link] += size * ph.repeat
    return carried


def test_hierarchical_bytes_per_nic(four_nodes):
    model, k, g, n = four_nodes, 4, 8, 96 * MiB
    G, net = model.graph, model.network
    group = np.arange(k * g)[None, :]
    assert model.choose("all_reduce", group, "hierarchical") == "hierarchical"
    assert "hierarchical" not in model.candidates("all_reduce", group, "auto")  # not NCCL's
    carried = link_bytes(model, model.phases("all_reduce", group, n, "hierarchical"))
    nic_bytes = 2 * (k - 1) / k * n / g
    nvl_bytes = 2 * (g - 1) / g * n
    for r in range(k * g):
        nic = [v for v in G[r] if G.edges[r, v]["kind"] != "nvlink"]
        nvl = [v for v in G[r] if G.edges[r, v]["kind"] == "nvlink"]
        assert len(nic) == 1 and len(nvl) == 1
        for port, expected in ((nic[0], nic_bytes), (nvl[0], nvl_bytes)):
            assert carried[net.link_id(r, port)] == pytest.approx(expected, rel=EXACT)
            assert carried[net.link_id(port, r)] == pytest.approx(expected, rel=EXACT)


def test_hierarchical_time_closed_form(four_nodes):
    # RS and AG in a node: (g-1)(2 x 0.5 us + step) + (g-1)/g S / 450 GB/s each;
    # rail rings node 0 -> 1 -> 2 -> 3 -> 0 over SUs {0, 1}, {2, 3}: two hops under a
    # leaf (2 x 1 us), two across the spine (3.2 us); a chunk's latency is the sum of
    # the hops it crosses, so a step costs their mean, 2.6 us, + step; each NIC carries
    # one flow: 2(k-1)(2.6 us + step) + 2(k-1)/k (S/g) / 50 GB/s.
    k, g, n = 4, 8, 96 * MiB
    intra = ring_time("reduce_scatter", g, n, 2 * NVLINK_LATENCY + STEP, 1 / NVL)
    hop = (LEAF_LATENCY + CROSS_LATENCY) / 2
    inter = ring_time("all_reduce", k, n / g, hop + STEP, 1 / NIC)
    t = four_nodes.time_groups("all_reduce", np.arange(k * g)[None, :], n, "hierarchical")
    assert t == pytest.approx(2 * intra + inter, rel=EXACT)


# ---- 5. channels: a ring spread over every NIC of a node (rail-aligned, PXN) ------------
#
# The four-node fabric above, one ring all-reduce over all 32 ranks (k = 4 nodes of
# g = 8). Channel c (of C) visits the 8 ranks of a node and leaves it through the NIC of
# local rank c mod 8 (the node's last rank hands over on NVLink: PXN). Per step every
# channel moves S/(p C): inside a node the channels' hops add up to the 8-cycle at S/p
# per step, so every NVLink port carries 2(p-1)/p S in all; the NIC of local rank r
# carries (channels on rail r) / C x 2(p-1)/p S. One channel: every byte leaving a node
# goes through one NIC; one channel per rail: each NIC carries 1/8 of it.


def channel_model(four_nodes, channels):
    return CollectiveModel(four_nodes.network, four_nodes.layout, step_latency_s=STEP,
                           channels=channels)


@pytest.mark.parametrize("channels", [1, 3, 8, None])
def test_ring_channels_bytes_per_nic_and_nvlink(four_nodes, channels):
    k, g, n = 4, 8, 96 * MiB
    p = k * g
    model = channel_model(four_nodes, channels)
    G, net = model.graph, model.network
    group = np.arange(p)[None, :]
    carried = link_bytes(model, model.phases("all_reduce", group, n, "ring"))
    c = channels or g
    per_rail = np.bincount(np.arange(c) % g, minlength=g)
    for r in range(p):
        nic = next(v for v in G[r] if G.edges[r, v]["kind"] == "ib")
        nvl = next(v for v in G[r] if G.edges[r, v]["kind"] == "nvlink")
        expected_nic = per_rail[r % g] / c * 2 * (p - 1) / p * n
        for a, b in ((r, nic), (nic, r)):
            assert carried.get(net.link_id(a, b), 0.0) == pytest.approx(expected_nic,
                                                                        rel=EXACT, abs=1e-6)
        for a, b in ((r, nvl), (nvl, r)):
            assert carried[net.link_id(a, b)] == pytest.approx(2 * (p - 1) / p * n, rel=EXACT)


def test_ring_one_channel_per_rail_closed_form(four_nodes):
    """Per step: NVLink flows of S/p at 450 GB/s, NIC flows of S/(8p) at 50 GB/s: the NIC
    is the bottleneck (1/400 > 1/450 per S/p). Latency: a chunk crosses 28 hops in a node
    for every 4 across nodes (share k/p = 1/8): 7/8 (2 x 0.5 us + step) + 1/8 (mean of
    the rail hops: two under a leaf 2 us, two over the spine 3.2 us, + step). busbw -> 8
    NICs x 50 GB/s = 400 GB/s, 8x one channel's 50 GB/s."""
    k, g = 4, 8
    p = k * g
    model = channel_model(four_nodes, None)
    group = np.arange(p)[None, :]
    a = 7 / 8 * (2 * NVLINK_LATENCY + STEP) + 1 / 8 * ((LEAF_LATENCY + CROSS_LATENCY) / 2 + STEP)
    for n in (1 * MiB, 96 * MiB, 4 * GiB):
        t = model.time_groups("all_reduce", group, n, "ring")
        assert t == pytest.approx(2 * (p - 1) * (a + n / (p * g * NIC)), rel=EXACT)
    _, busbw = bandwidths("all_reduce", p, 4 * GiB, t)
    assert busbw == pytest.approx(g * NIC, rel=0.02) and busbw < g * NIC  # latency: 1.2%
    one = channel_model(four_nodes, 1).time_groups("all_reduce", group, 4 * GiB, "ring")
    assert bandwidths("all_reduce", p, 4 * GiB, one)[1] == pytest.approx(NIC, rel=0.02)


@pytest.fixture(scope="module")
def oversubscribed() -> Network:
    """8 nodes in SUs of 2 at 2:1: rings across SUs share the spine."""
    return Network(rail_fat_tree(8, su_nodes=2, oversubscription=2.0))


@pytest.mark.parametrize("layout,dim", [(Layout(dp=64), "dp"), (Layout(tp=2, dp=32), "dp"),
                                        (Layout(tp=4, dp=16), "dp")])
@pytest.mark.parametrize("op", RING_OPS)
def test_more_channels_never_lower_busbw_below_one_channels(oversubscribed, layout, dim, op):
    """Property: C channels spread the same bytes over at least as many NICs as one
    channel, on any fabric, so busbw(C) >= busbw(1), for every C and size."""
    models = {c: CollectiveModel(oversubscribed, layout, step_latency_s=STEP, channels=c)
              for c in range(1, 17)}
    groups = layout.groups(dim)
    for n in (64 * 2**10, 8 * MiB, 1 * GiB):
        one = models[1].time_groups(op, groups, n, "ring")
        for c, model in models.items():
            assert model.time_groups(op, groups, n, "ring") <= one * (1 + 1e-9), (c, n)


# ---- 6. NVLS-tree, CollNet, protocols ------------------------------------------------------


@pytest.fixture(scope="module")
def two_nodes() -> Network:
    return Network(rail_fat_tree(2))


def test_nvls_tree_two_nodes_closed_form(two_nodes):
    """NVLS in each node (S at 450 x 0.61) pipelined with a rail tree between the two
    nodes: NCCL's double binary tree on 2 ranks is 1 -> 0 and 0 -> 1, each carrying S/(2g)
    both ways, so each NIC sends S/g = S/8 at 50 GB/s. Latency: the NVLS step (2 x 0.5
    us + step) + 2 ceil(log2 2) tree steps of (wire: 2 NIC edges under one leaf, 2 us +
    step). The NVLS part is the slower (1/274.5 GB/s > 1/400 GB/s per byte)."""
    model = CollectiveModel(two_nodes, Layout(dp=16), step_latency_s=STEP)
    group = np.arange(16)[None, :]
    assert model.choose("all_reduce", group, "nvls") == "nvls_tree"  # nvls across nodes
    for n in (1 * MiB, 1 * GiB):
        latency = 2 * NVLINK_LATENCY + STEP + 2 * (LEAF_LATENCY + STEP)
        expected = latency + max(n / (NVL * 0.61), n / (8 * NIC))
        assert model.time_groups("all_reduce", group, n, "nvls") == pytest.approx(
            expected, rel=EXACT)


def test_collnet_off_by_default_and_closed_form_on_infiniband(two_nodes):
    """CollNet needs NCCL_COLLNET_ENABLE=1 (collnet=True) and SHARP switches (InfiniBand).
    Closed form: NVLS in each node pipelined with each NIC sending S/g into the SHARP
    tree at SHARP_EFFICIENCY of its rate; latency: the NVLS step + one network step
    (wire 2 us + step)."""
    from simulator.fabric.collective_pricing import SHARP_EFFICIENCY

    group = np.arange(16)[None, :]
    off = CollectiveModel(two_nodes, Layout(dp=16), step_latency_s=STEP)
    assert "collnet" not in off.candidates("all_reduce", group, "auto")
    with pytest.raises(ValueError, match="CollNet is off"):
        off.choose("all_reduce", group, "collnet")
    on = CollectiveModel(two_nodes, Layout(dp=16), step_latency_s=STEP, collnet=True)
    n = 1 * GiB
    expected = (2 * NVLINK_LATENCY + STEP + LEAF_LATENCY + STEP
                + max(n / (NVL * 0.61), n / 8 / (NIC * SHARP_EFFICIENCY)))
    assert on.time_groups("all_reduce", group, n, "collnet") == pytest.approx(expected,
                                                                               rel=EXACT)
    roce = CollectiveModel(Network(rail_fat_tree(2, nic_kind="roce")), Layout(dp=16),
                           collnet=True)
    with pytest.raises(ValueError, match="not InfiniBand"):
        roce.choose("all_reduce", group, "collnet")


def test_nvls_needs_an_nvswitch():
    """A torus (TPU) has no NVSwitch: no NVLS, not even offered by auto."""
    from simulator.fabric.topology_torus import torus_3d

    model = CollectiveModel(Network(torus_3d((2, 2, 2))), Layout(dp=8, gpus_per_node=4))
    group = np.arange(8)[None, :]
    assert model.candidates("all_reduce", group, "auto") == ["ring", "tree"]
    for algorithm in ("nvls", "nvls_tree"):
        with pytest.raises(ValueError, match="does not apply"):
            model.choose("all_reduce", group, algorithm)


def test_protocols_latency_bound_small_messages(h100_node):
    """NCCL's constants (simulator.fabric.protocols, from src/graph/tuning.cc) on one 8x H100
    node, ring all-reduce, 14 steps of S/8: LL costs 6.6 us once + 14 x max(0.6 us,
    wire 2 x 0.5 us + 1 us step) + the bytes at half of 450 x 0.82 GB/s; Simple 8.4 us +
    14 x max(3.4 us, 2 us) + the bytes at the full rate. LL wins at 4 KiB, Simple at
    1 GiB, and busbw never falls as the size grows."""
    group = h100_node.layout.groups("tp")
    rate = NVL * 0.82
    for n, protocol in ((4 * 2**10, "ll"), (GiB, "simple")):
        choice = h100_node.best("all_reduce", group, n, "ring")
        assert choice.protocol == protocol
    n = 4 * 2**10
    ll = 6.6e-6 + 14 * 2e-6 + 14 * (n / 8) / (rate * 0.5)
    assert h100_node.time_groups("all_reduce", group, n, "ring", "ll") == pytest.approx(
        ll, rel=EXACT)
    n = GiB
    simple = 8.4e-6 + 14 * 3.4e-6 + 14 * (n / 8) / rate
    assert h100_node.time_groups("all_reduce", group, n, "ring", "simple") == pytest.approx(
        simple, rel=EXACT)
    sizes = [2**e for e in range(3, 34)]
    busbw = [bandwidths("all_reduce", 8, s, h100_node.time_groups("all_reduce", group, s))[1]
             for s in sizes]
    assert all(b2 >= b1 for b1, b2 in itertools.pairwise(busbw))


# ---- 7. one 8x H100 node, the default efficiencies ------------------------------------


@pytest.fixture(scope="module")
def h100_node() -> CollectiveModel:
    scenario = load_scenario(["cluster.gpus=8"])
    return stepmodel.collective_model(scenario.fabric, 8, Layout(tp=8, gpus_per_node=8))


def test_a_rings_reduce_scatter_and_all_gather_share_one_flow_solve(monkeypatch):
    """A ring's reduce-scatter and all-gather move the same flows (p - 1 steps each):
    the network solves them once, and the all-gather then costs what it costs alone."""
    network = Network(rail_fat_tree(4, su_nodes=2))
    solves = []
    solve = network.transfer_parts
    monkeypatch.setattr(network, "transfer_parts",
                        lambda pairs, sizes: solves.append(len(pairs)) or solve(pairs, sizes))
    model = CollectiveModel(network, Layout(dp=32), step_latency_s=STEP)
    model.time("reduce_scatter", "dp", GiB, "ring")
    gathered = model.time("all_gather", "dp", GiB, "ring")
    assert len(solves) == 1
    alone = CollectiveModel(Network(rail_fat_tree(4, su_nodes=2)), Layout(dp=32),
                            step_latency_s=STEP)
    assert gathered == alone.time("all_gather", "dp", GiB, "ring")
