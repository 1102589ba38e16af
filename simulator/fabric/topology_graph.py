"""The topology graph vocabulary: conventions, shared construction pieces, `check_topology`.

Cluster topologies are networkx graphs built by pure builder functions (shared/DESIGN.md),
one family per module: `topology_scaleup` (one NVSwitch server, GB200 NVL72 racks),
`topology_fat_tree` (rail-optimized fat-trees), `topology_leaf_spine` (ToR per rack, the
Llama 3 RoCE cluster), `topology_torus` (TPU 3D torus); `topology` is their registry
(`BUILDERS`, `build`). Every builder takes plain arguments and returns a fresh undirected
`nx.Graph`, in the style of `networkx.generators.lattice`. The network solver
(`network.py`, `routing.py`) and the collectives rely on the conventions below; keep them.

Graph conventions
-----------------
* Accelerators are the integer nodes ``0 .. G-1`` in global rank order, server-major:
  ``rank = server * gpus_per_node + local``. Node attrs: ``kind="gpu"`` (also for TPU
  chips), ``server``, ``local``, ``domain`` (index of the scale-up domain) and ``rail``
  (``= local`` when the graph has a rail-optimized scale-out fabric, else ``None``).
* Switches are tuples: ``("nvswitch", domain)``, ``("leaf", su, rail)``,
  ``("spine", group, i)``, ``("core", i)``, ``("tor", rack)``, ``("agg", plane)``.
  Every node has ``kind`` in `NODE_KINDS`.
* Every edge is a full-duplex link: ``bandwidth`` (bytes/s **per direction**),
  ``latency`` (s, for crossing that one edge), ``kind`` in `EDGE_KINDS` and ``links``
  (physical cables merged into the edge; parallel cables between the same two nodes are
  one edge with summed bandwidth, while ECMP over different switches stays separate edges).
* ``G.graph``: ``name`` (the `BUILDERS` key), ``gpus``, ``gpus_per_node``,
  ``domain_size`` and ``routing``. ``"switched"``: accelerators never forward; traffic
  between two GPUs of one scale-up domain crosses ``("nvswitch", d)``, all other traffic
  leaves through the source GPU's NIC edge and enters through the destination's.
  ``"direct"`` (torus): chips forward, route over the chip graph.
* A scale-up domain is one logical switch ``("nvswitch", d)`` with ``reduction=True``
  (NVLS in-switch reduction) and one ``"nvlink"`` edge per GPU carrying the GPU's full
  scale-up bandwidth (``links=1``: one logical port). Domains of one GPU have no switch.

Routing on a switched graph is *not* plain shortest paths: a path through another GPU
(GPU -> NVSwitch -> GPU -> leaf) can tie with the fabric path, and inside an NVL72 rack
the rail leaf is as short as the NVSwitch. Route between domains on the switch subgraph
plus the two endpoints; inside a domain use the NVSwitch. Equal-cost paths between two
leaves go through every spine (2 tiers), or every (spine of the group, core of the
plane) pair (3 tiers).

Default latencies (assumptions, per edge): NVLink GPU-switch 0.5 us, NIC to first switch
1.0 us, switch to switch 0.6 us, ICI chip to chip 1.0 us. Bandwidth figures come from
shared/REFERENCE.md ("Accelerators" and "Networks").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "EDGE_KINDS",
    "EPS",
    "ICI_LATENCY",
    "NIC_LATENCY",
    "NODE_KINDS",
    "NVLINK_LATENCY",
    "SWITCH_LATENCY",
    "add_gpus",
    "add_scaleup",
    "cables_for",
    "check_divides",
    "check_int",
    "check_latency",
    "check_positive",
    "check_topology",
    "new_graph",
]

NODE_KINDS = frozenset({"gpu", "nvswitch", "leaf", "spine", "core", "tor", "agg"})
EDGE_KINDS = frozenset({"nvlink", "ib", "roce", "ici"})

NVLINK_LATENCY = 0.5e-6  # s, GPU <-> NVSwitch
NIC_LATENCY = 1.0e-6  # s, GPU NIC <-> leaf / ToR
SWITCH_LATENCY = 0.6e-6  # s, switch <-> switch
ICI_LATENCY = 1.0e-6  # s, TPU chip <-> neighbour chip

EPS = 1e-9


# ---- argument checks -------------------------------------------------------------------


def check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_latency(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_divides(what: str, part: int, whole_name: str, whole: int) -> int:
    if whole % part:
        raise ValueError(f"{whole_name}={whole} is not a multiple of {what}={part}")
    return whole // part


# ---- shared pieces ---------------------------------------------------------------------


def new_graph(name: str, gpus: int, gpus_per_node: int, domain_size: int, routing: str,
           **extra) -> nx.Graph:
    import networkx as nx  # here: the structure of a topology needs no graph (structure.py)

    return nx.Graph(name=name, gpus=gpus, gpus_per_node=gpus_per_node,
                    domain_size=domain_size, routing=routing, **extra)


def add_gpus(G: nx.Graph, gpus: int, gpus_per_node: int, domain_size: int,
              rails: bool) -> None:
    G.add_nodes_from(
        (r, {"kind": "gpu", "server": r // gpus_per_node, "local": r % gpus_per_node,
             "domain": r // domain_size, "rail": r % gpus_per_node if rails else None})
        for r in range(gpus)
    )


def add_scaleup(G: nx.Graph, gpus: int, domain_size: int, bandwidth: float,
                 latency: float) -> None:
    """One logical NVSwitch per domain, one nvlink edge per GPU (none for 1-GPU domains)."""
    if domain_size == 1:
        return
    domains = -(-gpus // domain_size)
    G.add_nodes_from((("nvswitch", d) for d in range(domains)), kind="nvswitch",
                     reduction=True)
    G.add_edges_from(((r, ("nvswitch", r // domain_size)) for r in range(gpus)),
                     bandwidth=bandwidth, latency=latency, kind="nvlink", links=1)


def cables_for(bandwidth: float, port_bandwidth: float) -> int:
    """Physical ports of `port_bandwidth` needed to carry `bandwidth` (at least one)."""
    return max(1, math.ceil(bandwidth / port_bandwidth - EPS))


# ---- validation ------------------------------------------------------------------------


def _bad_number(value, minimum_exclusive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if not math.isfinite(value):
        return True
    return value <= 0 if minimum_exclusive else value < 0


def check_topology(G: nx.Graph) -> None:
    """Raise ValueError unless `G` follows the conventions of this module.

    Checks: an undirected simple graph, connected; every node has a known ``kind``;
    the ``kind="gpu"`` nodes are exactly the integers ``0..n-1`` (and no other node is
    an integer), with ``server``, ``local`` and ``domain`` attrs and ``n`` equal to
    ``G.graph["gpus"]`` when set; every edge has a finite ``bandwidth > 0``, a finite
    ``latency >= 0`` and a ``kind`` in `EDGE_KINDS`.
    """
    import networkx as nx

    if G.is_directed() or G.is_multigraph():
        raise ValueError("topology must be an undirected nx.Graph (merge parallel links)")
    if G.number_of_nodes() == 0:
        raise ValueError("topology has no nodes")
    gpus = 0
    for n, data in G.nodes(data=True):
        kind = data.get("kind")
        if kind not in NODE_KINDS:
            raise ValueError(f"node {n!r}: kind={kind!r} is not one of {sorted(NODE_KINDS)}")
        is_int = isinstance(n, int) and not isinstance(n, bool)
        if kind == "gpu":
            if not is_int:
                raise ValueError(f"GPU node {n!r} is not an integer rank")
            missing = [a for a in ("server", "local", "domain") if a not in data]
            if missing:
                raise ValueError(f"GPU {n} has no {', '.join(missing)} attribute")
            gpus += 1
        elif is_int:
            raise ValueError(f"integer node {n} has kind={kind!r}; integers are GPUs")
    if any(r not in G for r in range(gpus)):
        raise ValueError(f"the {gpus} GPU nodes are not exactly the integers 0..{gpus - 1}")
    declared = G.graph.get("gpus")
    if declared is not None and declared != gpus:
        raise ValueError(f"G.graph['gpus']={declared} but the graph has {gpus} GPU nodes")
    for u, v, data in G.edges(data=True):
        if _bad_number(data.get("bandwidth"), True):
            raise ValueError(f"edge {u!r}-{v!r}: bandwidth={data.get('bandwidth')!r}, "
                             "need a finite number > 0")
        if _bad_number(data.get("latency"), False):
            raise ValueError(f"edge {u!r}-{v!r}: latency={data.get('latency')!r}, "
                             "need a finite number >= 0")
        if data.get("kind") not in EDGE_KINDS:
            raise ValueError(f"edge {u!r}-{v!r}: kind={data.get('kind')!r} is not one of "
                             f"{sorted(EDGE_KINDS)}")
    if not nx.is_connected(G):
        raise ValueError(f"topology is disconnected ({nx.number_connected_components(G)} "
                         "components)")

