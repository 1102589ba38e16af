"""Where a collective's ranks sit: scale-up domains, and what their hardware offers.

`RankPlacement` answers, for the groups of a collective, the questions that decide which
algorithms apply and how they are priced: the scale-up domain of every rank, how many
domains a group spans and how many ranks it has in each, the rail-aligned order of its
ranks, NVSwitch reduction (NVLS), a rank's NVLink edge and NIC switch, InfiniBand NICs
for SHARP. Conventions of the graph: `simulator.fabric.topology_graph`.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

__all__ = ["RankPlacement"]


class RankPlacement:
    """Where ranks sit in a topology graph and what their hardware offers, as the
    collectives need it.

    Parameters
    ----------
    graph : networkx.Graph
        The topology (GPU nodes carry ``domain``; ``("nvswitch", d)`` has ``reduction``).
    """

    def __init__(self, graph: nx.Graph) -> None:
        self.graph = graph
        self._domains: np.ndarray | None = None  # scale-up domain of every rank

    def why_not(self, algorithm: str, groups: np.ndarray, collnet: bool) -> str | None:
        """None if `algorithm` (an all-reduce) applies to `groups`, else the reason
        (`collnet`: CollNet is offered at all, NCCL_COLLNET_ENABLE=1)."""
        k = self.domains_spanned(groups)
        p = groups.shape[1]
        if algorithm in ("ring", "tree"):
            return None
        if algorithm == "hierarchical":
            per = self.ranks_per_domain(groups)
            if not 1 < per < p:
                return "hierarchical needs several ranks in each of several scale-up domains"
            return None
        switch = self.has_nvswitch(groups)
        if algorithm == "nvls":
            if not switch:
                return "no NVSwitch with in-switch reduction (NVLS) in this scale-up domain"
            return None if k == 1 else "nvls runs inside one scale-up domain"
        local = self.by_domain(groups)
        if algorithm == "nvls_tree":
            if k == 1:
                return "nvls_tree needs a group spanning several scale-up domains"
            if local is None or not switch:
                return ("nvls_tree needs the same number (> 1) of ranks in each domain and "
                        "NVSwitches with in-switch reduction (NVLS)")
            return None
        if algorithm == "collnet":
            if not collnet:
                return "CollNet is off (NCCL_COLLNET_ENABLE=0 is NCCL's default; collnet=true)"
            if k == 1:
                return "collnet needs a group spanning several scale-up domains"
            uniform = local is not None or self.ranks_per_domain(groups) == 1
            if not uniform or (local is not None and not switch):
                return ("collnet needs the same number of ranks in each domain, and NVLS "
                        "inside a domain of several")
            if not self.sharp(groups):
                return "no SHARP: the scale-out fabric is not InfiniBand"
            return None
        return None

    def domain(self, ranks: np.ndarray) -> np.ndarray:
        """The scale-up domain of each rank."""
        if self._domains is None:
            self._domains = np.array([self.graph.nodes[r]["domain"]
                                      for r in range(self.graph.graph["gpus"])])
        return self._domains[ranks]

    def ranks_per_domain(self, groups: np.ndarray) -> int:
        """Ranks of one group per scale-up domain (layouts give every group the same
        shape, so the first group stands for all)."""
        first = self.domain(groups[0])
        return int(np.max(np.unique(first, return_counts=True)[1]))

    def domains_spanned(self, groups: np.ndarray) -> int:
        """Scale-up domains the first group spans (every group has the same shape)."""
        return int(np.unique(self.domain(groups[0])).size)

    def by_domain(self, groups: np.ndarray) -> np.ndarray | None:
        """(groups, k, g): each group's ranks domain by domain, if every group has the
        same g > 1 ranks in each of its k > 1 domains on a switched fabric (one NIC per
        rank); None otherwise (a plain ring then)."""
        if not self.switched():
            return None
        p = groups.shape[1]
        g = self.ranks_per_domain(groups)
        if not 1 < g < p or p % g:
            return None
        order = np.argsort(self.domain(groups), axis=1, kind="stable")
        ordered = np.take_along_axis(groups, order, axis=1)
        local = ordered.reshape(groups.shape[0], p // g, g)
        doms = self.domain(local)
        if not (doms == doms[:, :, :1]).all():
            return None
        return local

    def switched(self) -> bool:
        """Accelerators never forward (a switched fabric, one NIC per rank)."""
        return self.graph.graph.get("routing") == "switched"

    def has_nvswitch(self, groups: np.ndarray) -> bool:
        """Every domain of the first group sits behind an NVSwitch with reduction."""
        for d in np.unique(self.domain(groups[0])).tolist():
            node = ("nvswitch", d)
            if node not in self.graph or not self.graph.nodes[node].get("reduction"):
                return False
        return True

    def nvlink(self, rank: int) -> dict:
        """Attributes of `rank`'s NVLink edge."""
        return next(d for _, _, d in self.graph.edges(rank, data=True) if d["kind"] == "nvlink")

    def nic_switch(self, rank: int):
        """The switch `rank`'s NIC connects to."""
        return next(v for _, v, d in self.graph.edges(rank, data=True)
                    if d["kind"] != "nvlink")

    def sharp(self, groups: np.ndarray) -> bool:
        """InfiniBand NICs on every rank of the first group (Quantum-2 switches)."""
        for rank in groups[0].tolist():
            kinds = {d["kind"] for _, _, d in self.graph.edges(rank, data=True)}
            if "ib" not in kinds:
                return False
        return True
