"""Collective communication as NCCL runs it, over the flow-level network.

A collective on p ranks is a sequence of *phases*; in each phase every rank of every
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

Protocols (`simulator.protocols`): LL, LL128 and Simple trade per-step latency against
bandwidth; `auto` runs what NCCL's tuner would: the fastest (algorithm, protocol) that
applies, from NCCL's latencies and the flow network's bandwidths. One flow solve per
(op, groups, algorithm) serves every size: transfer times are linear in the size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.protocols import FLOW, Protocol
from simulator.units import GIB

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

#: SHARP reduction rate as a share of the NIC rate (after efficiency.ib). Calibrated on
#: one figure: 4 x 8 B200, 8 x 400G NDR, CollNet all-reduce busbw 543.8 GB/s at 16 GiB
#: (results/reference/nccl_tests.csv, row marked "calibration"): busbw =
#: 2(p-1)/p x 8 NICs x 45 GB/s x e -> e = 0.78. The other CollNet rows validate it.
SHARP_EFFICIENCY = 0.78

_REF_BYTES = GIB  # flows are solved once at this size and scaled


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
class Phase:
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


@dataclass(frozen=True)
class Choice:
    """What a collective costs and how it runs: seconds, algorithm, protocol."""

    seconds: float
    algorithm: str
    protocol: str


@dataclass(frozen=True)
class _Timed:
    """A phase solved at the reference size: per flow its path latency, its transfer
    time (scales with the size) and whether it crosses scale-up domains."""

    repeat: int
    latency: np.ndarray
    transfer: np.ndarray
    crosses: np.ndarray
    pipeline: str | float


def _ring_neighbours(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return groups.ravel(), np.roll(groups, -1, axis=1).ravel()


def ring_phases(op: str, groups: np.ndarray, size: float) -> list[Phase]:
    """One ring per group in group order (a single channel)."""
    p = groups.shape[1]
    src, dst = _ring_neighbours(groups)
    return [Phase(src, dst, size / p, _ring_steps(op, p), "mean")]


def _ring_steps(op: str, p: int) -> int:
    return {"all_reduce": 2 * (p - 1), "reduce_scatter": p - 1, "all_gather": p - 1}[op]


def channel_ring_phases(op: str, local: np.ndarray, size: float,
                        channels: int) -> list[Phase]:
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
    return [Phase(src, dst, sizes, _ring_steps(op, p), k / p)]


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


def tree_phases(groups: np.ndarray, size: float) -> list[Phase]:
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
    return [Phase(src_all, dst_all, size / 2, 1),
            Phase(src_all, dst_all, 0.0, max(2 * depth - 1, 0))]  # pipeline fill


def all_to_all_phases(groups: np.ndarray, size: float) -> list[Phase]:
    p = groups.shape[1]
    src = np.repeat(groups, p - 1, axis=1).ravel()
    shifts = [np.roll(groups, -k, axis=1) for k in range(1, p)]
    dst = np.stack(shifts, axis=2).ravel()
    return [Phase(src, dst, size / p, 1)]


def send_recv_phases(groups: np.ndarray, size: float) -> list[Phase]:
    """Pipeline steady state: every stage sends to the next one at the same time."""
    return [Phase(groups[:, :-1].ravel(), groups[:, 1:].ravel(), size, 1)]


class CollectiveModel:
    """Times collectives over a `Network` for the groups of a `Layout` (cached).

    Parameters
    ----------
    network : simulator.network.Network
    layout : Layout
    step_latency_s : float
        Software latency per step, added to the wire latency of the step's path.
    nvls_efficiency : float
        NVLS rate as a share of the NVLink rate.
    protocols : sequence of Protocol
        What `auto` chooses among; the default, the pure flow model (`protocols.FLOW`),
        is the alpha-beta model with the wire latencies. `simulator.stepmodel` passes
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
        self._cache: dict[tuple, float] = {}
        self._timed: dict[tuple, list[_Timed]] = {}
        self._domains: np.ndarray | None = None  # scale-up domain of every rank

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
                found += [a for a in IN_SWITCH if self._why_not(a, groups) is None]
            return found
        if pointwise != (algorithm == "direct"):
            raise ValueError(f"{algorithm} does not apply to {op}")
        if algorithm in ("tree", "hierarchical", *IN_SWITCH) and op != "all_reduce":
            raise ValueError(f"{algorithm} is for all_reduce only")
        if algorithm == "nvls" and self._domains_spanned(groups) > 1:
            algorithm = "nvls_tree"  # NVLS across nodes is NVLS inside + tree across
        reason = self._why_not(algorithm, groups)
        if reason is not None:
            raise ValueError(f"{algorithm} does not apply: {reason}")
        return [algorithm]

    def phases(self, op: str, groups: np.ndarray, size: float,
               algorithm: str = "auto") -> list[Phase]:
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
            return self._hierarchical_phases(groups, size)
        if algorithm == "tree":
            return tree_phases(groups, size)
        local = self._by_domain(groups)
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
            seconds = {"nvls": self._nvls, "nvls_tree": self._nvls_tree,
                       "collnet": self._collnet}[algorithm](groups, size, protocol)
        else:
            timed = self._solved((op, algorithm), groups,
                                 lambda: self.phases(op, groups, _REF_BYTES, algorithm))
            seconds = protocol.base_s + self._phases_time(timed, protocol, size / _REF_BYTES)
        cap = protocol.cap(self._domains_spanned(groups))
        if math.isfinite(cap):
            seconds = max(seconds, size * BUS_FACTOR[op](groups.shape[1]) / cap)
        return seconds

    def _solved(self, what: tuple, groups: np.ndarray,
                make: Callable[[], list[Phase]]) -> list[_Timed]:
        """The phases of `what` on `groups`, solved once at the reference size."""
        key = (*what, groups.shape, groups.tobytes())
        if key not in self._timed:
            timed = []
            for ph in make():
                pairs = np.stack([ph.src, ph.dst], axis=1)
                sizes = np.broadcast_to(ph.size, ph.src.shape)
                latency, transfer = self.network.transfer_parts(pairs, sizes)
                crosses = self._domain(ph.src) != self._domain(ph.dst)
                timed.append(_Timed(ph.repeat, latency, transfer, crosses, ph.pipeline))
            self._timed[key] = timed
        return self._timed[key]

    def _step(self, timed: _Timed, protocol: Protocol) -> np.ndarray:
        """Per-step latency of each flow: max(the protocol's hop latency, wire + step)."""
        hop = np.where(timed.crosses, protocol.inter_s, protocol.intra_s)
        return np.maximum(hop, timed.latency + self.step_latency_s)

    def _phases_time(self, timed: list[_Timed], protocol: Protocol, scale: float) -> float:
        total = 0.0
        for ph in timed:
            if not ph.latency.size:
                continue
            step = self._step(ph, protocol)
            moving = ph.transfer * (scale / protocol.bandwidth)
            if ph.pipeline == "max":
                total += ph.repeat * float(np.max(step + moving))
                continue
            if ph.pipeline == "mean":
                latency = float(np.mean(step))
            else:
                share = float(ph.pipeline)
                inter, intra = step[ph.crosses], step[~ph.crosses]
                latency = (share * (float(np.mean(inter)) if inter.size else 0.0)
                           + (1 - share) * (float(np.mean(intra)) if intra.size else 0.0))
            total += ph.repeat * (latency + float(np.max(moving)))
        return total

    def _nvls(self, groups: np.ndarray, size: float, protocol: Protocol) -> float:
        """S up into the switch and S back down, at nvls_efficiency of the NVLink rate."""
        link = self._nvlink(int(groups[0, 0]))
        latency = max(protocol.in_switch_s[0], 2 * link["latency"] + self.step_latency_s)
        return latency + size / (link["bandwidth"] * self.nvls_efficiency)

    def _nvls_tree(self, groups: np.ndarray, size: float, protocol: Protocol) -> float:
        """NVLS in each domain, pipelined with rail trees across domains (rank i of
        each domain reduces and broadcasts S/g over a double binary tree of k ranks)."""
        k = self._domains_spanned(groups)
        local = self._by_domain(groups)
        g = local.shape[2]
        rails = local.transpose(0, 2, 1).reshape(-1, k)
        timed = self._solved(("nvls_tree",), groups,
                             lambda: tree_phases(rails, _REF_BYTES / g))[0]
        across = float(np.max(timed.transfer)) * size / _REF_BYTES / protocol.bandwidth
        link = self._nvlink(int(groups[0, 0]))
        inside = size / (link["bandwidth"] * self.nvls_efficiency)
        wire = float(np.max(timed.latency))
        nvls_s, tree_s, _ = protocol.in_switch_s
        latency = (max(nvls_s, 2 * link["latency"] + self.step_latency_s)
                   + 2 * math.ceil(math.log2(k)) * max(tree_s, wire + self.step_latency_s))
        return latency + max(inside, across)

    def _collnet(self, groups: np.ndarray, size: float, protocol: Protocol) -> float:
        """NVLS in each domain (if g > 1), pipelined with SHARP across domains: every
        rank's NIC sends its S/g shard into the reduction tree and receives it back."""
        local = self._by_domain(groups)
        rank = int(groups[0, 0]) if local is None else int(local[0, 0, 0])
        g = groups.shape[1] // self._domains_spanned(groups)
        nic = self.network.capacity[self.network.link_id(rank, self._nic_switch(rank))]
        across = size / g / (nic * SHARP_EFFICIENCY * protocol.bandwidth)
        inside, latency = 0.0, 0.0
        if g > 1:
            link = self._nvlink(rank)
            inside = size / (link["bandwidth"] * self.nvls_efficiency)
            latency = max(protocol.in_switch_s[0], 2 * link["latency"] + self.step_latency_s)
        peer = int(groups[0, 1]) if local is None else int(local[0, 1, 0])  # same rail
        wire = self.network.path_latency(rank, peer)
        latency += max(protocol.in_switch_s[2], wire + self.step_latency_s)
        return latency + max(inside, across)

    # -- what applies --

    def _why_not(self, algorithm: str, groups: np.ndarray) -> str | None:
        """None if `algorithm` (an all-reduce) applies to `groups`, else the reason."""
        k = self._domains_spanned(groups)
        p = groups.shape[1]
        if algorithm in ("ring", "tree"):
            return None
        if algorithm == "hierarchical":
            per = self._ranks_per_domain(groups)
            if not 1 < per < p:
                return "hierarchical needs several ranks in each of several scale-up domains"
            return None
        switch = self._has_nvswitch(groups)
        if algorithm == "nvls":
            if not switch:
                return "no NVSwitch with in-switch reduction (NVLS) in this scale-up domain"
            return None if k == 1 else "nvls runs inside one scale-up domain"
        local = self._by_domain(groups)
        if algorithm == "nvls_tree":
            if k == 1:
                return "nvls_tree needs a group spanning several scale-up domains"
            if local is None or not switch:
                return ("nvls_tree needs the same number (> 1) of ranks in each domain and "
                        "NVSwitches with in-switch reduction (NVLS)")
            return None
        if algorithm == "collnet":
            if not self.collnet:
                return "CollNet is off (NCCL_COLLNET_ENABLE=0 is NCCL's default; collnet=true)"
            if k == 1:
                return "collnet needs a group spanning several scale-up domains"
            uniform = local is not None or self._ranks_per_domain(groups) == 1
            if not uniform or (local is not None and not switch):
                return ("collnet needs the same number of ranks in each domain, and NVLS "
                        "inside a domain of several")
            if not self._sharp(groups):
                return "no SHARP: the scale-out fabric is not InfiniBand"
            return None
        return None

    def _domain(self, ranks: np.ndarray) -> np.ndarray:
        if self._domains is None:
            self._domains = np.array([self.graph.nodes[r]["domain"]
                                      for r in range(self.graph.graph["gpus"])])
        return self._domains[ranks]

    def _ranks_per_domain(self, groups: np.ndarray) -> int:
        """Ranks of one group per scale-up domain (layouts give every group the same
        shape, so the first group stands for all)."""
        first = self._domain(groups[0])
        return int(np.max(np.unique(first, return_counts=True)[1]))

    def _domains_spanned(self, groups: np.ndarray) -> int:
        return int(np.unique(self._domain(groups[0])).size)

    def _by_domain(self, groups: np.ndarray) -> np.ndarray | None:
        """(groups, k, g): each group's ranks domain by domain, if every group has the
        same g > 1 ranks in each of its k > 1 domains on a switched fabric (one NIC per
        rank); None otherwise (a plain ring then)."""
        if self.graph.graph.get("routing") != "switched":
            return None
        p = groups.shape[1]
        g = self._ranks_per_domain(groups)
        if not 1 < g < p or p % g:
            return None
        order = np.argsort(self._domain(groups), axis=1, kind="stable")
        ordered = np.take_along_axis(groups, order, axis=1)
        local = ordered.reshape(groups.shape[0], p // g, g)
        doms = self._domain(local)
        if not (doms == doms[:, :, :1]).all():
            return None
        return local

    def _has_nvswitch(self, groups: np.ndarray) -> bool:
        """Every domain of the first group sits behind an NVSwitch with reduction."""
        for d in np.unique(self._domain(groups[0])).tolist():
            node = ("nvswitch", d)
            if node not in self.graph or not self.graph.nodes[node].get("reduction"):
                return False
        return True

    def _nvlink(self, rank: int) -> dict:
        return next(d for _, _, d in self.graph.edges(rank, data=True) if d["kind"] == "nvlink")

    def _nic_switch(self, rank: int):
        return next(v for _, v, d in self.graph.edges(rank, data=True)
                    if d["kind"] != "nvlink")

    def _sharp(self, groups: np.ndarray) -> bool:
        """InfiniBand NICs on every rank of the first group (Quantum-2 switches)."""
        for rank in groups[0].tolist():
            kinds = {d["kind"] for _, _, d in self.graph.edges(rank, data=True)}
            if "ib" not in kinds:
                return False
        return True

    def _hierarchical_phases(self, groups: np.ndarray, size: float) -> list[Phase]:
        """Reduce-scatter in each domain, g rail rings across domains, all-gather back.

        Each rank's NIC carries 2(k-1)/k x S/g bytes (k domains, g ranks per domain).
        """
        g = self._ranks_per_domain(groups)
        p = groups.shape[1]
        if p % g:
            return ring_phases("all_reduce", groups, size)
        # order each group domain-major so that local index i of every domain lines up
        order = np.argsort(self._domain(groups), axis=1, kind="stable")
        ordered = np.take_along_axis(groups, order, axis=1)
        k = p // g
        local = ordered.reshape(-1, g)  # one row per (group, domain)
        rails = ordered.reshape(-1, k, g).transpose(0, 2, 1).reshape(-1, k)
        phases = ring_phases("reduce_scatter", local, size)
        if k > 1:
            phases += ring_phases("all_reduce", rails, size / g)
        return phases + ring_phases("all_gather", local, size)


def bandwidths(op: str, p: int, size_bytes: float, seconds: float) -> tuple[float, float]:
    """(algbw, busbw) in bytes/s, nccl-tests' definitions."""
    if seconds <= 0:
        return math.inf, math.inf
    algbw = size_bytes / seconds
    return algbw, algbw * BUS_FACTOR[op](p)


if __name__ == "__main__":  # python -m simulator.collectives: the nccl-tests-style table
    import sys

    from simulator.collectives_cli import main

    sys.exit(main())
