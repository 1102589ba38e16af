"""The flows of each collective algorithm, phase by phase (`CommPhase`).

The builders take the groups (rows of global ranks, in ring order) and the collective's
size S (nccl-tests' size, the whole buffer) and return the phases whose flows the
network solves; `simulator.collectives` describes the algorithms and chooses among them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CommPhase",
    "all_to_all_phases",
    "btree_parents",
    "channel_ring_phases",
    "dtree_parents",
    "hierarchical_phases",
    "ring_phases",
    "ring_steps",
    "send_recv_phases",
    "tree_phases",
]


@dataclass(frozen=True)
class CommPhase:
    """`repeat` rounds of concurrent flows src[i] -> dst[i] of `size` bytes each (a
    scalar, or one size per flow).

    A round takes its slowest flow's transfer time plus a latency set by `pipeline`:
    "max", the slowest flow's latency (every round waits for all flows); "mean", the mean
    over the flows (a ring: every flow is one hop of the ring, and a chunk's latency is
    the sum of the hops it crosses); a number s, s x the mean over the flows that cross
    scale-up domains + (1 - s) x the mean over the others (s: the share of a chunk's
    hops that cross domains).
    """

    src: np.ndarray
    dst: np.ndarray
    size: float | np.ndarray
    repeat: int
    pipeline: str | float = "max"


def _ring_neighbours(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return groups.ravel(), np.roll(groups, -1, axis=1).ravel()


def ring_phases(op: str, groups: np.ndarray, size: float) -> list[CommPhase]:
    """One ring per group in group order (a single channel)."""
    p = groups.shape[1]
    src, dst = _ring_neighbours(groups)
    return [CommPhase(src, dst, size / p, ring_steps(op, p), "mean")]


def ring_steps(op: str, p: int) -> int:
    """Steps of a ring of p ranks running `op`."""
    return {"all_reduce": 2 * (p - 1), "reduce_scatter": p - 1, "all_gather": p - 1}[op]


def channel_ring_phases(op: str, local: np.ndarray, size: float,
                        channels: int) -> list[CommPhase]:
    """Rings of `channels` rail-aligned channels (module docstring, "ring").

    `local` is (groups, k domains, g ranks): the ranks of each group, domain by domain,
    with local index i of every domain on the same rail. Inside a domain every channel
    adds S/(p C) to each hop of the g-cycle (channel c's PXN hand-over closes its cycle),
    so the cycle carries S/p per step; across domains channel c sends S/(p C) from rank
    c mod g of each domain to the same local rank of the next domain.
    """
    _, k, g = local.shape
    p = k * g
    rail = np.arange(channels) % g
    intra_src, intra_dst = local, np.roll(local, -1, axis=2)
    inter_src = local[:, :, rail]
    inter_dst = np.roll(local, -1, axis=1)[:, :, rail]
    src = np.concatenate([intra_src.ravel(), inter_src.ravel()])
    dst = np.concatenate([intra_dst.ravel(), inter_dst.ravel()])
    sizes = np.concatenate([np.full(intra_src.size, size / p),
                            np.full(inter_src.size, size / (p * channels))])
    return [CommPhase(src, dst, sizes, ring_steps(op, p), k / p)]


def btree_parents(n: int) -> np.ndarray:
    """Parent of each of n positions in NCCL's binary tree (src/graph/trees.cc,
    ncclGetBtree): root 0 with one child, odd positions leaves, even ones internal;
    parent of r = (r ^ b) | 2b with b the lowest set bit of r, or r ^ b past the end.
    The root's parent is -1."""
    r = np.arange(n)
    bit = r & -r
    up = (r ^ bit) | (bit << 1)
    up = np.where(up >= n, r ^ bit, up)
    up[0] = -1
    return up


def dtree_parents(n: int) -> tuple[np.ndarray, np.ndarray]:
    """NCCL's double binary tree (ncclGetDtree): the binary tree, and its mirror
    (n even) or its shift by one position (n odd), so that a leaf of one is an inner
    node of the other."""
    one = btree_parents(n)
    r = np.arange(n)
    if n % 2 == 0:
        mirrored = one[n - 1 - r]
        two = np.where(mirrored < 0, -1, n - 1 - mirrored)
    else:
        shifted = one[(r - 1) % n]
        two = np.where(shifted < 0, -1, (shifted + 1) % n)
    return one, two


def tree_phases(groups: np.ndarray, size: float) -> list[CommPhase]:
    """NCCL's double binary tree over each group's order: each tree reduces and
    broadcasts half the data, every tree edge busy both ways at once (pipelined)."""
    p = groups.shape[1]
    src, dst = [], []
    for parent in dtree_parents(p):
        child = np.flatnonzero(parent >= 0)
        kids, parents = groups[:, child].ravel(), groups[:, parent[child]].ravel()
        src += [kids, parents]  # reduce up, broadcast down: S/2 each way on every edge
        dst += [parents, kids]
    src_all, dst_all = np.concatenate(src), np.concatenate(dst)
    depth = math.ceil(math.log2(p))
    return [CommPhase(src_all, dst_all, size / 2, 1),
            CommPhase(src_all, dst_all, 0.0, max(2 * depth - 1, 0))]  # pipeline fill


def all_to_all_phases(groups: np.ndarray, size: float) -> list[CommPhase]:
    p = groups.shape[1]
    src = np.repeat(groups, p - 1, axis=1).ravel()
    shifts = [np.roll(groups, -k, axis=1) for k in range(1, p)]
    dst = np.stack(shifts, axis=2).ravel()
    return [CommPhase(src, dst, size / p, 1)]


def send_recv_phases(groups: np.ndarray, size: float) -> list[CommPhase]:
    """Pipeline steady state: every stage sends to the next one at the same time."""
    return [CommPhase(groups[:, :-1].ravel(), groups[:, 1:].ravel(), size, 1)]


def hierarchical_phases(groups: np.ndarray, domains: np.ndarray,
                        size: float) -> list[CommPhase]:
    """Reduce-scatter in each domain, g rail rings across domains, all-gather back.

    `domains` is the scale-up domain of every rank of `groups` (same shape). Each rank's
    NIC carries 2(k-1)/k x S/g bytes (k domains, g ranks per domain). A plain ring when
    g does not divide the group.
    """
    g = int(np.max(np.unique(domains[0], return_counts=True)[1]))  # as the first group
    p = groups.shape[1]
    if p % g:
        return ring_phases("all_reduce", groups, size)
    # order each group domain-major so that local index i of every domain lines up
    order = np.argsort(domains, axis=1, kind="stable")
    ordered = np.take_along_axis(groups, order, axis=1)
    k = p // g
    local = ordered.reshape(-1, g)  # one row per (group, domain)
    rails = ordered.reshape(-1, k, g).transpose(0, 2, 1).reshape(-1, k)
    phases = ring_phases("reduce_scatter", local, size)
    if k > 1:
        phases += ring_phases("all_reduce", rails, size / g)
    return phases + ring_phases("all_gather", local, size)
