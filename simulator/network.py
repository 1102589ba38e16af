"""Routing over a topology, and the flow-level network built on it.

`Network` routes flows (below) and hands the link x flow incidence to `simulator.flows`,
which computes max-min fair rates and completion times.

A `Network` wraps a topology graph (the conventions of `simulator.topology`: an
undirected `nx.Graph` whose edges are full-duplex links with `bandwidth` in B/s per
direction, `latency` in s and a link `kind`; accelerators are the integer nodes, switches
are tuples; graph attribute `routing` is "switched" or "direct"). Every edge gives two
directed links, link ``2 i`` (u -> v, in ``graph.edges()`` order) and ``2 i + 1``
(v -> u), each a resource of capacity ``bandwidth * efficiency[kind]``.

Routing
-------
Single path per (src, dst) pair, deterministic across runs and processes, shortest by hop
count, computed for many pairs at once with NumPy and cached per pair (no graph search
per flow).

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
fat-trees of `simulator.topology` (2 or 3 tiers, 1:1 or 2:1) rings, shifts and pipeline
exchanges get the fabric's full (or exactly oversubscribed) rate; a random permutation
sees ECMP collisions, as on a real statically routed fabric.

"direct" graphs (chips forward): if the graph has a ``dims`` attribute and ``coords`` on
every node (a torus or mesh, as `torus_3d` builds), dimension-order routing: first
coordinate first, the short way round each ring, the two equal halves of a ring chosen
by one bit of a stable hash (SplitMix64) of the pair. Otherwise shortest paths from one
breadth-first search per destination, with the hop rule above starting from ``a = 0,
A = 1, q = splitmix64(pair)``.

Solver
------
Max-min fairness by progressive filling, vectorised over sparse incidence structures and
parallel: every link whose fair share is the smallest on the paths of all its unfrozen
flows saturates in the same round, so the rounds follow the longest chain of
bottleneck dependencies rather than the number of distinct rates. `Network.transfer_times`
runs event by event over flow completions; after an event only the flows at least as
fast as the slowest finished one, and connected to the finished ones through shared
links, are re-solved (the others provably keep their rates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral

import networkx as nx
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from simulator.flows import (
    RTOL,
    Incidence,
    check_capacity,
    finish_times,
    gather,
    max_min_rates,
    water_fill,
)

__all__ = ["ROUTING_MODES", "Network", "max_min_rates"]

ROUTING_MODES = ("switched", "direct")


_ROW_CHUNK = 256  # destinations per batched breadth-first search
_KEY_MOD = 1 << 40  # ECMP keys stay small (no int64 overflow on long paths)


def _is_accelerator(node: object) -> bool:
    return isinstance(node, Integral) and not isinstance(node, bool)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 (a stable integer hash), as non-negative int64."""
    x = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(2)).astype(np.int64)


# ---- the network ------------------------------------------------------------------------


