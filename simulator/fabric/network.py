"""The flow-level network over a topology graph: routes, max-min rates, transfer times.

`Network` routes flows (`simulator.fabric.routing`: one deterministic path per pair, ECMP by
source and destination, dimension order on a torus) and hands the link x flow incidence
to `simulator.fabric.flows`, which computes max-min fair rates and completion times.

A `Network` wraps a topology graph (the conventions of `simulator.fabric.topology_graph`: an
undirected `nx.Graph` whose edges are full-duplex links with `bandwidth` in B/s per
direction, `latency` in s and a link `kind`; accelerators are the integer nodes, switches
are tuples; graph attribute `routing` is "switched" or "direct"). Every edge gives two
directed links, link ``2 i`` (u -> v, in ``graph.edges()`` order) and ``2 i + 1``
(v -> u), each a resource of capacity ``bandwidth * efficiency[kind]``.

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

import networkx as nx
import numpy as np
from scipy import sparse

from simulator.fabric.collective_placement import RankPlacement
from simulator.fabric.flows import (
    Incidence,
    SolvesFlows,
    max_min_rates,
)
from simulator.fabric.routing import ROUTING_MODES, Router, as_pairs, is_accelerator

__all__ = ["ROUTING_MODES", "Network", "max_min_rates"]


class Network(SolvesFlows):
    """Routes and flow-level transfer times over a topology graph.

    Routes (see `simulator.fabric.routing` for the rules) are computed on first use, for all
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
            routing = "direct" if all(is_accelerator(n) for n in graph) else "switched"
        if routing not in ROUTING_MODES:
            raise ValueError(f"graph routing {routing!r}: expected one of "
                             f"{', '.join(ROUTING_MODES)}")
        self.routing: str = routing
        self._build_links()
        self._router = Router(graph, routing, self.links, self._link_id, self._width)

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

    # -- routing --

    def link_id(self, u, v) -> int:
        """Id of the directed link u -> v (ValueError if the graph has no such edge)."""
        try:
            return self._link_id[(u, v)]
        except KeyError:
            raise ValueError(f"no link {u!r} -> {v!r} in the graph") from None

    def paths(self, pairs: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """`path` of each ``(src, dst)`` pair (a sequence of pairs or an (F, 2) array).

        Routes not yet cached are computed together, vectorised over the pairs.
        """
        return self._router.paths(as_pairs(pairs))

    # -- the solver --

    def incidence(self, pairs: Sequence[tuple[int, int]]) -> sparse.csc_array:
        """Links x flows matrix of the routes of `pairs` (1 where a flow crosses a link)."""
        inc = self._incidence(pairs)
        return sparse.csc_array((inc.f_weight, inc.f_link, inc.f_ptr),
                                shape=(self.n_links, inc.n_flows))

    def _incidence(self, pairs: Sequence[tuple[int, int]]) -> Incidence:
        return Incidence.from_paths(self.paths(pairs), self.n_links)

    def placement(self) -> RankPlacement:
        """Where ranks sit and what their hardware offers, read off the graph."""
        return RankPlacement(self.graph)
