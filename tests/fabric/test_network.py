"""Routing and flows over a topology (simulator/fabric/network.py).

Expected rates are the textbook max-min results, derived by hand in the comments (the
solver itself, on bare incidence matrices: tests/fabric/test_flows.py); the randomised
tests agree with a full re-solve at every completion written here.
"""

from __future__ import annotations

import itertools
import time

import networkx as nx
import numpy as np
import pytest

import simulator.fabric.flows as flows
from simulator.fabric.network import Network, max_min_rates

C = 100e9  # B/s
GB = 1e9


# ---- helpers ----------------------------------------------------------------------------


def link(g: nx.Graph, u, v, bandwidth: float = C, latency: float = 0.0, kind: str = "ib"):
    g.add_edge(u, v, bandwidth=bandwidth, latency=latency, kind=kind)


def chain(n: int, routing: str = "direct", **kw) -> nx.Graph:
    """Chips 0 - 1 - ... - n-1."""
    g = nx.Graph(routing=routing)
    for i in range(n - 1):
        link(g, i, i + 1, **kw)
    return g


def two_tier(leaves: int, per_leaf: int, spines: int, up_bandwidth: float = C) -> nx.Graph:
    """Leaf-spine fat-tree: GPU ``l * per_leaf + i`` on leaf l, every leaf on every spine."""
    g = nx.Graph(routing="switched")
    for leaf in range(leaves):
        for i in range(per_leaf):
            link(g, leaf * per_leaf + i, ("leaf", leaf))
        for s in range(spines):
            link(g, ("leaf", leaf), ("spine", s), bandwidth=up_bandwidth)
    for n in g:
        g.nodes[n]["kind"] = "gpu" if isinstance(n, int) else n[0]
    return g


