"""NCCL's protocols (LL, LL128, Simple) as the collectives model prices them.

A protocol trades bandwidth for latency. LL sends 8-byte lines of 4 data bytes and 4
flag bytes (half the link rate, the lowest latency); LL128 sends 128-byte lines of 120
data bytes; Simple moves whole buffers with a memory fence per step (full rate, the
highest per-step latency). NCCL's tuner prices every (algorithm, protocol) pair with a
latency + size / bandwidth model and runs the cheapest; `simulator.collectives` does the
same with the flow network in place of NCCL's bandwidth figures.

Source of every figure: NVIDIA/nccl `src/graph/tuning.cc` (`ncclTunerConstantsDefaults`,
`ncclTopoTuneModel`), read at commit 5067397 (2026-06-11):

- per-step latency of a ring hop ("hwLatencies", ring column), in microseconds:
  NVLink LL 0.6, LL128 1.9, Simple 3.4; network LL 2.7, LL128 4.0, Simple 14.0;
- once per collective ("baseLatencies", ring): LL 6.6, LL128 14.0, Simple 8.4 (0 for
  NVLS, NVLS-tree and CollNet);
- bandwidth: LL busBw x 0.5, capped at "llMaxBws" (Hopper, one node: 141 GB/s; Intel
  hosts, 2 nodes: 39 GB/s, more nodes: 20.4 GB/s); LL128 busBw x 0.92 ("120.0/128.0");
- NVLS and NVLS-tree run Simple only: NVLink latency 25 us, network 18 us (NVLS with
  CollNet) and 20.9 us (NVLS-tree); CollNet-Direct Simple: network latency 31 us.

NCCL's tree algorithm has its own latencies (NVLink 0.6 / 1.25 / 4.0, network 5.0 / 8.5
/ 14); the ring figures are used for every algorithm here, a simplification worth at
most a few microseconds per step.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FLOW", "NCCL_PROTOCOLS", "PROTOCOLS", "Protocol", "protocol_named"]

US = 1e-6


@dataclass(frozen=True)
class Protocol:
    """How one protocol prices a collective.

    A step over a hop takes ``max(hop latency, wire latency + step_latency_s)`` plus its
    bytes at ``bandwidth`` x the max-min rate of the flow network; ``base_s`` is paid once
    per collective. `max_busbw` caps the nccl-tests busbw by the number of scale-up
    domains the group spans (1, 2, more), as NCCL caps LL.
    """

    name: str
    bandwidth: float  # payload share of the link rate
    intra_s: float  # per-step latency of a hop inside a scale-up domain
    inter_s: float  # per-step latency of a hop across the scale-out network
    base_s: float  # once per collective
    max_busbw: tuple[float, float, float] | None = None  # B/s, for 1 / 2 / >2 domains
    #: (NVLS in-switch step, NVLS-tree network step, CollNet network step) latencies;
    #: None: the protocol cannot run NVLS, NVLS-tree or CollNet (NCCL: Simple only)
    in_switch_s: tuple[float, float, float] | None = None

    def cap(self, domains: int) -> float:
        if self.max_busbw is None:
            return float("inf")
        return self.max_busbw[min(domains, 3) - 1]


#: The pure flow model: wire latency + the model's step latency, full link rate. The
#: closed-form (alpha-beta) tests run on it; `CollectiveModel` uses it unless told otherwise.
FLOW = Protocol("flow", 1.0, 0.0, 0.0, 0.0, in_switch_s=(0.0, 0.0, 0.0))

NCCL_PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("ll", 0.5, 0.6 * US, 2.7 * US, 6.6 * US, (141e9, 39e9, 20.4e9)),
    Protocol("ll128", 0.92, 1.9 * US, 4.0 * US, 14.0 * US),
    Protocol("simple", 1.0, 3.4 * US, 14.0 * US, 8.4 * US,
             in_switch_s=(25 * US, 20.9 * US, 31 * US)),
)

PROTOCOLS = ("auto", *(p.name for p in NCCL_PROTOCOLS))


def protocol_named(name: str) -> Protocol:
    for p in NCCL_PROTOCOLS:
        if p.name == name:
            return p
    raise ValueError(f"unknown protocol {name!r}; expected one of {', '.join(PROTOCOLS)}")
