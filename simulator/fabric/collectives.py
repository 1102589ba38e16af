"""Collective communication as NCCL runs it, over the flow-level network.

A collective on p ranks is a sequence of *phases* (`CommPhase`); in each phase every rank of every
group sends its flows at the same time, and a step lasts as long as its slowest flow
plus a per-step latency. All groups of a parallel dimension run together, so contention
between them on shared links (an oversubscribed spine) shows: the max-min flow solver
is the judge of every bandwidth figure, NCCL's channels are flows.

Algorithms (NCCL's names; S is nccl-tests' size, the whole buffer):

- ring: all-reduce = 2(p-1) steps of S/p to the ring neighbour; reduce-scatter and
  all-gather p-1 steps (alpha-beta: 2(p-1)a + 2(p-1)/p S b, and (p-1)a + (p-1)/p S b).
  A group with g > 1 ranks in each of k > 1 scale-up domains runs as NCCL does on a
  multi-NIC node: C channels (default g, one per NIC), each a ring visiting the g ranks
  of a domain and then the next domain. Channel c enters every domain at its local rank
  c mod g and leaves through the NIC of that same rank (rail-aligned): the last rank of
  the domain hands its data over NVLink to the rank on channel c's rail, which sends it
  out of its NIC (PXN). Each channel carries S/C: inside a domain the channels' hops
  add up to the g-cycle of S/p per step, across domains each rail carries S/(p C);
- tree: NCCL's pipelined double binary tree all-reduce (its own tree construction):
  two complementary binary trees each reduce and broadcast half the data, all tree
  edges busy at once (an inner node of one tree, a leaf of the other, sends 2S in
  all), plus 2 ceil(log2 p) steps of pipeline fill;
- nvls: in-switch reduction inside one NVSwitch domain: every rank sends S into the
  switch and receives S back, at `nvls_efficiency` of its NVLink rate. Asked for on a
  group that spans domains it means nvls_tree (NCCL would not run NVLS there without
  CollNet);
- nvls_tree: NVLS inside each domain, pipelined with a double binary tree across the
  domains on every rail (rank i of each domain carries S/g): the NVLS step and the tree
  run at once, the slower sets the pace;
- collnet (NCCL CollNet-Direct over SHARP): NVLS inside each domain; rank i of every
  domain sends its S/g shard into the switches' reduction tree on its rail and gets the
  reduced shard back. Needs an InfiniBand fabric (Quantum-2 switches are SHARPv3
  capable) and `collnet=True`, as NCCL needs NCCL_COLLNET_ENABLE=1 and the SHARP plugin;
- hierarchical (not an NCCL algorithm, never chosen by `auto`): intra-domain
  reduce-scatter, g rail rings all-reducing S/g across domains, intra-domain all-gather;
- direct: all-to-all (every rank sends S/p to every other rank at once), send/recv.

Protocols (`simulator.fabric.protocols`): LL, LL128 and Simple trade per-step latency against
bandwidth; `auto` runs what NCCL's tuner would: the fastest (algorithm, protocol) that
applies, from NCCL's latencies and the flow network's bandwidths. One flow solve per
(op, groups, algorithm) serves every size: transfer times are linear in the size.

Where things are: the phase builders of each algorithm in `simulator.fabric.collective_phases`,
their pricing (and the in-switch closed forms) in `simulator.fabric.collective_pricing`, where
the ranks sit and what their hardware offers (scale-up domains, NVLS, SHARP) in
`simulator.fabric.collective_placement`; this module holds the rank `Layout` and the
`CollectiveModel` that chooses among them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.fabric.collective_phases import (
    CommPhase,
    all_to_all_phases,
    channel_ring_phases,
    hierarchical_phases,
    ring_phases,
    send_recv_phases,
    tree_phases,
)
from simulator.fabric.collective_pricing import REF_BYTES, CollectivePricer
from simulator.fabric.protocols import FLOW, Protocol

OPS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "send_recv")
ALGORITHMS = ("auto", "ring", "tree", "nvls", "nvls_tree", "collnet", "hierarchical",
              "direct")
IN_SWITCH = ("nvls", "nvls_tree", "collnet")  # priced in closed form, not as phases
DIMS = ("tp", "cp", "pp", "dp", "ep", "node", "world")

#: nccl-tests' busbw factors (doc/PERFORMANCE.md): busbw = algbw x factor(p)
BUS_FACTOR = {
    "all_reduce": lambda p: 2 * (p - 1) / p,
    "reduce_scatter": lambda p: (p - 1) / p,
    "all_gather": lambda p: (p - 1) / p,
    "all_to_all": lambda p: (p - 1) / p,
    "send_recv": lambda p: 1.0,
}

@dataclass(frozen=True)
class Layout:
    """Ranks -> (tp, cp, dp, pp) coordinates in Megatron-LM's order (tp fastest, then
    cp, dp, pp): rank = tp + TP (cp + CP (dp + DP pp)). EP groups are blocks of EP
    consecutive dp indices; DP groups span dp x cp (gradients are reduced over both)."""

    tp: int = 1
    cp: int = 1
    dp: int = 1
    pp: int = 1
    ep: int = 1
    gpus_per_node: int = 8

    @property
    def gpus(self) -> int:
        return self.tp * self.cp * self.dp * self.pp

    def groups(self, dim: str) -> np.ndarray:
        """Every group of `dim` as rows of global ranks, in ring order."""
        ranks = np.arange(self.gpus).reshape(self.pp, self.dp, self.cp, self.tp)
        if dim == "tp":
            return ranks.reshape(-1, self.tp)
        if dim == "cp":
            return ranks.transpose(0, 1, 3, 2).reshape(-1, self.cp)
        if dim == "dp":
            return ranks.transpose(0, 3, 1, 2).reshape(-1, self.dp * self.cp)
        if dim == "pp":
            return ranks.transpose(1, 2, 3, 0).reshape(-1, self.pp)
        if dim == "ep":
            blocks = ranks.reshape(self.pp, self.dp // self.ep, self.ep, self.cp, self.tp)
            return blocks.transpose(0, 1, 3, 4, 2).reshape(-1, self.ep)
        if dim == "node":
            return np.arange(self.gpus).reshape(-1, min(self.gpus_per_node, self.gpus))
        if dim == "world":
            return np.arange(self.gpus).reshape(1, -1)
        raise ValueError(f"unknown group {dim!r}; expected one of {', '.join(DIMS)}")


@dataclass(frozen=True)
class Choice:
    """What a collective costs and how it runs: seconds, algorithm, protocol."""

    seconds: float
    algorithm: str
    protocol: str


class CollectiveModel:
    """Times collectives over a `Network` for the groups of a `Layout` (cached).

    Parameters
    ----------
    network : simulator.fabric.network.Network or simulator.fabric.plan_network.PlanNetwork
    layout : Layout
    step_latency_s : float
        Software latency per step, added to the wire latency of the step's path.
    nvls_efficiency : float
        NVLS rate as a share of the NVLink rate.
    protocols : sequence of Protocol
        What `auto` chooses among; the default, the pure flow model (`protocols.FLOW`),
        is the alpha-beta model with the wire latencies. `simulator.fabric.stepmodel` passes
        NCCL's LL / LL128 / Simple (`protocols.NCCL_PROTOCOLS`).
    channels : int or None
        Channels of a ring across domains; None: one per rank of a domain (per NIC).
    collnet : bool
        Offer CollNet (SHARP) where the fabric has it (NCCL_COLLNET_ENABLE=1).
    """

    def __init__(self, network, layout: Layout, *, step_latency_s: float = 1e-6,
                 nvls_efficiency: float = 0.61, protocols: Sequence[Protocol] = (FLOW,),
                 channels: int | None = None, collnet: bool = False) -> None:
        if channels is not None and (isinstance(channels, bool) or channels < 1):
            raise ValueError(f"channels must be a positive integer or None, got {channels!r}")
        if not protocols:
            raise ValueError("a CollectiveModel needs at least one protocol")
        self.network = network
        self.graph = network.graph
        self.layout = layout
        self.step_latency_s = step_latency_s
        self.nvls_efficiency = nvls_efficiency
        self.protocols = tuple(protocols)
        self.channels = channels
        self.collnet = collnet
        self.placement = network.placement()
        self._pricer = CollectivePricer(network, self.placement, step_latency_s,
                                        nvls_efficiency)
        self._cache: dict[tuple, float] = {}

    @property
    def computed(self) -> int:
        """How many distinct collectives this model has timed (the rest were cached)."""
        return len(self._cache)

    # -- the public API --

    def time(self, op: str, dim: str, size_bytes: float, algorithm: str = "auto") -> float:
        key = (op, dim, float(size_bytes), algorithm)
        if key not in self._cache:
            groups = self.layout.groups(dim)
            self._cache[key] = self.time_groups(op, groups, size_bytes, algorithm)
        return self._cache[key]

    def time_groups(self, op: str, groups: np.ndarray, size_bytes: float,
                    algorithm: str = "auto", protocol: str = "auto") -> float:
        """Seconds for `op` on every row of `groups` at once."""
        return self.best(op, groups, size_bytes, algorithm, protocol).seconds

    def best(self, op: str, groups: np.ndarray, size_bytes: float, algorithm: str = "auto",
             protocol: str = "auto") -> Choice:
        """The fastest way to run `op` (NCCL's tuner): over the algorithms that apply
        (or the one given) and the model's protocols (or the one named)."""
        if op not in OPS:
            raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(OPS)}")
        if groups.shape[1] <= 1 or size_bytes <= 0:
            return Choice(0.0, "none", "none")
        algorithms = self.candidates(op, groups, algorithm)
        protocols = self._protocols(protocol)
        found = min((Choice(self._seconds(op, groups, size_bytes, a, p), a, p.name)
                     for a in algorithms for p in protocols), key=lambda c: c.seconds)
        if not math.isfinite(found.seconds):
            raise ValueError(f"{algorithm} cannot run with protocol {protocol}: NVLS, "
                             "NVLS-tree and CollNet run the Simple protocol only")
        return found

    def choose(self, op: str, groups: np.ndarray, algorithm: str) -> str:
        """The algorithm an explicit `algorithm` runs as (nvls across domains runs as
        nvls_tree). Raises ValueError if it does not apply, naming why; 'auto' is
        resolved per size by `best`."""
        if algorithm == "auto":
            raise ValueError("'auto' depends on the size: use best(op, groups, size)")
        return self.candidates(op, groups, algorithm)[0]

    def candidates(self, op: str, groups: np.ndarray, algorithm: str) -> list[str]:
        """The algorithms `best` compares: every NCCL algorithm that applies for 'auto',
        else the one asked for (ValueError, naming why, if it does not apply)."""
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; expected one of "
                             f"{', '.join(ALGORITHMS)}")
        if op not in OPS:
            raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(OPS)}")
        pointwise = op in ("all_to_all", "send_recv")
        if algorithm == "auto":
            if pointwise:
                return ["direct"]
            found = ["ring"]
            if op == "all_reduce":
                found.append("tree")
                found += [a for a in IN_SWITCH
                          if self.placement.why_not(a, groups, self.collnet) is None]
            return found
        if pointwise != (algorithm == "direct"):
            raise ValueError(f"{algorithm} does not apply to {op}")
        if algorithm in ("tree", "hierarchical", *IN_SWITCH) and op != "all_reduce":
            raise ValueError(f"{algorithm} is for all_reduce only")
        if algorithm == "nvls" and self.placement.domains_spanned(groups) > 1:
            algorithm = "nvls_tree"  # NVLS across nodes is NVLS inside + tree across
        reason = self.placement.why_not(algorithm, groups, self.collnet)
        if reason is not None:
            raise ValueError(f"{algorithm} does not apply: {reason}")
        return [algorithm]

    def phases(self, op: str, groups: np.ndarray, size: float,
               algorithm: str = "auto") -> list[CommPhase]:
        """The flows of `op` on every group, phase by phase ('auto': the algorithm
        `best` picks at this size). ValueError for nvls, nvls_tree and collnet, which
        are priced in closed form."""
        if algorithm == "auto":
            algorithm = self.best(op, groups, size).algorithm
        algorithm = self.choose(op, groups, algorithm)
        if algorithm in IN_SWITCH:
            raise ValueError(f"{algorithm} is an in-switch reduction, not phases of flows")
        if op == "all_to_all":
            return all_to_all_phases(groups, size)
        if op == "send_recv":
            return send_recv_phases(groups, size)
        if algorithm == "hierarchical":
            return hierarchical_phases(groups, self.placement.domain(groups), size)
        if algorithm == "tree":
            return tree_phases(groups, size)
        local = self.placement.by_domain(groups)
        if local is None:
            return ring_phases(op, groups, size)
        return channel_ring_phases(op, local, size, self.channels or local.shape[2])

    # -- pricing --

    def _protocols(self, name: str) -> tuple[Protocol, ...]:
        if name == "auto":
            return self.protocols
        chosen = tuple(p for p in self.protocols if p.name == name)
        if not chosen:
            raise ValueError(f"unknown protocol {name!r}; this model has "
                             f"{', '.join(p.name for p in self.protocols)} (or auto)")
        return chosen

    def _seconds(self, op: str, groups: np.ndarray, size: float, algorithm: str,
                 protocol: Protocol) -> float:
        if algorithm in IN_SWITCH:  # NCCL's base latency of these is 0 (tuning.cc)
            if protocol.in_switch_s is None:
                return math.inf
            pricer = self._pricer
            seconds = {"nvls": pricer.nvls, "nvls_tree": pricer.nvls_tree,
                       "collnet": pricer.collnet}[algorithm](groups, size, protocol)
        else:
            timed = self._pricer.solved((op, algorithm), groups,
                                        lambda: self.phases(op, groups, REF_BYTES, algorithm))
            seconds = (protocol.base_s
                       + self._pricer.phases_time(timed, protocol, size / REF_BYTES))
        cap = protocol.cap(self.placement.domains_spanned(groups))
        if math.isfinite(cap):
            seconds = max(seconds, size * BUS_FACTOR[op](groups.shape[1]) / cap)
        return seconds


def bandwidths(op: str, p: int, size_bytes: float, seconds: float) -> tuple[float, float]:
    """(algbw, busbw) in bytes/s, nccl-tests' definitions."""
    if seconds <= 0:
        return math.inf, math.inf
    algbw = size_bytes / seconds
    return algbw, algbw * BUS_FACTOR[op](p)
