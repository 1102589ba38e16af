"""Routing over a topology graph: one deterministic path per (src, dst) pair.

`Router` computes the routes `simulator.fabric.network.Network` hands to the flow solver. The
graph follows `simulator.fabric.topology_graph`'s conventions; links are the network's directed
links (``2 i``: u -> v of edge i in ``graph.edges()`` order, ``2 i + 1``: v -> u).
Hop distances and the ECMP walk are in `simulator.fabric.routing_hops`, dimension-order routing
in `simulator.fabric.routing_dor`.

Single path per (src, dst) pair, deterministic across runs and processes, shortest by hop
count, computed for many pairs at once with NumPy and cached per pair (no graph search
per flow).
The built-in switched fabrics (rail fat-trees, NVL72 racks, the ToR/pod cluster) follow
the same rules in closed form, without a graph, in `simulator.fabric.plan_network`.

"switched" graphs (accelerators never forward): the direct accelerator-accelerator edge
if there is one, else src -> s -> ... -> t -> dst over switches only, s and t switches
attached to src and dst. Hop distances to each destination switch t come from one
breadth-first search per t, computed lazily and cached. ECMP rule:

1. Attachments: among the (s, t) pairs with the fewest hops, keep those whose access
   links are widest (min of the two capacities: inside an NVL72 rack the NVSwitch, not
   the rail leaf that ties with it), then take number ``(src + dst) % n`` in graph order.
2. Hops: at each switch with n > 1 next hops (neighbours one hop closer to t, in graph
   order) take next hop ``y % n`` with ``y = a + A * q``, then ``q = y // n``. At s,
   ``a`` is the rank of src among the accelerators attached to s (sorted by id), ``A``
   their number, and ``q`` starts as the destination's port number (its rank at t plus
   the accelerator ports of the switches of t's `kind` before t in graph order). At a
   later switch, ``a`` is the index of the switch the flow came from among the current
   one's neighbours one hop farther from t, and ``A`` their number.

At the first switch this is source-mod-k (accelerator i of a leaf always leaves by the
same uplink, so every uplink gets its share whenever every accelerator sends one flow);
higher up, flows arriving from the A lower switches are interleaved before the
destination digits, so a spine spreads them over all its uplinks. On the rail-optimized
fat-trees of `simulator.fabric.topology` (2 or 3 tiers, 1:1 or 2:1) rings, shifts and pipeline
exchanges get the fabric's full (or exactly oversubscribed) rate; a random permutation
sees ECMP collisions, as on a real statically routed fabric.

"direct" graphs (chips forward): if the graph has a ``dims`` attribute and ``coords`` on
every node (a torus or mesh, as `torus_3d` builds), dimension-order routing: first
coordinate first, the short way round each ring, the two equal halves of a ring chosen
by one bit of a stable hash (SplitMix64) of the pair. Otherwise shortest paths from one
breadth-first search per destination, with the hop rule above starting from ``a = 0,
A = 1, q = splitmix64(pair)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import networkx as nx
import numpy as np

from simulator.fabric.routing_dor import DimensionOrder
from simulator.fabric.routing_hops import KEY_MOD, HopTable, split_rows, splitmix64

__all__ = ["ROUTING_MODES", "Router", "as_pairs", "is_accelerator"]

ROUTING_MODES = ("switched", "direct")


def is_accelerator(node: object) -> bool:
    """Accelerators are the integer nodes of a topology graph."""
    return isinstance(node, Integral) and not isinstance(node, bool)


class Router:
    """Routes between the endpoints of a graph, computed in batches and cached per pair.

    Parameters
    ----------
    graph : networkx.Graph
    routing : str
        "switched" (accelerators never forward) or "direct" (every node forwards).
    links : sequence of (u, v)
        The directed links, by id.
    link_id : dict
        ``(u, v) -> id`` of every directed link.
    width : numpy.ndarray
        Capacity per directed link at construction (ties between attachments go to the
        widest access links; later capacity edits do not reroute).
    """

    def __init__(self, graph: nx.Graph, routing: str, links: Sequence[tuple],
                 link_id: dict, width: np.ndarray) -> None:
        self.graph = graph
        self.routing = routing
        self._link_id = link_id
        self._width = width
        self._paths: dict[tuple, np.ndarray] = {}
        switched = routing == "switched"
        routers = [n for n in graph if not (switched and is_accelerator(n))]
        self._router_nodes = routers
        self._router_index = index = {n: i for i, n in enumerate(routers)}
        adjacent = sorted((index[x], index[y], link_id[(x, y)])
                          for u, v in graph.edges() if u in index and v in index
                          for x, y in ((u, v), (v, u)))
        self._hops = HopTable(adjacent, len(routers))
        if not switched:
            self._endpoint_index = index
            self._dor = DimensionOrder.of(graph, routers, index, links)
            return
        self._attach()

    def _attach(self) -> None:
        """Switched graphs: accelerators, their attachment switches, ranks and ports."""
        g, routers, index = self.graph, self._router_nodes, self._router_index
        accs = sorted(n for n in g if is_accelerator(n))
        self._endpoint_index = {a: i for i, a in enumerate(accs)}
        attached: list[list] = [[] for _ in routers]
        for a in accs:
            for s in g.neighbors(a):
                if s in index:
                    attached[index[s]].append(a)
        per_acc: list[list[tuple[int, int, int, int]]] = [[] for _ in accs]
        self._port_base = np.zeros(len(routers), dtype=np.int64)  # first port, per kind
        self._ports = np.array([len(m) for m in attached], dtype=np.int64)
        ports_so_far: dict[object, int] = {}
        for s, members in enumerate(attached):
            node = routers[s]
            kind = g.nodes[node].get("kind")
            self._port_base[s] = ports_so_far.get(kind, 0)
            ports_so_far[kind] = self._port_base[s] + len(members)
            for rank, a in enumerate(members):  # members are sorted by id
                per_acc[self._endpoint_index[a]].append(
                    (s, self._link_id[(a, node)], self._link_id[(node, a)], rank))
        width = max((len(x) for x in per_acc), default=0)
        att = np.full((len(accs), max(width, 1), 4), -1, dtype=np.int64)
        for i, x in enumerate(per_acc):
            if x:
                att[i, :len(x)] = sorted(x)
        self._att = att  # [accelerator, k] -> (switch, up link, down link, rank)

    def paths(self, pairs: Sequence[tuple]) -> list[np.ndarray]:
        """The route of each ``(src, dst)`` pair as read-only link ids, in order (empty
        if ``src == dst``); routes not yet cached are computed together."""
        cache = self._paths
        missing = [p for p in dict.fromkeys(pairs) if p not in cache]
        if missing:
            cache.update(zip(missing, self._route(missing), strict=True))
        return [cache[p] for p in pairs]

    def _route(self, pairs: list[tuple]) -> list[np.ndarray]:
        index = self._endpoint_index
        try:
            ends = np.array([(index[s], index[d]) for s, d in pairs],
                            dtype=np.int64).reshape(-1, 2)
        except (KeyError, TypeError):
            bad = next(n for p in pairs for n in p if not _known(n, index))
            what = "an accelerator (integer node)" if self.routing == "switched" else "a node"
            raise ValueError(f"flow endpoint {bad!r} is not {what} of the graph") from None
        empty = np.zeros(0, dtype=np.int32)
        empty.setflags(write=False)
        out: list[np.ndarray | None] = [None] * len(pairs)
        todo = []
        for i, p in enumerate(pairs):
            if p[0] == p[1]:
                out[i] = empty
            else:
                link = self._link_id.get(p)
                if link is None:
                    todo.append(i)
                else:
                    out[i] = np.array([link], dtype=np.int32)
                    out[i].setflags(write=False)
        if todo:
            rows = np.array(todo)
            if self.routing == "switched":
                routed = self._route_switched(ends[rows, 0], ends[rows, 1], rows, pairs)
            else:
                routed = self._route_direct(ends[rows, 0], ends[rows, 1], rows, pairs)
            for i, r in zip(todo, routed, strict=True):
                out[i] = r
        return out

    def _route_direct(self, s, t, rows, pairs) -> list[np.ndarray]:
        if self._dor is not None:
            return self._dor.route(s, t)
        dist = self._hops.distances(s, t)
        self._check_reachable(dist >= 0, rows, pairs)
        key = splitmix64(s * len(self._router_nodes) + t) % KEY_MOD
        hops = self._hops.walk(s, t, dist, key, np.zeros_like(key), np.ones_like(key))
        return split_rows(hops, dist)

    def _route_switched(self, ia, ib, rows, pairs) -> list[np.ndarray]:
        att_a, att_b = self._att[ia], self._att[ib]  # (F, m, 4)
        m = att_a.shape[1]
        s = np.repeat(att_a[:, :, 0], m, axis=1)  # every (source, destination) attachment
        t = np.tile(att_b[:, :, 0], (1, m))
        valid = (s >= 0) & (t >= 0)
        dist = np.full(s.shape, -1, dtype=np.int64)
        dist[valid] = self._hops.distances(s[valid], t[valid])
        self._check_reachable((dist >= 0).any(axis=1), rows, pairs)
        best = np.where(dist >= 0, dist, np.iinfo(np.int64).max).min(axis=1)
        tie = dist == best[:, None]
        # among equal hop counts, the widest access links (an NVSwitch over a NIC)
        up, down = np.repeat(att_a[:, :, 1], m, axis=1), np.tile(att_b[:, :, 2], (1, m))
        width = np.where(tie, np.minimum(self._width[up], self._width[down]), -1.0)
        tie &= width == width.max(axis=1)[:, None]
        src = np.array([pairs[r][0] for r in rows], dtype=np.int64)
        dst = np.array([pairs[r][1] for r in rows], dtype=np.int64)
        pick = (src + dst) % tie.sum(axis=1)  # which tie, in graph order
        col = np.argmax(np.cumsum(tie, axis=1) > pick[:, None], axis=1)
        f = np.arange(len(rows))
        sa, tb = att_a[f, col // m], att_b[f, col % m]
        s, t = sa[:, 0], tb[:, 0]
        port = self._port_base[t] + tb[:, 3]
        hops = self._hops.walk(s, t, best, port, sa[:, 3], self._ports[s])
        full = np.concatenate([sa[:, 1:2], hops, np.full((len(f), 1), -1)], axis=1)
        full[f, best + 1] = tb[:, 2]
        return split_rows(full, best + 2)

    def _check_reachable(self, ok: np.ndarray, rows, pairs) -> None:
        if not ok.all():
            src, dst = pairs[rows[np.argmin(ok)]]
            how = (" over switches (accelerators never forward in a 'switched' graph)"
                   if self.routing == "switched" else ": the graph is disconnected")
            raise ValueError(f"no path from {src!r} to {dst!r}{how}")


def _known(node, index: dict) -> bool:
    try:
        return node in index
    except TypeError:  # unhashable
        return False


def as_pairs(pairs) -> list[tuple]:
    """``(src, dst)`` tuples from a sequence of pairs or an (F, 2) array."""
    if isinstance(pairs, np.ndarray):
        return [tuple(p) for p in pairs.reshape(-1, 2).tolist()]
    return [(s, d) for s, d in pairs]
