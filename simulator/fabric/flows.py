"""Max-min fair rates and completion times of flows over capacitated links.

Pure numerics on a links x flows incidence (scipy.sparse), independent of any graph:
`network.py` takes the routes from `routing.py` and calls these. Water-filling settles every
independent bottleneck in one round, so the number of rounds follows the number of
bottleneck levels, not of flows; completion times re-solve, after each finish, only
the flows whose rates can change.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

__all__ = [
    "RTOL",
    "Incidence",
    "SolvesFlows",
    "check_capacity",
    "finish_times",
    "gather",
    "max_min_rates",
    "transfer_parts",
    "water_fill",
]

#: relative tolerance for grouping links that saturate (and flows that finish) together
RTOL = 1e-9


def gather(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions into a CSR structure's `indices` of all entries of `rows`, row by row."""
    start = indptr[rows]
    length = indptr[rows + 1] - start
    total = int(length.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offset = np.cumsum(length) - length
    return np.repeat(start - offset, length) + np.arange(total)


def max_min_rates(incidence, capacity: np.ndarray, *, rtol: float = RTOL) -> np.ndarray:
    """Max-min fair rates of concurrent flows (progressive filling).

    Parameters
    ----------
    incidence : scipy.sparse matrix or array, or array-like, shape (links, flows)
        ``incidence[l, f]`` is how many times flow ``f`` crosses link ``l`` (usually 0 or
        1). A flow with no link (an empty column) is unconstrained.
    capacity : array-like, shape (links,)
        Capacity of each link (B/s); must be positive (``inf`` is allowed: never a
        bottleneck).
    rtol : float
        Links whose fair share is within this relative tolerance of the lowest one
        saturate in the same round (a guard against floating-point drift).

    Returns
    -------
    numpy.ndarray, shape (flows,)
        The rate of each flow: every flow crosses a saturated link on which no flow has a
        higher rate. ``inf`` for flows with no link or only infinite links.

    Raises
    ------
    ValueError
        On mismatched shapes, a negative incidence entry, or a non-positive capacity.
    """
    a = sparse.csr_array(incidence, dtype=float)
    a.eliminate_zeros()
    cap = np.asarray(capacity, dtype=float)
    if cap.ndim != 1 or cap.shape[0] != a.shape[0]:
        raise ValueError(f"capacity has shape {cap.shape}; the incidence matrix has "
                         f"{a.shape[0]} links (rows)")
    check_capacity(cap)
    if a.nnz and a.data.min() < 0:
        raise ValueError("incidence entries must be non-negative link crossing counts")
    inc = Incidence(a.T.tocsr())
    return water_fill(inc, cap, np.diff(inc.f_ptr) > 0, rtol)


def check_capacity(cap: np.ndarray) -> None:
    bad = np.flatnonzero(~(cap > 0))  # also catches NaN
    if bad.size:
        raise ValueError(f"link {int(bad[0])} has non-positive capacity {cap[bad[0]]!r}; "
                         "every link needs bandwidth * efficiency > 0")


class Incidence:
    """Which links each flow crosses (CSR by flow: a flows x links matrix)."""

    def __init__(self, by_flow: sparse.csr_array) -> None:
        self.n_flows, self.n_links = by_flow.shape
        self.f_ptr = by_flow.indptr.astype(np.int64)
        self.f_link = by_flow.indices.astype(np.int64)
        self.f_weight = by_flow.data.astype(float)

    @classmethod
    def from_paths(cls, paths: list[np.ndarray], n_links: int) -> Incidence:
        indptr = np.zeros(len(paths) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(p) for p in paths])
        indices = np.concatenate(paths) if paths else np.zeros(0, dtype=np.int32)
        by_flow = sparse.csr_array((np.ones(len(indices)), indices, indptr),
                                   shape=(len(paths), n_links))
        by_flow.sum_duplicates()  # a link crossed twice counts twice
        return cls(by_flow)

    @classmethod
    def from_rows(cls, links: np.ndarray, lengths: np.ndarray, n_links: int) -> Incidence:
        """What `from_paths` makes of paths that never cross a link twice, given as
        rows of `links` (the first lengths[i] entries of row i, the rest padding):
        each flow's links sorted, weight 1 each."""
        keep = np.arange(links.shape[1]) < lengths[:, None]
        ordered = np.sort(np.where(keep, links, np.iinfo(np.int64).max), axis=1)
        inc = cls.__new__(cls)
        inc.n_flows, inc.n_links = links.shape[0], n_links
        inc.f_ptr = np.zeros(links.shape[0] + 1, dtype=np.int64)
        np.cumsum(lengths, out=inc.f_ptr[1:])
        inc.f_link = ordered[keep]  # the padding sorts last
        inc.f_weight = np.ones(inc.f_link.size)
        return inc


