"""Hop distances between forwarding nodes and the ECMP walk along them.

`HopTable` holds the forwarding nodes' ("routers'") adjacency, fills one breadth-first
search row per destination router on first use, and walks many routes at once by the
hop rule of `simulator.fabric.routing`. Also the helpers the routers share: a stable integer
hash (`splitmix64`) and `split_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from simulator.fabric.flows import gather

__all__ = ["KEY_MOD", "HopTable", "split_rows", "splitmix64"]

ROW_CHUNK = 256  # destinations per batched breadth-first search
KEY_MOD = 1 << 40  # ECMP keys stay small (no int64 overflow on long paths)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 (a stable integer hash), as non-negative int64."""
    x = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(2)).astype(np.int64)


def split_rows(matrix: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """Row i of `matrix`, its first lengths[i] entries, as read-only int32 arrays."""
    keep = np.arange(matrix.shape[1]) < lengths[:, None]
    flat = matrix[keep].astype(np.int32)
    flat.setflags(write=False)
    ends = np.cumsum(lengths).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


class HopTable:
    """Hop counts between routers, filled lazily one destination row at a time.

    Parameters
    ----------
    adjacent : sequence of (router, next router, directed link id)
        Every directed router-to-router link, sorted (router-major, then neighbour).
    n_routers : int
    """

    def __init__(self, adjacent: Sequence[tuple[int, int, int]], n_routers: int) -> None:
        n_r = n_routers
        self.n_routers = n_r
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

    def distances(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
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
        n_r = self.n_routers
        if self._n_rows + need.size > self._dist.shape[0]:
            grown = np.empty((max(2 * self._dist.shape[0], self._n_rows + need.size), n_r),
                             dtype=self._dist.dtype)
            grown[:self._n_rows] = self._dist[:self._n_rows]
            self._dist = grown
        for i in range(0, need.size, ROW_CHUNK):
            chunk = need[i:i + ROW_CHUNK]
            d = csgraph.shortest_path(self._r_graph, method="D", directed=False,
                                      unweighted=True, indices=chunk)
            d[~np.isfinite(d)] = -1
            slots = np.arange(self._n_rows, self._n_rows + chunk.size)
            self._dist[slots] = d
            self._slot[chunk] = slots
            self._n_rows += chunk.size

    def walk(self, s: np.ndarray, t: np.ndarray, dist: np.ndarray, key: np.ndarray,
              came: np.ndarray, fan_in: np.ndarray) -> np.ndarray:
        """Links of the routes router s[i] -> t[i] (the ECMP rule of `simulator.fabric.routing`).

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
        n_rows, n_r = max(self._n_rows, 1), self.n_routers
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
            key[go] = np.where(n_choice > 1, (y // n_choice) % KEY_MOD, key[go])
            out[go, h] = self._r_link[pick]
            prev[go] = cur[go]
            cur[go] = self._r_next[pick]
        return out