def rail_fat_tree(nodes: int = 2048, gpn: int = 8, su: int = 32, pod_sus: int = 8,
                  spines_per_pod: int = 32, cores_per_plane: int = 8, nic: float = 50 * GB,
                  nvl: float = 450 * GB) -> nx.Graph:
    """Synthetic rail-optimized 3-tier fat-tree, non-blocking (1:1) at every tier.

    GPU ``node * gpn + rail``; one NVSwitch per node; leaf (su, rail) holds NIC `rail`
    of the su's nodes; spine (pod, j) is meshed with the pod's leaves; spine j of every
    pod is meshed with the cores of plane j.
    """
    g = nx.Graph(routing="switched")
    for n in range(nodes):
        for r in range(gpn):
            g.add_edge(n * gpn + r, ("nvswitch", n), bandwidth=nvl, latency=0.5e-6,
                       kind="nvlink")
            g.add_edge(n * gpn + r, ("leaf", n // su, r), bandwidth=nic, latency=1e-6,
                       kind="ib")
    up = su * nic / spines_per_pod
    for p in range(nodes // su // pod_sus):
        for j in range(spines_per_pod):
            for s in range(p * pod_sus, (p + 1) * pod_sus):
                for r in range(gpn):
                    g.add_edge(("leaf", s, r), ("spine", p, j), bandwidth=up, latency=0.6e-6,
                               kind="ib")
            for c in range(cores_per_plane):
                g.add_edge(("spine", p, j), ("core", j, c), latency=0.6e-6, kind="ib",
                           bandwidth=pod_sus * gpn * up / cores_per_plane)
    for n in g:
        g.nodes[n]["kind"] = "gpu" if isinstance(n, int) else n[0]
    return g


def nodes_on(net: Network, path: np.ndarray) -> list:
    """The nodes a path visits, checking that consecutive links join up."""
    nodes = [net.links[path[0]][0]]
    for lk in path:
        u, v = net.links[lk]
        assert u == nodes[-1]
        nodes.append(v)
    return nodes


def reference_finish(a: np.ndarray, cap: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Fluid completion times: full max-min re-solve at every completion."""
    left, finish, now = sizes.astype(float), np.zeros(len(sizes)), 0.0
    running = np.ones(len(sizes), dtype=bool)
    while running.any():
        r = max_min_rates(a[:, running], cap)
        step = (left[running] / r).min()
        now += step
        idx = np.flatnonzero(running)
        left[idx] -= r * step
        done = idx[left[idx] <= 1e-9 * sizes[idx]]
        finish[done], running[done] = now, False
    return finish


# ---- the network: links, sharing, times -------------------------------------------------


def test_full_duplex_opposite_directions_do_not_share():
    net = Network(chain(2))
    assert net.n_links == 2
    assert net.rates([(0, 1), (1, 0)]) == pytest.approx([C, C])
    assert net.rates([(0, 1), (0, 1)]) == pytest.approx([C / 2, C / 2])


def test_flows_share_the_common_link_of_their_paths():
    # (0, 2) crosses 0->1 and 1->2; (1, 2) crosses 1->2: they share 1->2.
    net = Network(chain(3))
    assert net.rates([(0, 2), (1, 2)]) == pytest.approx([C / 2, C / 2])
    assert net.rates([(0, 1), (1, 2)]) == pytest.approx([C, C])


def test_transfer_times_reshare_when_a_flow_finishes():
    # Sizes S and 2S on one link: both at C/2 until the first has sent S at 2S/C;
    # the second then has S left at the full C: done at 2S/C + S/C = 3S/C.
    lat, size = 2e-6, 1e9
    net = Network(chain(2, latency=lat))
    t = net.transfer_times([(0, 1), (0, 1)], [size, 2 * size])
    assert t == pytest.approx([lat + 2 * size / C, lat + 3 * size / C])


def test_latency_is_summed_over_the_path_and_added_once_per_flow():
    g = nx.Graph(routing="direct")
    for i, lat in enumerate([1e-6, 2e-6, 3e-6]):
        link(g, i, i + 1, latency=lat)
    net = Network(g)
    assert net.path_latency(0, 3) == pytest.approx(6e-6)
    size = 5e8
    t = net.transfer_times([(0, 3), (0, 3), (2, 2)], [size, 0.0, size])
    # the data flow alone (the other has no bytes): 6 us + S/C; zero bytes: latency only;
    # a flow to itself takes nothing.
    assert t == pytest.approx([6e-6 + size / C, 6e-6, 0.0])
    assert net.transfer_times([(0, 3)], size) == pytest.approx([6e-6 + size / C])


def test_many_identical_flows_finish_together():
    # 8 flows on one link, 1 GB each: C/8 each, all done at 8 GB / C.
    net = Network(chain(2))
    t = net.transfer_times([(0, 1)] * 8, 1e9)
    assert t == pytest.approx(np.full(8, 8e9 / C))


@pytest.mark.parametrize("seed", range(8))
def test_transfer_times_agree_with_a_full_resolve_at_every_completion(seed):
    rng = np.random.default_rng(seed)
    net = Network(two_tier(leaves=3, per_leaf=4, spines=2, up_bandwidth=1.5 * C))
    n = 12
    pairs = [(int(a), int(b)) for a, b in rng.integers(0, n, (30, 2)) if a != b]
    sizes = rng.choice([1e8, 2e8, 5e8], len(pairs)) * rng.uniform(0.5, 1.5, len(pairs))
    expect = reference_finish(net.incidence(pairs).toarray(), net.capacity, sizes)
    assert net.transfer_times(pairs, sizes) == pytest.approx(expect, rel=1e-9)


def test_zero_rate_guard_falls_back_to_a_full_resolve(monkeypatch):
    net = Network(two_tier(leaves=2, per_leaf=3, spines=1))
    pairs = [(0, 3), (1, 3), (2, 4), (4, 0)]
    sizes = [1e8, 2e8, 3e8, 4e8]
    expect = net.transfer_times(pairs, sizes)
    real, calls = flows.water_fill, []

    def broken_once(inc, cap, active, rtol):
        calls.append(1)
        rates = real(inc, cap, active, rtol)
        return np.where(active, 0.0, rates) if len(calls) == 2 else rates

    monkeypatch.setattr(flows, "water_fill", broken_once)
    assert net.transfer_times(pairs, sizes) == pytest.approx(expect, rel=1e-12)
    assert len(calls) >= 3


def test_efficiency_scales_capacity_per_link_kind():
    g = nx.Graph(routing="direct")
    link(g, 0, 1, bandwidth=450 * GB, kind="nvlink")
    link(g, 1, 2, bandwidth=50 * GB, kind="ib")
    net = Network(g, efficiency={"nvlink": 0.8})
    assert net.capacity == pytest.approx([360 * GB, 360 * GB, 50 * GB, 50 * GB])
    assert net.rates([(0, 1), (1, 2)]) == pytest.approx([360 * GB, 50 * GB])
    assert list(net.kind) == ["nvlink", "nvlink", "ib", "ib"]


def test_capacity_edits_apply_to_the_next_solve():
    net = Network(chain(2))
    net.capacity[net.link_id(0, 1)] = C / 4  # a degraded link, one direction
    assert net.rates([(0, 1), (1, 0)]) == pytest.approx([C / 4, C])


# ---- routing -----------------------------------------------------------------------------


def transit_graph(routing: str) -> nx.Graph:
    """GPUs 0 - 1 - 2 by NVLink, and 0 - s0 - s1 - s2 - 2 through switches."""
    g = nx.Graph(routing=routing)
    link(g, 0, 1, kind="nvlink")
    link(g, 1, 2, kind="nvlink")
    for u, v in [(0, "s0"), ("s0", "s1"), ("s1", "s2"), ("s2", 2)]:
        link(g, (u,) if isinstance(u, str) else u, (v,) if isinstance(v, str) else v)
    return g


def test_switched_routing_never_transits_an_accelerator():
    net = Network(transit_graph("switched"))
    # 0 - 1 - 2 has 2 hops, but GPU 1 does not forward: 4 hops over the switches.
    assert nodes_on(net, net.path(0, 2)) == [0, ("s0",), ("s1",), ("s2",), 2]
    assert nodes_on(net, net.path(0, 1)) == [0, 1]  # a direct edge is always the route


def test_direct_routing_forwards_through_chips():
    net = Network(transit_graph("direct"))
    assert nodes_on(net, net.path(0, 2)) == [0, 1, 2]
    ring = nx.Graph(routing="direct")
    for i in range(6):
        link(ring, i, (i + 1) % 6, kind="ici")
    net = Network(ring)
    assert nodes_on(net, net.path(0, 2)) == [0, 1, 2]
    assert nodes_on(net, net.path(0, 4)) == [0, 5, 4]
    assert len(net.path(0, 3)) == 3  # either way round
    assert nodes_on(net, net.path(0, 3)) == nodes_on(Network(ring), Network(ring).path(0, 3))


def torus(dims: tuple[int, ...]) -> nx.Graph:
    """A torus with `dims` and `coords` attributes (what enables dimension order)."""
    g = nx.grid_graph(dim=list(reversed(dims)), periodic=True)  # nodes (x, y, ...)
    nodes = sorted(g, key=lambda c: tuple(reversed(c)))
    h = nx.relabel_nodes(g, {c: i for i, c in enumerate(nodes)})
    for u, v in h.edges:
        h.edges[u, v].update(bandwidth=C, latency=1e-6, kind="ici")
    for i, c in enumerate(nodes):
        h.nodes[i]["coords"] = c
    h.graph.update(routing="direct", dims=dims)
    return h


def test_torus_routes_in_dimension_order_along_shortest_paths():
    g = torus((4, 3, 5))
    net = Network(g)
    hops = dict(nx.all_pairs_shortest_path_length(g))
    n = g.number_of_nodes()
    pairs = [(a, b) for a in range(n) for b in range(n)]
    for (a, b), p in zip(pairs, net.paths(pairs), strict=True):
        visited = nodes_on(net, p) if len(p) else [a]
        assert visited[-1] == b and len(p) == hops[a][b]
        # the coordinate that changes never goes back to an earlier dimension
        dims = [int(np.flatnonzero(np.array(g.nodes[u]["coords"]) != g.nodes[v]["coords"])[0])
                for u, v in itertools.pairwise(visited)]
        assert dims == sorted(dims)
    # x first: (0,0,0) -> (1,1,0) goes through (1,0,0) = node 1
    assert nodes_on(net, net.path(0, 1 + 4)) == [0, 1, 5]


@pytest.mark.parametrize("seed", range(6))
def test_switched_routes_are_shortest_over_switches(seed):
    rng = np.random.default_rng(seed)
    sw = nx.gnm_random_graph(12, 20, seed=seed)
    g = nx.Graph(routing="switched")
    for u, v in sw.edges:
        link(g, ("sw", u), ("sw", v))
    for a in range(10):
        for s in rng.choice(12, size=rng.integers(1, 3), replace=False):
            link(g, a, ("sw", int(s)))
    link(g, 0, 1, kind="nvlink")
    net = Network(g)
    switches = [n for n in g if not isinstance(n, int)]
    for a in range(10):
        for b in range(10):
            sub = g.subgraph([*switches, a, b])
            try:
                want = nx.shortest_path_length(sub, a, b)
            except nx.NetworkXNoPath:
                with pytest.raises(ValueError, match="no path"):
                    net.path(a, b)
                continue
            p = net.path(a, b)
            assert len(p) == want
            if p.size:
                visited = nodes_on(net, p)
                assert visited[0] == a and visited[-1] == b
                assert not any(isinstance(x, int) for x in visited[1:-1])


def test_the_widest_access_wins_a_tie():
    # NVL72-like: GPUs 0 and 1 reach each other in 2 hops by the NVSwitch (900 GB/s)
    # and by their shared rail leaf (50 GB/s). The NVSwitch carries the flow.
    g = nx.Graph(routing="switched")
    for gpu in (0, 1):
        link(g, gpu, ("leaf", 0), bandwidth=50 * GB)
        link(g, gpu, ("nvswitch", 0), bandwidth=900 * GB, kind="nvlink")
    net = Network(g)
    assert nodes_on(net, net.path(0, 1)) == [0, ("nvswitch", 0), 1]
    assert net.rates([(0, 1)]) == pytest.approx([900 * GB])


def test_ecmp_spreads_flows_between_two_leaves_over_all_spines():
    # 4 GPUs per leaf, 4 spines. Source-mod-k at the first switch: GPU i of leaf 0
    # leaves by spine i (in graph order), whatever it sends to.
    k = 4
    g = two_tier(leaves=2, per_leaf=k, spines=k)
    net = Network(g)
    for dst in ([4, 5, 6, 7], [7, 6, 5, 4], [5, 5, 5, 5]):
        pairs = list(zip(range(k), dst, strict=True))
        spines = [nodes_on(net, p)[2] for p in net.paths(pairs)]
        assert spines == [("spine", i) for i in range(k)]
    # one flow per GPU, each on its own spine: every flow at the full rate
    assert net.rates([(i, k + i) for i in range(k)]) == pytest.approx(np.full(k, C))
    # 4 GPUs over 2 spines: two each
    net2 = Network(two_tier(leaves=2, per_leaf=k, spines=2))
    used = [nodes_on(net2, p)[2] for p in net2.paths([(i, k + i) for i in range(k)])]
    assert sorted(used.count(s) for s in set(used)) == [2, 2]


def test_routes_are_deterministic_and_independent_of_query_order():
    g = rail_fat_tree(nodes=64, su=8, pod_sus=2, spines_per_pod=8, cores_per_plane=4)
    rng = np.random.default_rng(1)
    pairs = [tuple(map(int, p)) for p in rng.integers(0, 512, (300, 2))]
    first = [p.tolist() for p in Network(g).paths(pairs)]
    net = Network(g)
    backwards = [p.tolist() for p in net.paths(pairs[::-1])][::-1]
    one_by_one = [net.path(*p).tolist() for p in pairs]
    assert first == backwards == one_by_one


def test_oversubscribed_spine_halves_cross_leaf_rates_only():
    # 4 leaves x 4 GPUs, every link C. 1:1 = 4 spines (4 x C up per leaf for 4 GPUs);
    # 2:1 = 2 spines. Shift: GPU i of leaf l -> GPU i of leaf l+1, one flow per GPU.
    # Each leaf sends 4 flows up; at 1:1 one per uplink -> C; at 2:1 two per uplink
    # -> C/2 (and symmetrically two per downlink). Flows inside a leaf cross only the
    # GPU links: C in both cases.
    cross = [(lf * 4 + i, (lf + 1) % 4 * 4 + i) for lf in range(4) for i in range(4)]
    local = [(lf * 4 + i, lf * 4 + (i + 1) % 4) for lf in range(4) for i in range(4)]
    full, half = Network(two_tier(4, 4, spines=4)), Network(two_tier(4, 4, spines=2))
    assert full.rates(cross) == pytest.approx(np.full(16, C))
    assert half.rates(cross) == pytest.approx(np.full(16, C / 2))
    assert full.rates(local) == pytest.approx(np.full(16, C))
    assert half.rates(local) == pytest.approx(np.full(16, C))
    assert half.transfer_times(cross, 1e9) == pytest.approx(np.full(16, 2e9 / C))


def test_paths_take_pairs_as_an_array_and_return_read_only_cached_routes():
    net = Network(two_tier(2, 2, 2))
    pairs = np.array([[0, 2], [1, 3], [0, 2], [2, 2]])
    paths = net.paths(pairs)
    assert paths[0] is paths[2] and len(paths[3]) == 0
    assert not paths[0].flags.writeable
    a = net.incidence(pairs)
    # three routed flows of 4 links each (GPU-leaf, leaf-spine, spine-leaf, leaf-GPU)
    assert a.shape == (net.n_links, 4) and a.sum() == 3 * 4


# ---- errors --------------------------------------------------------------------------------


def test_no_path_raises():
    g = chain(2)
    link(g, 2, 3)
    with pytest.raises(ValueError, match="no path from 0 to 3"):
        Network(g).path(0, 3)
    g = two_tier(2, 2, 0)  # no spine: the leaves are islands
    with pytest.raises(ValueError, match="no path from 0 to 2"):
        Network(g).rates([(0, 1), (0, 2)])


def test_bad_graphs_and_arguments_raise():
    g = chain(3)
    g.edges[1, 2]["bandwidth"] = 0.0
    with pytest.raises(ValueError, match="non-positive capacity"):
        Network(g)
    with pytest.raises(ValueError, match="efficiency"):
        Network(chain(2), efficiency={"ib": -1.0})
    g = chain(2)
    del g.edges[0, 1]["latency"]
    with pytest.raises(ValueError, match="latency"):
        Network(g)
    with pytest.raises(ValueError, match="routing"):
        Network(chain(2, routing="magic"))
    with pytest.raises(ValueError, match="undirected"):
        Network(nx.DiGraph(chain(2)))
    net = Network(two_tier(2, 2, 1))
    with pytest.raises(ValueError, match="not an accelerator"):
        net.path(0, ("leaf", 1))
    with pytest.raises(ValueError, match="not an accelerator"):
        net.path(0, 99)
    with pytest.raises(ValueError, match="sizes"):
        net.transfer_times([(0, 2)], [-1.0])
    net.capacity[0] = 0.0
    with pytest.raises(ValueError, match="non-positive capacity"):
        net.rates([(0, 2)])


# ---- scale -----------------------------------------------------------------------------


def test_16k_gpu_rail_fat_tree_routes_and_solves_fast():
    g = rail_fat_tree()  # 16,384 GPUs, 1,024 fabric switches + 2,048 NVSwitches
    net = Network(g)
    n = 16384
    ring = [(i, (i + 8) % n) for i in range(n)]  # next node, same rail (a DP ring)
    shift = [(i, (i + n // 2) % n) for i in range(n)]  # every flow crosses the cores
    start = time.perf_counter()
    rates = net.rates(ring)
    times = net.transfer_times(shift, 1e8)
    elapsed = time.perf_counter() - start
    # Non-blocking fabric, one flow per NIC: every flow at the NIC rate.
    assert rates == pytest.approx(np.full(n, 50 * GB))
    # 6 hops (NIC, leaf-spine, spine-core, core-spine, spine-leaf, NIC): 2 us + 4 x 0.6 us
    assert times == pytest.approx(np.full(n, 4.4e-6 + 1e8 / (50 * GB)))
    assert {len(p) for p in net.paths(shift)} == {6}
    assert elapsed < 5.0  # typically ~0.4 s; a per-flow graph search would take minutes


# ---- with the real topology builders (when present) --------------------------------------


def test_topology_builders_route_as_designed():
    fat_tree = pytest.importorskip("simulator.fabric.topology_fat_tree")
    torus = pytest.importorskip("simulator.fabric.topology_torus")
    g = fat_tree.rail_fat_tree(nodes=64)  # 2 tiers
    net = Network(g)
    n = g.graph["gpus"]
    nic = 50 * GB
    assert net.rates([(i, (i + 8) % n) for i in range(n)]) == pytest.approx(np.full(n, nic))
    intra = [(i, i // 8 * 8 + (i + 1) % 8) for i in range(n)]
    assert net.rates(intra) == pytest.approx(np.full(n, 450 * GB))
    t = torus.torus_3d((4, 4, 2))
    net = Network(t)
    hops = dict(nx.all_pairs_shortest_path_length(t))
    pairs = [(a, b) for a in range(32) for b in range(32)]
    assert [len(p) for p in net.paths(pairs)] == [hops[a][b] for a, b in pairs]