def transfer_parts(inc: Incidence, capacity: np.ndarray, link_latency: np.ndarray,
                   sizes) -> tuple[np.ndarray, np.ndarray]:
    """Per flow of `inc`: (path latency, time moving its `sizes` bytes at max-min fair
    rates re-solved as flows finish), both 0 for a flow with no link
    (`simulator.fabric.network.Network.transfer_parts`)."""
    n = inc.n_flows
    remaining = np.array(np.broadcast_to(np.asarray(sizes, dtype=float), (n,)))
    if not np.all((remaining >= 0) & np.isfinite(remaining)):
        raise ValueError("flow sizes must be finite numbers of bytes >= 0")
    routed = np.diff(inc.f_ptr) > 0
    owner = np.repeat(np.arange(n), np.diff(inc.f_ptr))
    latency = np.bincount(owner, weights=inc.f_weight * link_latency[inc.f_link],
                          minlength=n)
    finish = finish_times(inc, capacity, remaining, routed & (remaining > 0), RTOL)
    return np.where(routed, latency, 0.0), np.where(routed, finish, 0.0)



class SolvesFlows:
    """What a routed network answers about concurrent flows, from its routes: `Network`
    (over a graph) and `PlanNetwork` (a built-in fabric's plan) share it. A subclass has
    `capacity` and `latency` per link and `paths(pairs)`, and `_incidence(pairs)`, the
    routes of `pairs` as an `Incidence`."""

    capacity: np.ndarray
    latency: np.ndarray

    def paths(self, pairs) -> list[np.ndarray]:
        raise NotImplementedError

    def _incidence(self, pairs) -> Incidence:
        raise NotImplementedError

    def path(self, src: int, dst: int) -> np.ndarray:
        """Directed link ids from `src` to `dst`, in order (empty if ``src == dst``).

        Read-only. Raises ValueError if there is no path.
        """
        return self.paths([(src, dst)])[0]

    def path_latency(self, src: int, dst: int) -> float:
        """Sum of the link latencies along the route (s), in hop order."""
        return float(self.latency[self.path(src, dst)].sum())

    def rates(self, pairs) -> np.ndarray:
        """Max-min fair rate (B/s) of each of the concurrent flows `pairs`.

        A flow with ``src == dst`` has rate ``inf``.
        """
        check_capacity(self.capacity)
        inc = self._incidence(pairs)
        return water_fill(inc, self.capacity, np.diff(inc.f_ptr) > 0, RTOL)

    def transfer_times(self, pairs, sizes) -> np.ndarray:
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

    def transfer_parts(self, pairs, sizes) -> tuple[np.ndarray, np.ndarray]:
        """`transfer_times` in its two parts: (path latency, time moving the bytes).

        The second part is linear in the sizes: all sizes x k gives every flow the same
        rates between the same events, so every transfer time x k.
        """
        check_capacity(self.capacity)
        return transfer_parts(self._incidence(pairs), self.capacity, self.latency, sizes)


def water_fill(inc: Incidence, cap: np.ndarray, active: np.ndarray,
                rtol: float) -> np.ndarray:
    """Max-min fair rates of the `active` flows by progressive filling; others get ``inf``.

    Progressive filling raises all unfrozen flows together and freezes the flows of each
    link as it saturates. This does the same in parallel: a link whose fair share
    (residual capacity / unfrozen crossings) is the smallest share on every one of its
    unfrozen flows' paths saturates at that share whatever happens elsewhere (shares of
    unsaturated links only grow as other flows freeze below them), so all such links are
    settled in one round. The rounds follow the longest chain of bottleneck dependencies,
    not the number of distinct rates; each costs O(entries of the unfrozen flows).
    """
    rates = np.full(inc.n_flows, np.inf)
    flows = np.flatnonzero(active)
    if flows.size == 0:
        return rates
    pos = gather(inc.f_ptr, flows)
    load = np.bincount(inc.f_link[pos], weights=inc.f_weight[pos], minlength=inc.n_links)
    live = np.flatnonzero(load > 0)  # links of the active flows
    where = np.full(inc.n_links, -1, dtype=np.int64)
    where[live] = np.arange(live.size)
    count = load[live]  # unfrozen crossings per live link
    residual = cap[live].astype(float)
    lk = where[inc.f_link[pos]]  # entries of the unfrozen flows: live link, weight
    weight = inc.f_weight[pos]
    length = np.diff(inc.f_ptr)[flows]
    while flows.size:
        start = np.cumsum(length) - length
        owner = np.repeat(np.arange(flows.size), length)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = residual / count  # links left with no unfrozen flow are never read
        on_path = share[lk]
        tightest = np.minimum.reduceat(on_path, start)  # per flow
        if not np.isfinite(tightest).any():  # only infinite links left
            break
        looser = on_path > tightest[owner] * (1.0 + rtol)
        not_bottleneck = np.zeros(live.size, dtype=bool)
        not_bottleneck[lk[looser]] = True
        settles = ~not_bottleneck[lk] & np.isfinite(on_path)
        freeze = np.logical_or.reduceat(settles, start)
        rates[flows[freeze]] = tightest[freeze]
        gone = freeze[owner]
        drop = np.bincount(lk[gone], weights=weight[gone], minlength=live.size)
        used = np.bincount(lk[gone], weights=weight[gone] * tightest[owner[gone]],
                           minlength=live.size)
        count -= drop
        residual -= used
        np.maximum(residual, 0.0, out=residual)
        flows, length, lk, weight = flows[~freeze], length[~freeze], lk[~gone], weight[~gone]
    return rates


