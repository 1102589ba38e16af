"""The storage system: bandwidths, what moving a checkpoint costs, how flows share it.

Pure functions and one frozen spec; the SimPy side (writes in flight, outages, the
input buffer over a run) is simulator/reliability/storage_io.py.

The sharing rule. The storage system does one unit of work per second: reading at its
aggregate read bandwidth, or writing at its aggregate write bandwidth. The flows in
flight share it max-min fairly (processor sharing with caps): the input stream needs at
most `claim` = loaders' rate / read bandwidth of it (its per-node limits cap it), and a
checkpoint write alone takes the whole system (its time alone is the configured or
derived write time). With n writes in flight the input gets
`input_share(claim, n) = min(claim, 1 / (n + 1))`, and the writes share the rest
equally. The input holds its share while the job runs, even when its prefetch buffer is
full (a simplification that is conservative for the writes).

The input buffer. Between events the supply rate r and the demand rate q are constant,
so the buffer level is piecewise linear: it drains at q - r, fills at r - q up to its
capacity, and, once empty with r < q, the GPUs run at r / q of their speed (the rest of
the time is input stall). `time_to_empty` and `starve_factor` are the closed forms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.units import GB

#: What a write that meets a storage outage does (`storage.outage_write`).
OUTAGE_WRITES = ("retry", "skip")
#: Distributions of a storage outage's duration (`storage.outage_kind`).
OUTAGE_KINDS = ("exponential", "fixed")


def transfer_s(size_bytes: float, system_gb_per_s: float, node_gb_per_s: float,
               nodes: int) -> float:
    """Seconds to move `size_bytes` between `nodes` clients and the storage system: the
    system's aggregate bandwidth or the clients' paths (nodes x per node), the slower.
    An unlimited bandwidth is `math.inf`."""
    return size_bytes / (min(system_gb_per_s, nodes * node_gb_per_s) * GB)


def restart_load_s(shard_bytes: float, gpus: int, clients: int, read_gb_per_s: float,
                   client_gb_per_s: float, restore_s: float = 0.0) -> float:
    """A restart's load: every GPU reloads its shard at once, so shard bytes x GPUs
    cross min(aggregate read, clients x per-client) bandwidth; then the data loader
    restores its state (`restore_s`)."""
    return transfer_s(shard_bytes * gpus, read_gb_per_s, client_gb_per_s, clients) + restore_s


def input_share(claim: float, writes: int) -> float:
    """The share of the storage system the input stream gets with `writes` checkpoint
    writes in flight (max-min fair; `claim`: the share it would take alone, capped)."""
    return min(claim, 1.0 / (writes + 1))


def write_stretch(claim: float, writes: int) -> float:
    """How much longer each of `writes` writes in flight takes than alone: n without
    input (processor sharing), n / (1 - input share) with it."""
    if claim == 0.0:
        return writes
    return writes / (1.0 - input_share(claim, writes))


def time_to_empty(level: float, supply: float, demand: float) -> float:
    """Seconds until a buffer at `level` bytes runs dry (inf if it never does)."""
    return level / (demand - supply) if demand > supply else math.inf


def starve_factor(supply: float, demand: float) -> float:
    """With an empty buffer: wall time per unit of the GPUs' time at full speed (q / r
    when supply r < demand q, else 1; inf when nothing arrives)."""
    if supply >= demand:
        return 1.0
    return demand / supply if supply > 0.0 else math.inf


@dataclass(frozen=True)
class StorageSpec:
    """The storage system as the job's run sees it (SI units; `math.inf`: unlimited).

    `loader_bps`: the most the job's data loaders can take in, nodes x min(node path,
    preprocessing); `input_bytes_per_step` 0: input is free (no buffer, no stalls).
    Outages: either at random (`outage_mtbf_s`: mean time storage is up between two,
    durations `outage_kind` with mean `outage_s`) or scripted at `outage_at_s`, each
    `outage_s` long.
    """

    read_gb_per_s: float = math.inf
    write_gb_per_s: float = math.inf
    node_gb_per_s: float = math.inf
    loader_bps: float = math.inf
    input_bytes_per_step: float = 0.0
    prefetch_steps: float = 0.0
    restore_s: float = 0.0
    outage_mtbf_s: float | None = None
    outage_s: float = 1800.0
    outage_kind: str = "exponential"
    outage_at_s: tuple[float, ...] = ()
    outage_write: str = "retry"

    @property
    def feeds(self) -> bool:
        """Whether the job reads its input from storage (else input is free)."""
        return self.input_bytes_per_step > 0.0

    @property
    def has_outages(self) -> bool:
        return self.outage_mtbf_s is not None or bool(self.outage_at_s)

    @property
    def claim(self) -> float:
        """The share of the storage system the input stream takes alone (at most 1)."""
        if not self.feeds or math.isinf(self.read_gb_per_s):
            return 0.0
        return min(1.0, self.loader_bps / (self.read_gb_per_s * GB))

    def supply_bps(self, writes: int) -> float:
        """Bytes per second reaching the loaders with `writes` writes in flight."""
        share = input_share(self.claim, writes)
        if share == self.claim:  # not held back by the writes: the loaders' own limit
            return min(self.loader_bps, self.read_gb_per_s * GB)
        return share * self.read_gb_per_s * GB

    def demand_bps(self, step_s: float) -> float:
        """Bytes per second the job consumes at full speed, at `step_s` per step."""
        return self.input_bytes_per_step / step_s

    def buffer_bytes(self) -> float:
        return self.prefetch_steps * self.input_bytes_per_step

    def write_s(self, size_bytes: float, nodes: int) -> float:
        """A checkpoint of `size_bytes` written alone by `nodes` nodes."""
        return transfer_s(size_bytes, self.write_gb_per_s, self.node_gb_per_s, nodes)

    def load_s(self, size_bytes: float, nodes: int) -> float:
        """A restart's load: `size_bytes` (every GPU's shard) read by `nodes` nodes at
        once, then the data loader's restore."""
        return transfer_s(size_bytes, self.read_gb_per_s, self.node_gb_per_s,
                          nodes) + self.restore_s
