"""TPU-style 3D torus (or mesh) of chips with direct, chip-forwarded routing.

Conventions in `simulator.fabric.topology_graph`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from simulator.fabric.topology_graph import (
    ICI_LATENCY,
    check_divides,
    check_int,
    check_latency,
    check_positive,
    new_graph,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["balanced_dims", "torus_3d"]


def torus_3d(dims: tuple[int, int, int] = (4, 4, 4), ici_bandwidth: float = 600e9,
             gpus_per_node: int = 4, wraparound: bool = True,
             ici_latency: float = ICI_LATENCY) -> nx.Graph:
    """TPU v5p-style 3D torus of chips with direct (chip-forwarded) routing.

    Chip ``(x, y, z)`` is node ``x + X * (y + Y * z)`` (x fastest); hosts are 4
    consecutive chips. Each chip has 6 ICI ports (+-x, +-y, +-z); the per-chip ICI
    bandwidth (REFERENCE.md "Accelerators": TPU v5p ICI 600 GB/s per direction, 3D
    torus) is split evenly over them: ``ici_bandwidth / 6`` = 100 GB/s per link per
    direction. Ports along a dimension of size 1 stay unused (not redistributed); along
    a dimension of size 2 the wraparound cable joins the same pair of chips, so the edge
    is two merged links (``links=2``, twice the bandwidth).

    Parameters
    ----------
    dims : tuple of 3 ints, default (4, 4, 4)
        Torus shape ``(X, Y, Z)``; a TPU v5p pod is up to 8,960 chips.
    ici_bandwidth : float, default 600e9
        ICI bandwidth per chip per direction summed over its 6 links, bytes/s.
    gpus_per_node : int, default 4
        Chips per host (TPU v5p: 4); must divide ``X * Y * Z``.
    wraparound : bool, default True
        Add the wraparound links (False gives a 3D mesh).
    ici_latency : float, default 1.0e-6
        Seconds per chip-to-chip edge (assumption).

    Returns
    -------
    nx.Graph
        Integer nodes only, ``kind="gpu"`` with attrs ``coords``, ``server``, ``local``,
        ``domain=0``, ``rail=None``; edges kind ``"ici"``; ``routing="direct"``,
        ``domain_size`` = all chips, graph attrs also ``dims``, ``wraparound``.
    """
    if not isinstance(dims, (tuple, list)) or len(dims) != 3:
        raise ValueError(f"dims must be three integers (X, Y, Z), got {dims!r}")
    X, Y, Z = (check_int(f"dims[{i}]", d) for i, d in enumerate(dims))
    gpn = check_int("gpus_per_node", gpus_per_node)
    link_bw = check_positive("ici_bandwidth", ici_bandwidth) / 6
    lat = check_latency("ici_latency", ici_latency)
    chips = X * Y * Z
    check_divides("gpus_per_node", gpn, "X * Y * Z", chips)
    G = new_graph("torus_3d", chips, gpn, chips, "direct", dims=(X, Y, Z),
               wraparound=bool(wraparound))
    G.add_nodes_from(
        (r, {"kind": "gpu", "coords": (r % X, r // X % Y, r // (X * Y)), "server": r // gpn,
             "local": r % gpn, "domain": 0, "rail": None})
        for r in range(chips))

    edges = []
    for axis, (size, stride) in enumerate(((X, 1), (Y, X), (Z, X * Y))):
        if size == 1:
            continue
        for r in range(chips):
            c = (r // stride) % size
            if c + 1 < size:
                links = 2 if size == 2 and wraparound else 1
                edges.append((r, r + stride, links, axis))
            elif size > 2 and wraparound:
                edges.append((r, r - c * stride, 1, axis))
    G.add_edges_from((u, v, {"bandwidth": link_bw * n, "latency": lat, "kind": "ici",
                             "links": n, "axis": a}) for u, v, n, a in edges)
    return G


def balanced_dims(n: int) -> tuple[int, int, int]:
    """The most cube-like ``X <= Y <= Z`` with ``X * Y * Z = n`` (smallest sum)."""
    best = (1, 1, n)
    for x in range(1, round(n ** (1 / 3)) + 2):
        if n % x:
            continue
        for y in range(x, math.isqrt(n // x) + 1):
            if (n // x) % y == 0:
                z = n // x // y
                if y <= z and x + y + z < sum(best):
                    best = (x, y, z)
    return best
