"""Failure domains from the topology graph: which nodes go down together.

A failing first-tier switch (a rail leaf, a top-of-rack switch) takes down exactly the
servers whose NICs the graph connects to it; a failing scale-up domain (an NVL72 rack's
NVLink switch trays) takes down every server of that domain; a rack's power feed takes
down the rack. Redundant links (switch-to-switch cables) do not stop the job: they
lower bandwidth, and the job's step time on the degraded graph says by how much.

Groups list *physical* node indices. The graph describes the job's nodes
(0 .. job_nodes - 1); spare nodes (job_nodes ..) are not in it, so they are grouped
like the graph's first domain (same size, same number of switches per group), in order:
the spare pool is assumed to sit in racks of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only graphs' methods are used: no networkx import at run time
    import networkx as nx

#: Scopes whose units are groups of nodes taken down at once.
GROUP_SCOPES = ("switch", "rack", "scaleup")
FIRST_TIER = ("leaf", "tor")


@dataclass(frozen=True)
class FailureDomains:
    """Groups of physical nodes per scope, and the redundant links of the fabric.

    `link_cables`: switch-to-switch cables (each can fail alone); `link_slowdown`: the
    step time with one of them down, relative to the healthy step time (1.0: no effect
    or not known).
    """

    groups: tuple[tuple[str, tuple[tuple[int, ...], ...]], ...]
    link_cables: int = 0
    link_slowdown: float = 1.0

    def of(self, scope: str) -> tuple[tuple[int, ...], ...]:
        """Every failing unit of `scope` as the nodes it takes down (may repeat: eight
        rail leaves of one scalable unit take down the same 32 nodes)."""
        return dict(self.groups).get(scope, ())

    def units(self, scope: str, job_nodes: int) -> int:
        """Units of `scope` in front of the job's nodes (0 .. job_nodes - 1)."""
        return sum(1 for group in self.of(scope) if group[0] < job_nodes)


def switch_groups(G: nx.Graph) -> list[tuple[int, ...]]:
    """For every first-tier switch (leaf or ToR), the servers with a NIC on it."""
    groups = []
    for switch, kind in sorted(G.nodes(data="kind"), key=lambda item: str(item[0])):
        if kind not in FIRST_TIER:
            continue
        servers = {G.nodes[n]["server"] for n in G[switch] if G.nodes[n]["kind"] == "gpu"}
        if servers:
            groups.append(tuple(sorted(servers)))
    return sorted(groups)


def scaleup_groups(G: nx.Graph) -> list[tuple[int, ...]]:
    """The servers of each scale-up (NVLink) domain: one node for a DGX, the 18 trays of
    an NVL72 rack."""
    by_domain: dict[int, set[int]] = {}
    for _, data in G.nodes(data=True):
        if data["kind"] == "gpu":
            by_domain.setdefault(data["domain"], set()).add(data["server"])
    return sorted(tuple(sorted(servers)) for servers in by_domain.values())


def rack_groups(job_nodes: int, nodes_per_rack: int) -> list[tuple[int, ...]]:
    """Consecutive racks of `nodes_per_rack` servers (a rack's power domain)."""
    return [tuple(range(first, min(first + nodes_per_rack, job_nodes)))
            for first in range(0, job_nodes, nodes_per_rack)]


def redundant_cables(G: nx.Graph) -> int:
    """Switch-to-switch cables: losing one leaves other equal-cost paths."""
    return sum(data.get("links", 1) for u, v, data in G.edges(data=True)
               if G.nodes[u]["kind"] not in ("gpu", "nvswitch")
               and G.nodes[v]["kind"] not in ("gpu", "nvswitch"))


def representative_uplink(G: nx.Graph) -> tuple[object, object] | None:
    """A cable whose loss hurts the job the most a single cable can: the first uplink of
    the first-tier switch in front of GPU 0 (deterministic; None without a fabric)."""
    for neighbour in sorted(G[0], key=str):
        if G.nodes[neighbour]["kind"] in FIRST_TIER:
            ups = sorted((n for n in G[neighbour] if G.nodes[n]["kind"] not in
                          ("gpu", "nvswitch", *FIRST_TIER)), key=str)
            if ups:
                return (neighbour, ups[0])
    return None


def without_cable(G: nx.Graph, edge: tuple[object, object]) -> nx.Graph:
    """A copy of `G` with one physical cable of `edge` gone: an edge of `links` merged
    cables keeps (links - 1) / links of its bandwidth; a single cable is removed."""
    H = G.copy()
    u, v = edge
    data = H.edges[u, v]
    links = data.get("links", 1)
    if links > 1:
        data["bandwidth"] = data["bandwidth"] * (links - 1) / links
        data["links"] = links - 1
    else:
        H.remove_edge(u, v)
    return H


def extend_to_spares(groups: list[tuple[int, ...]], job_nodes: int,
                     total_nodes: int) -> tuple[tuple[int, ...], ...]:
    """`groups` of the job's nodes plus groups of the spare nodes shaped like the first."""
    if not groups or total_nodes <= job_nodes:
        return tuple(groups)
    size, repeat = len(groups[0]), groups.count(groups[0])
    spares = []
    for first in range(job_nodes, total_nodes, size):
        spares.extend([tuple(range(first, min(first + size, total_nodes)))] * repeat)
    return (*groups, *spares)


def domains_from_graph(G: nx.Graph, nodes_per_rack: int, total_nodes: int,
                       link_slowdown: float = 1.0) -> FailureDomains:
    """The failure domains of the job's graph, extended over `total_nodes` physical nodes."""
    job_nodes = G.graph["gpus"] // G.graph["gpus_per_node"]
    return failure_domains(job_nodes, switch_groups(G), scaleup_groups(G),
                           redundant_cables(G), nodes_per_rack, total_nodes, link_slowdown)


def failure_domains(job_nodes: int, switch: Sequence[tuple[int, ...]],
                    scaleup: Sequence[tuple[int, ...]], cables: int, nodes_per_rack: int,
                    total_nodes: int, link_slowdown: float = 1.0) -> FailureDomains:
    """The failure domains of a job of `job_nodes` servers whose first-tier switches
    (`switch`) and scale-up domains (`scaleup`) put these servers together, racks of
    `nodes_per_rack`, extended over `total_nodes` physical nodes (from a graph:
    `domains_from_graph`; from a built-in builder's arguments: simulator.fabric.structure)."""
    groups = (("switch", list(switch)), ("scaleup", list(scaleup)),
              ("rack", rack_groups(job_nodes, nodes_per_rack)))
    return FailureDomains(
        tuple((scope, extend_to_spares(g, job_nodes, total_nodes)) for scope, g in groups),
        link_cables=cables, link_slowdown=link_slowdown)
