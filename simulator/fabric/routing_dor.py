"""Dimension-order routing on a torus or mesh whose nodes carry coordinates.

First coordinate first, the short way round each ring; a ring's two equal halves are
chosen by one bit of a stable hash (SplitMix64) of the pair, per dimension. Used by
`simulator.fabric.routing` for "direct" graphs that have ``dims`` and ``coords`` (as
`torus_3d` builds); other direct graphs route by breadth-first search.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from simulator.fabric.routing_hops import split_rows, splitmix64

__all__ = ["DimensionOrder"]


class DimensionOrder:
    """Dimension-order routing tables: ``step[node, dim, 0 / 1]`` is the link one step
    in the + / - direction (-1 if none), ``head[link]`` the node a link leads to.

    Build with `DimensionOrder.of`, which returns None when the graph is not a plain
    torus or mesh with coordinates.
    """

    def __init__(self, dims: np.ndarray, coords: np.ndarray, step: np.ndarray,
                 wraps: np.ndarray, head: np.ndarray) -> None:
        self.dims, self.coords, self.step, self.wraps, self.head = (dims, coords, step,
                                                                     wraps, head)

    @classmethod
    def of(cls, g: nx.Graph, nodes: Sequence, index: dict,
           links: Sequence[tuple]) -> DimensionOrder | None:
        """The tables of graph `g` (`nodes` in router order, `index` node -> router,
        `links` the directed links), or None to route by breadth-first search instead.

        Needs graph attribute ``dims`` and node attribute ``coords`` and every edge
        joining neighbours along one dimension.
        """
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
        tail = np.array([index[u] for u, _ in links], dtype=np.int64)
        head = np.array([index[v] for _, v in links], dtype=np.int64)
        diff = (coords[head] - coords[tail]) % dims
        if len(links) and not ((diff != 0).sum(axis=1) == 1).all():
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
        return cls(dims, coords, step, wraps, head)

    def route(self, s: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        """Links of the routes router s[i] -> t[i]."""
        dims, coords, step, wraps = self.dims, self.coords, self.step, self.wraps
        delta = (coords[t] - coords[s]) % dims
        back = (dims - delta) % dims
        bit = (splitmix64(s * len(coords) + t)[:, None]
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
            cur[go] = self.head[link]
            left[go, k] -= 1
        return split_rows(out, dist)