class Network:
    """Routes and flow-level transfer times over a topology graph.

    Routes (see the module docstring for the rules) are computed on first use, for all
    the new pairs of a call at once, and cached per (src, dst) pair.

    Parameters
    ----------
    graph : networkx.Graph
        The topology (undirected; every edge a full-duplex link with attributes
        `bandwidth` in B/s per direction, `latency` in s and `kind`). Graph attribute
        `routing` is "switched" or "direct"; if absent it is "direct" when every node is
        an accelerator and "switched" otherwise.
    efficiency : mapping of str to float, optional
        Achievable fraction of the nominal bandwidth per link kind (e.g.
        ``{"nvlink": 0.82}``); kinds not listed get 1.0.

    Attributes
    ----------
    graph : networkx.Graph
    routing : str
        "switched" or "direct".
    n_links : int
        Number of directed links (twice the number of edges).
    links : list of tuple
        ``links[i] = (u, v)``: directed link ``i`` goes from u to v.
    capacity : numpy.ndarray
        B/s per directed link after efficiency. May be edited in place (a degraded link);
        it is checked again at every solve. Routes never change.
    latency : numpy.ndarray
        Seconds per directed link.
    kind : numpy.ndarray
        Link kind per directed link (object array).

    Raises
    ------
    ValueError
        On a directed or multi-graph, an unknown routing mode, a missing or invalid edge
        attribute, an invalid efficiency, or a link with non-positive capacity.
    """

    def __init__(self, graph: nx.Graph, efficiency: Mapping[str, float] | None = None) -> None:
        if graph.is_directed() or graph.is_multigraph():
            raise ValueError("Network needs an undirected nx.Graph (one full-duplex link "
                             "per edge)")
        self.graph = graph
        self.efficiency = dict(efficiency or {})
        for k, e in self.efficiency.items():
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e < math.inf:
                raise ValueError(f"efficiency[{k!r}]={e!r}: must be a positive number")
        routing = graph.graph.get("routing")
        if routing is None:
            routing = "direct" if all(_is_accelerator(n) for n in graph) else "switched"
        if routing not in ROUTING_MODES:
            raise ValueError(f"graph routing {routing!r}: expected one of "
                             f"{', '.join(ROUTING_MODES)}")
        self.routing: str = routing
        self._build_links()
        self._build_routers()
        self._paths: dict[tuple, np.ndarray] = {}

    # -- construction --

    def _build_links(self) -> None:
        edges = list(self.graph.edges(data=True))
        self.n_links: int = 2 * len(edges)
        self.links: list[tuple] = []
        self._link_id: dict[tuple, int] = {}
        bandwidth = np.empty(len(edges))
        latency = np.empty(len(edges))
        kinds = []
        for i, (u, v, d) in enumerate(edges):
            try:
                bandwidth[i] = float(d["bandwidth"])
                latency[i] = float(d["latency"])
            except KeyError as err:
                raise ValueError(f"edge {u!r}-{v!r} has no {err.args[0]!r} attribute") from None
            if not 0 <= latency[i] < math.inf:
                raise ValueError(f"edge {u!r}-{v!r} has latency {latency[i]!r}; must be a "
                                 "finite number >= 0")
            kinds.append(d.get("kind"))
            self.links += [(u, v), (v, u)]
            self._link_id[(u, v)] = 2 * i
            self._link_id[(v, u)] = 2 * i + 1
        eff = np.array([self.efficiency.get(k, 1.0) for k in kinds], dtype=float)
        cap = bandwidth * eff
        bad = np.flatnonzero(~(cap > 0))
        if bad.size:
            u, v, d = edges[bad[0]]
            raise ValueError(f"edge {u!r}-{v!r} ({d.get('kind')}) has non-positive capacity: "
                             f"bandwidth {d['bandwidth']!r} x efficiency {eff[bad[0]]!r}")
        self.capacity: np.ndarray = np.repeat(cap, 2)
        self._width = self.capacity.copy()  # for routing: later capacity edits don't reroute
        self.latency: np.ndarray = np.repeat(latency, 2)
        self.kind: np.ndarray = np.repeat(np.array(kinds, dtype=object), 2)

    def _build_routers(self) -> None:
        """Index the forwarding nodes ("routers"), their adjacency and the attachments."""
        g = self.graph
        switched = self.routing == "switched"
        routers = [n for n in g if not (switched and _is_accelerator(n))]
        n_r = len(routers)
        self._router_nodes = routers
        self._router_index = index = {n: i for i, n in enumerate(routers)}
        adjacent = sorted((index[x], index[y], self._link_id[(x, y)])
                          for u, v in g.edges() if u in index and v in index
                          for x, y in ((u, v), (v, u)))
        adj = np.array(adjacent, dtype=np.int64).reshape(-1, 3)
        self._r_ptr = np.searchsorted(adj[:, 0], np.arange(n_r + 1))  # CSR by router
        self._r_next, self._r_link = adj[:, 1], adj[:, 2]
        self._r_graph = sparse.csr_array((np.ones(len(adj)), self._r_next, self._r_ptr),
                                         shape=(n_r, n_r))
        _, comp = csgraph.connected_components(self._r_graph, directed=False)
        self._component = comp
        # hop distances to destination routers: row _slot[t] of _dist (lazily filled)
        self._slot = np.full(n_r, -1, dtype=np.int64)
        dtype = np.int16 if n_r < 2**15 - 1 else np.int32
        self._dist = np.empty((0, n_r), dtype=dtype)
        self._n_rows = 0
        if not switched:
            self._endpoint_index = index
            self._dor = self._build_dor()
            return
        # switched: accelerators, their attachment switches, ranks and port numbers
        accs = sorted(n for n in g if _is_accelerator(n))
        self._endpoint_index = {a: i for i, a in enumerate(accs)}
        attached: list[list] = [[] for _ in routers]
        for a in accs:
            for s in g.neighbors(a):
                if s in index:
                    attached[index[s]].append(a)
        per_acc: list[list[tuple[int, int, int, int]]] = [[] for _ in accs]
        self._port_base = np.zeros(n_r, dtype=np.int64)  # first port number, per kind
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

    # -- routing --

    def link_id(self, u, v) -> int:
        """Id of the directed link u -> v (ValueError if the graph has no such edge)."""
        try:
            return self._link_id[(u, v)]
        except KeyError:
            raise ValueError(f"no link {u!r} -> {v!r} in the graph") from None

    def path(self, src: int, dst: int) -> np.ndarray:
        """Directed link ids from `src` to `dst`, in order (empty if ``src == dst``).

        Cached; the returned array is read-only. Raises ValueError if there is no path.
        """
        return self.paths([(src, dst)])[0]

    def paths(self, pairs: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """`path` of each ``(src, dst)`` pair (a sequence of pairs or an (F, 2) array).

        Routes not yet cached are computed together, vectorised over the pairs.
        """
        pairs = _as_pairs(pairs)
        cache = self._paths
        missing = [p for p in dict.fromkeys(pairs) if p not in cache]
        if missing:
            cache.update(zip(missing, self._route(missing), strict=True))
        return [cache[p] for p in pairs]

    def path_latency(self, src: int, dst: int) -> float:
        """Sum of the link latencies along the route (s)."""
        return float(self.latency[self.path(src, dst)].sum())

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

    def _build_dor(self) -> tuple | None:
        """Dimension-order routing tables if the graph is a torus or mesh with coordinates.

        Needs graph attribute ``dims`` and node attribute ``coords`` (as `torus_3d`
        builds) and every edge joining neighbours along one dimension. Returns ``(dims,
        coords, step, wraps)`` with ``step[node, dim, 0 / 1]`` the link one step in the
        + / - direction (-1 if none), or None to route by breadth-first search instead.
        """
        g, nodes = self.graph, self._router_nodes
        try:
            dims = np.array([int(d) for d in g.graph["dims"]], dtype=np.int64)
            coords = np.array([tuple(g.nodes[n]["coords"]) for n in nodes], dtype=np.int64)
        except (KeyError, TypeError, ValueError):
            return None
        if (dims.ndim != 1 or coords.shape != (len(nodes), dims.size) or (dims < 1).any()
                or (coords < 0).any() or (coords >= dims).any()):
            return None
        stride = np.cumprod(np.concatenate([[1], dims[:-1]]))
        if len(nodes) != int(np.prod(dims)) or np.unique(coords @ stride).size != len(nodes):
            return None
        index = self._router_index
        tail = np.array([index[u] for u, _ in self.links], dtype=np.int64)
        head = np.array([index[v] for _, v in self.links], dtype=np.int64)
        diff = (coords[head] - coords[tail]) % dims
        if len(self.links) and not ((diff != 0).sum(axis=1) == 1).all():
            return None
        dim = np.argmax(diff != 0, axis=1)
        d = diff[np.arange(len(diff)), dim]
        step = np.full((len(nodes), dims.size, 2), -1, dtype=np.int64)
        for direction, ok in ((0, d == 1), (1, d == dims[dim] - 1)):
            slot = (tail[ok], dim[ok], direction)
            if np.unique(tail[ok] * dims.size + dim[ok]).size != ok.sum():
                return None  # two links for one step: not a plain torus or mesh
            step[slot] = np.flatnonzero(ok)
        inner_up = coords < dims - 1
        inner_down = coords > 0
        if ((step[:, :, 0] < 0) & inner_up).any() or ((step[:, :, 1] < 0) & inner_down).any():
            return None  # a missing mesh link
        wraps = np.array([(step[coords[:, k] == dims[k] - 1, k, 0] >= 0).all()
                          and (step[coords[:, k] == 0, k, 1] >= 0).all()
                          for k in range(dims.size)])
        self._head = head
        return dims, coords, step, wraps

    def _route_dor(self, s, t) -> list[np.ndarray]:
        """Dimension order (first coordinate first), the short way round each ring;
        a ring's two equal halves are chosen by one bit of the pair's hash per dimension."""
        dims, coords, step, wraps = self._dor
        delta = (coords[t] - coords[s]) % dims
        back = (dims - delta) % dims
        bit = (_splitmix64(s * len(self._router_nodes) + t)[:, None]
               >> np.arange(dims.size)) & 1
        minus = np.where(wraps, (back < delta) | ((back == delta) & (bit == 1)),
                         coords[t] < coords[s])
        left = np.where(wraps, np.minimum(delta, back), np.abs(coords[t] - coords[s]))
        dist = left.sum(axis=1)
        length = int(dist.max()) if dist.size else 0
        out = np.full((len(s), length), -1, dtype=np.int64)
        cur = s.copy()
        for h in range(length):
            go = np.flatnonzero(dist > h)
            k = np.argmax(left[go] > 0, axis=1)
            link = step[cur[go], k, minus[go, k].astype(np.int64)]
            out[go, h] = link
            cur[go] = self._head[link]
            left[go, k] -= 1
        return _split_rows(out, dist)

    def _route_direct(self, s, t, rows, pairs) -> list[np.ndarray]:
        if self._dor is not None:
            return self._route_dor(s, t)
        dist = self._distances(s, t)
        self._check_reachable(dist >= 0, rows, pairs)
        key = _splitmix64(s * len(self._router_nodes) + t) % _KEY_MOD
        hops = self._walk(s, t, dist, key, np.zeros_like(key), np.ones_like(key))
        return _split_rows(hops, dist)

    def _route_switched(self, ia, ib, rows, pairs) -> list[np.ndarray]:
        att_a, att_b = self._att[ia], self._att[ib]  # (F, m, 4)
        m = att_a.shape[1]
        s = np.repeat(att_a[:, :, 0], m, axis=1)  # every (source, destination) attachment
        t = np.tile(att_b[:, :, 0], (1, m))
        valid = (s >= 0) & (t >= 0)
        dist = np.full(s.shape, -1, dtype=np.int64)
        dist[valid] = self._distances(s[valid], t[valid])
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
        hops = self._walk(s, t, best, port, sa[:, 3], self._ports[s])
        full = np.concatenate([sa[:, 1:2], hops, np.full((len(f), 1), -1)], axis=1)
        full[f, best + 1] = tb[:, 2]
        return _split_rows(full, best + 2)

    def _check_reachable(self, ok: np.ndarray, rows, pairs) -> None:
        if not ok.all():
            src, dst = pairs[rows[np.argmin(ok)]]
            how = (" over switches (accelerators never forward in a 'switched' graph)"
                   if self.routing == "switched" else ": the graph is disconnected")
            raise ValueError(f"no path from {src!r} to {dst!r}{how}")

    def _distances(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Hops between routers s[i] and t[i] (-1 if unreachable); fills missing rows."""
        same = self._component[s] == self._component[t]
        far = same & (s != t)
        self._ensure_rows(np.unique(t[far]))
        dist = np.where(same, 0, -1).astype(np.int64)
        dist[far] = self._dist[self._slot[t[far]], s[far]]
        return dist

    def _ensure_rows(self, targets: np.ndarray) -> None:
        need = targets[self._slot[targets] < 0]
        if need.size == 0:
            return
        n_r = len(self._router_nodes)
        if self._n_rows + need.size > self._dist.shape[0]:
            grown = np.empty((max(2 * self._dist.shape[0], self._n_rows + need.size), n_r),
                             dtype=self._dist.dtype)
            grown[:self._n_rows] = self._dist[:self._n_rows]
            self._dist = grown
        for i in range(0, need.size, _ROW_CHUNK):
            chunk = need[i:i + _ROW_CHUNK]
            d = csgraph.shortest_path(self._r_graph, method="D", directed=False,
                                      unweighted=True, indices=chunk)
            d[~np.isfinite(d)] = -1
            slots = np.arange(self._n_rows, self._n_rows + chunk.size)
            self._dist[slots] = d
            self._slot[chunk] = slots
            self._n_rows += chunk.size

    def _walk(self, s: np.ndarray, t: np.ndarray, dist: np.ndarray, key: np.ndarray,
              came: np.ndarray, fan_in: np.ndarray) -> np.ndarray:
        """Links of the routes router s[i] -> t[i] (the ECMP rule of the module docstring).

        At each hop with n > 1 candidates (neighbours one hop closer to t, in graph
        order): ``y = came + fan_in * key``, take candidate ``y % n``, ``key = y // n``.
        `came` / `fan_in` start as given (the source's rank at s / the ports of s) and then
        are the index of the previous router among the current one's neighbours one hop
        farther from t / their number.

        Returns an (F, max hops) array padded with -1.
        """
        n = len(s)
        length = int(dist.max()) if n else 0
        out = np.full((n, length), -1, dtype=np.int64)
        cur, key, came, fan_in = s.copy(), key.copy(), came.copy(), fan_in.copy()
        prev = np.full(n, -1, dtype=np.int64)
        slot = self._slot[t]
        n_rows, n_r = max(self._n_rows, 1), len(self._router_nodes)
        for h in range(length):
            go = np.flatnonzero(dist > h)
            # neighbours closer to / farther from t depend on (router, t) only: once per pair
            pair, inv = np.unique(cur[go] * n_rows + slot[go], return_inverse=True)
            at, row = pair // n_rows, pair % n_rows
            pos = gather(self._r_ptr, at)
            owner = np.repeat(np.arange(pair.size), self._r_ptr[at + 1] - self._r_ptr[at])
            step = self._dist[row[owner], self._r_next[pos]] - self._dist[row, at][owner]
            if h > 0:  # where the flow came from, among the neighbours farther from t
                farther = step == 1
                listed = owner[farther] * n_r + self._r_next[pos[farther]]  # sorted
                n_far = np.bincount(owner[farther], minlength=pair.size)
                came[go] = (np.searchsorted(listed, inv * n_r + prev[go])
                            - (np.cumsum(n_far) - n_far)[inv])
                fan_in[go] = n_far[inv]
            closer = step == -1
            candidates = pos[closer]  # grouped by pair, in graph order within a pair
            n_choice = np.bincount(owner[closer], minlength=pair.size)
            first = np.cumsum(n_choice) - n_choice
            n_choice = n_choice[inv]
            y = came[go] + fan_in[go] * key[go]
            pick = candidates[first[inv] + y % n_choice]
            key[go] = np.where(n_choice > 1, (y // n_choice) % _KEY_MOD, key[go])
            out[go, h] = self._r_link[pick]
            prev[go] = cur[go]
            cur[go] = self._r_next[pick]
        return out

    # -- the solver --

    def incidence(self, pairs: Sequence[tuple[int, int]]) -> sparse.csc_array:
        """Links x flows matrix of the routes of `pairs` (1 where a flow crosses a link)."""
        inc = Incidence.from_paths(self.paths(pairs), self.n_links)
        return sparse.csc_array((inc.f_weight, inc.f_link, inc.f_ptr),
                                shape=(self.n_links, inc.n_flows))

    def rates(self, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        """Max-min fair rate (B/s) of each of the concurrent flows `pairs`.

        A flow with ``src == dst`` has rate ``inf``.
        """
        check_capacity(self.capacity)
        inc = Incidence.from_paths(self.paths(pairs), self.n_links)
        return water_fill(inc, self.capacity, np.diff(inc.f_ptr) > 0, RTOL)

    def transfer_times(self, pairs: Sequence[tuple[int, int]], sizes) -> np.ndarray:
        """Finish time (s) of each flow, all starting at t = 0.

        Each flow takes its path latency (the sum over its links, counted once, as in
        the alpha-beta model) plus the time to move its bytes at max-min fair rates that
        are recomputed every time flows finish (progressive filling, event by event).
        A flow with ``src == dst`` takes 0; a flow of 0 bytes takes its path latency.

        Cost: one max-min solve, then per completion event a few vector operations over
        the running flows and a re-solve of the flows at least as fast as the slowest
        one that finished. Equal sizes: a handful of events that re-solve little. Very
        unequal sizes: up to one event, and a large re-solve, per flow.

        Parameters
        ----------
        pairs : sequence of (src, dst), or an (F, 2) integer array
        sizes : float or array-like, shape (F,)
            Bytes of each flow (a scalar applies to all).

        Returns
        -------
        numpy.ndarray, shape (F,)

        Raises
        ------
        ValueError
            No route for a pair, a negative or non-finite size, a non-positive capacity.
        """
        latency, transfer = self.transfer_parts(pairs, sizes)
        return latency + transfer

    def transfer_parts(self, pairs: Sequence[tuple[int, int]],
                       sizes) -> tuple[np.ndarray, np.ndarray]:
        """`transfer_times` in its two parts: (path latency, time moving the bytes).

        The second part is linear in the sizes: all sizes x k gives every flow the same
        rates between the same events, so every transfer time x k.
        """
        check_capacity(self.capacity)
        inc = Incidence.from_paths(self.paths(pairs), self.n_links)
        n = inc.n_flows
        remaining = np.array(np.broadcast_to(np.asarray(sizes, dtype=float), (n,)))
        if not np.all((remaining >= 0) & np.isfinite(remaining)):
            raise ValueError("flow sizes must be finite numbers of bytes >= 0")
        routed = np.diff(inc.f_ptr) > 0
        owner = np.repeat(np.arange(n), np.diff(inc.f_ptr))
        latency = np.bincount(owner, weights=inc.f_weight * self.latency[inc.f_link],
                              minlength=n)
        finish = finish_times(inc, self.capacity, remaining, routed & (remaining > 0), RTOL)
        return np.where(routed, latency, 0.0), np.where(routed, finish, 0.0)


def _known(node, index: dict) -> bool:
    try:
        return node in index
    except TypeError:  # unhashable
        return False


def _as_pairs(pairs) -> list[tuple]:
    if isinstance(pairs, np.ndarray):
        return [tuple(p) for p in pairs.reshape(-1, 2).tolist()]
    return [(s, d) for s, d in pairs]


def _split_rows(matrix: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Row i of `matrix`, its first lengths[i] entries, as read-only int32 arrays."""
    keep = np.arange(matrix.shape[1]) < lengths[:, None]
    flat = matrix[keep].astype(np.int32)
    flat.setflags(write=False)
    ends = np.cumsum(lengths).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
