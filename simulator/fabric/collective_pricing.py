"""Pricing collectives: phases of flows solved once and scaled, and the in-switch
reductions (NVLS, NVLS-tree, CollNet/SHARP) in closed form.

`CollectivePricer` solves each phase list of `simulator.fabric.collective_phases` once at a
reference size on the flow network (transfer times are linear in the size) and turns it
into seconds for a protocol (`simulator.fabric.protocols`) and a size;
`simulator.fabric.collectives.CollectiveModel` decides what to price.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.fabric.collective_phases import CommPhase, tree_phases
from simulator.fabric.collective_placement import RankPlacement
from simulator.fabric.protocols import Protocol
from simulator.units import GIB

__all__ = ["REF_BYTES", "SHARP_EFFICIENCY", "CollectivePricer", "TimedPhase"]


#: SHARP reduction rate as a share of the NIC rate (after efficiency.ib). Calibrated on
#: one figure: 4 x 8 B200, 8 x 400G NDR, CollNet all-reduce busbw 543.8 GB/s at 16 GiB
#: (results/reference/nccl_tests.csv, row marked "calibration"): busbw =
#: 2(p-1)/p x 8 NICs x 45 GB/s x e -> e = 0.78. The other CollNet rows validate it.
SHARP_EFFICIENCY = 0.78

REF_BYTES = GIB  # flows are solved once at this size and scaled


@dataclass(frozen=True)
class TimedPhase:
    """A phase solved at the reference size: per flow its path latency, its transfer
    time (scales with the size) and whether it crosses scale-up domains."""

    repeat: int
    latency: np.ndarray
    transfer: np.ndarray
    crosses: np.ndarray
    pipeline: str | float


class CollectivePricer:
    """Seconds of phases of flows and of in-switch reductions over one network.

    Parameters
    ----------
    network : simulator.fabric.network.Network
    placement : RankPlacement
        The scale-up structure of the network's graph.
    step_latency_s : float
        Software latency per step, added to the wire latency of the step's path.
    nvls_efficiency : float
        NVLS rate as a share of the NVLink rate.
    """

    def __init__(self, network, placement: RankPlacement, step_latency_s: float,
                 nvls_efficiency: float) -> None:
        self.network = network
        self.placement = placement
        self.step_latency_s = step_latency_s
        self.nvls_efficiency = nvls_efficiency
        self._timed: dict[tuple, list[TimedPhase]] = {}
        self._parts: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def solved(self, what: tuple, groups: np.ndarray,
               make: Callable[[], list[CommPhase]]) -> list[TimedPhase]:
        """The phases of `what` on `groups`, solved once at the reference size."""
        key = (*what, groups.shape, groups.tobytes())
        if key not in self._timed:
            timed = []
            for ph in make():
                latency, transfer = self._transfer_parts(ph)
                crosses = self.placement.domain(ph.src) != self.placement.domain(ph.dst)
                timed.append(TimedPhase(ph.repeat, latency, transfer, crosses, ph.pipeline))
            self._timed[key] = timed
        return self._timed[key]

    def _transfer_parts(self, ph: CommPhase) -> tuple[np.ndarray, np.ndarray]:
        """The network's (latency, transfer) of the flows of `ph`, solved once per set of
        flows: a ring's reduce-scatter and all-gather move the same flows (only their
        step counts differ). The arrays are shared, never written."""
        pairs = np.stack([ph.src, ph.dst], axis=1)
        sizes = np.broadcast_to(ph.size, ph.src.shape)
        key = (pairs.dtype.str, pairs.shape, pairs.tobytes(),
               np.ascontiguousarray(sizes, dtype=float).tobytes())
        if key not in self._parts:
            self._parts[key] = self.network.transfer_parts(pairs, sizes)
        return self._parts[key]

    def step(self, timed: TimedPhase, protocol: Protocol) -> np.ndarray:
        """Per-step latency of each flow: max(the protocol's hop latency, wire + step)."""
        hop = np.where(timed.crosses, protocol.inter_s, protocol.intra_s)
        return np.maximum(hop, timed.latency + self.step_latency_s)

    def phases_time(self, timed: list[TimedPhase], protocol: Protocol, scale: float) -> float:
        """Seconds of the solved phases `timed` with `protocol`, at `scale` x the
        reference size (each phase as `CommPhase` describes its rounds)."""
        total = 0.0
        for ph in timed:
            if not ph.latency.size:
                continue
            step = self.step(ph, protocol)
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

    def nvls(self, groups: np.ndarray, size: float, protocol: Protocol) -> float:
        """S up into the switch and S back down, at nvls_efficiency of the NVLink rate."""
        link = self.placement.nvlink(int(groups[0, 0]))
        latency = max(protocol.in_switch_s[0], 2 * link["latency"] + self.step_latency_s)
        return latency + size / (link["bandwidth"] * self.nvls_efficiency)

    def nvls_tree(self, groups: np.ndarray, size: float, protocol: Protocol) -> float:
        """NVLS in each domain, pipelined with rail trees across domains (rank i of
        each domain reduces and broadcasts S/g over a double binary tree of k ranks)."""
        k = self.placement.domains_spanned(groups)
        local = self.placement.by_domain(groups)
        g = local.shape[2]
        rails = local.transpose(0, 2, 1).reshape(-1, k)
        timed = self.solved(("nvls_tree",), groups,
                            lambda: tree_phases(rails, REF_BYTES / g))[0]
        across = float(np.max(timed.transfer)) * size / REF_BYTES / protocol.bandwidth
        link = self.placement.nvlink(int(groups[0, 0]))
        inside = size / (link["bandwidth"] * self.nvls_efficiency)
        wire = float(np.max(timed.latency))
        nvls_s, tree_s, _ = protocol.in_switch_s
        latency = (max(nvls_s, 2 * link["latency"] + self.step_latency_s)
                   + 2 * math.ceil(math.log2(k)) * max(tree_s, wire + self.step_latency_s))
        return latency + max(inside, across)

    def collnet(self, groups: np.ndarray, size: float, protocol: Protocol) -> float:
        """NVLS in each domain (if g > 1), pipelined with SHARP across domains: every
        rank's NIC sends its S/g shard into the reduction tree and receives it back."""
        local = self.placement.by_domain(groups)
        rank = int(groups[0, 0]) if local is None else int(local[0, 0, 0])
        g = groups.shape[1] // self.placement.domains_spanned(groups)
        nic = self.network.capacity[self.network.link_id(rank, self.placement.nic_switch(rank))]
        across = size / g / (nic * SHARP_EFFICIENCY * protocol.bandwidth)
        inside, latency = 0.0, 0.0
        if g > 1:
            link = self.placement.nvlink(rank)
            inside = size / (link["bandwidth"] * self.nvls_efficiency)
            latency = max(protocol.in_switch_s[0], 2 * link["latency"] + self.step_latency_s)
        peer = int(groups[0, 1]) if local is None else int(local[0, 1, 0])  # same rail
        wire = self.network.path_latency(rank, peer)
        latency += max(protocol.in_switch_s[2], wire + self.step_latency_s)
        return latency + max(inside, across)