def finish_times(inc: Incidence, cap: np.ndarray, sizes: np.ndarray, active: np.ndarray,
                  rtol: float) -> np.ndarray:
    """Time at which each `active` flow has sent its `sizes` bytes (0 for the others).

    Event by event: rates are max-min fair for the flows still running and change only
    when flows finish. After flows X finish, every flow slower than the slowest of X
    keeps its rate (progressive filling below that level never met a link of X), and so
    does every faster flow not connected to X through links shared among faster flows
    (max-min splits over connected components). Only the rest is re-solved, on the
    capacity the others leave. With equal sizes the fastest flows finish first and an
    event re-solves little. Between events a flow's projected finish time does not
    change; an event costs a few vector operations over the running flows plus the
    re-solve.
    """
    n = inc.n_flows
    finish = np.zeros(n)
    owner = np.repeat(np.arange(n), np.diff(inc.f_ptr))
    rate = water_fill(inc, cap, active, rtol)
    left = sizes.astype(float, copy=True)  # bytes left at time `since`
    since = np.zeros(n)
    with np.errstate(divide="ignore"):
        eta = left / rate  # projected finish time; 0 where the rate is infinite

    def link_load(flows: np.ndarray) -> np.ndarray:  # flows of infinite rate load nothing
        pos = gather(inc.f_ptr, flows[np.isfinite(rate[flows])])
        return np.bincount(inc.f_link[pos], minlength=inc.n_links,
                           weights=inc.f_weight[pos] * rate[owner[pos]])

    def add_load(flows: np.ndarray, sign: float) -> None:
        pos = gather(inc.f_ptr, flows[np.isfinite(rate[flows])])
        np.add.at(load, inc.f_link[pos], sign * inc.f_weight[pos] * rate[owner[pos]])

    # flows of each link (CSR by link), to find the flows that share links with others
    order = np.argsort(inc.f_link, kind="stable")
    l_flow = owner[order]
    l_ptr = np.searchsorted(inc.f_link[order], np.arange(inc.n_links + 1))
    seen_flow = np.zeros(n, dtype=bool)
    seen_link = np.zeros(inc.n_links, dtype=bool)

    def linked(seeds: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """The `eligible` flows connected to `seeds` through shared links."""
        found, links, frontier = [], [], seeds
        seen_flow[seeds] = True
        while frontier.size:
            via = np.unique(inc.f_link[gather(inc.f_ptr, frontier)])
            via = via[~seen_link[via]]
            seen_link[via] = True
            links.append(via)
            near = np.unique(l_flow[gather(l_ptr, via)])
            frontier = near[eligible[near] & ~seen_flow[near]]
            seen_flow[frontier] = True
            found.append(frontier)
        seen_flow[seeds] = False  # reset the scratch marks
        for group in found:
            seen_flow[group] = False
        for group in links:
            seen_link[group] = False
        return np.concatenate(found) if found else seeds[:0]

    running = np.flatnonzero(active)
    load = link_load(running)
    projected = eta[running]
    now, events = 0.0, 0
    while running.size:
        first = float(projected.min())
        done = projected - now <= (first - now) * (1.0 + rtol)
        now = first
        ended = running[done]
        running, projected = running[~done], projected[~done]
        finish[ended] = now
        slowest = float(rate[ended].min())
        if not math.isfinite(slowest) or running.size == 0:
            continue  # flows of infinite rate left no capacity to share
        add_load(ended, -1.0)
        fast = np.zeros(n, dtype=bool)
        fast[running[rate[running] >= slowest * (1.0 - rtol)]] = True
        redo = np.sort(linked(ended, fast))
        if redo.size == 0:
            continue
        again = np.isin(running, redo, assume_unique=True)
        events += 1
        add_load(redo, -1.0)
        if events % 64 == 0:  # shed accumulated rounding
            load = link_load(running[~again])
        left[redo] = np.maximum(left[redo] - rate[redo] * (now - since[redo]), 0.0)
        since[redo] = now
        mask = np.zeros(n, dtype=bool)
        mask[redo] = True
        rate[redo] = water_fill(inc, np.maximum(cap - load, 0.0), mask, rtol)[redo]
        if not (rate[redo] > 0).all():  # rounding ate a residual: re-solve everything
            stale = running[~again]
            left[stale] = np.maximum(left[stale] - rate[stale] * (now - since[stale]), 0.0)
            since[stale] = now
            redo, again = running, np.ones(running.size, dtype=bool)
            mask[running] = True
            rate[running] = water_fill(inc, cap, mask, rtol)[running]
            load = link_load(running)
        else:
            add_load(redo, 1.0)
        projected[again] = now + left[redo] / rate[redo]
    return finish
