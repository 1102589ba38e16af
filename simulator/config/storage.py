"""Validation of `storage` (the group scenarios/storage/, schema StorageConfig): the
storage system, the input stream and outages -> a `StorageSpec` (simulator/fabric/
storage.py), and the checkpoint write and load times derived from the model's size.

A null bandwidth is unlimited (`math.inf` in the spec). Every key is checked here with
its name; a key that would have no effect (a prefetch buffer with no input, an outage
duration with no outages, skipping writes with a policy that cannot) is an error.
"""

from __future__ import annotations

import itertools
import math

from simulator.config.schema import StorageConfig
from simulator.errors import (
    ConfigError,
    require_non_negative,
    require_one_of,
    require_positive,
)
from simulator.fabric.storage import OUTAGE_KINDS, OUTAGE_WRITES, StorageSpec, transfer_s
from simulator.fabric.workload import Workload
from simulator.units import GB, HOUR, MINUTE

#: Checkpoint policies whose writes may be given up for an outage (outage_write=skip):
#: the synchronous ones (async and in_memory retry).
SKIPPING_POLICIES = ("fixed", "young_daly", "daly", "adaptive")


def bandwidth(key: str, gb_per_s: float | None) -> float:
    """A bandwidth in GB/s: positive, or null for unlimited (inf)."""
    if gb_per_s is None:
        return math.inf
    if not (gb_per_s > 0 and not math.isnan(gb_per_s)):
        raise ConfigError(key, gb_per_s, "must be a positive number of GB/s, or null "
                          "(unlimited)")
    return float(gb_per_s)


def checkpoint_bytes(workload: Workload | None, storage: StorageConfig) -> float | None:
    """Checkpoint size: every parameter's weights and optimizer state, each shard once."""
    require_positive("storage.bytes_per_param", storage.bytes_per_param)
    return None if workload is None else workload.model.params * storage.bytes_per_param


def derived_s(key: str, minutes: float | None, size: float | None, system_key: str,
              storage: StorageConfig, nodes: int) -> float:
    """Seconds: `minutes` as configured, or (null) moving `size` bytes through
    `storage.<system_key>` and the nodes' paths, the slower (a restart's load: every
    GPU's shard at once, shard bytes x GPUs = the checkpoint's size)."""
    system = bandwidth(f"storage.{system_key}", getattr(storage, system_key))
    node = bandwidth("storage.node_gb_per_s", storage.node_gb_per_s)
    if minutes is not None:
        require_non_negative(key, minutes)
        return minutes * MINUTE
    if size is None:
        raise ConfigError(key, None, "null derives it from the model's size; that needs a "
                          "workload with a model (e.g. workload=llama3_405b)")
    if math.isinf(system) and math.isinf(node):
        raise ConfigError(key, None, "cannot derive a time from unlimited storage "
                          f"(storage.{system_key} and storage.node_gb_per_s are null); "
                          "give the minutes or a bandwidth")
    return transfer_s(size, system, node, nodes)


def restore_s(storage: StorageConfig) -> float:
    """The data loader's restore/warm-up at every restart, in seconds."""
    require_non_negative("storage.loader_restore_minutes", storage.loader_restore_minutes)
    return storage.loader_restore_minutes * MINUTE


def storage_from(c: StorageConfig, nodes: int, workload: Workload | None,
                 policy: str, step_level: bool) -> StorageSpec:
    """The storage system the run sees: bandwidths, the input stream, outages."""
    read = bandwidth("storage.read_gb_per_s", c.read_gb_per_s)
    write = bandwidth("storage.write_gb_per_s", c.write_gb_per_s)
    node = bandwidth("storage.node_gb_per_s", c.node_gb_per_s)
    per_step = _input_bytes_per_step(c, workload)
    preprocess = bandwidth("storage.input.node_gb_per_s", c.input.node_gb_per_s)
    require_non_negative("storage.input.prefetch_steps", c.input.prefetch_steps)
    if per_step == 0.0:
        for key, value, unset in (("node_gb_per_s", c.input.node_gb_per_s, None),
                                  ("prefetch_steps", c.input.prefetch_steps, 0.0)):
            if value != unset:
                raise ConfigError(f"storage.input.{key}", value, "needs an input stream: "
                                  "set storage.input.bytes_per_token or bytes_per_step")
    elif step_level:
        raise ConfigError("mode", "steps", "the input stream (storage.input.*) runs with "
                          "mode=segments only")
    outages = _outages(c, policy)
    return StorageSpec(read_gb_per_s=read, write_gb_per_s=write, node_gb_per_s=node,
                       loader_bps=nodes * min(node, preprocess) * GB,
                       input_bytes_per_step=per_step, prefetch_steps=c.input.prefetch_steps,
                       restore_s=restore_s(c), **outages)


def _input_bytes_per_step(c: StorageConfig, workload: Workload | None) -> float:
    """Input bytes per step (0: free): per token x the global batch, or per step."""
    per_token, per_step = c.input.bytes_per_token, c.input.bytes_per_step
    require_non_negative("storage.input.bytes_per_token", per_token, optional=True)
    require_non_negative("storage.input.bytes_per_step", per_step, optional=True)
    if per_token is not None and per_step is not None:
        raise ConfigError("storage.input.bytes_per_step", per_step, "set either "
                          f"storage.input.bytes_per_token={per_token:g} or bytes_per_step, "
                          "not both (null the other)")
    if per_token is not None:
        if workload is None:
            raise ConfigError("storage.input.bytes_per_token", per_token,
                              "needs a model workload (tokens per step); for a fixed-step "
                              "workload give storage.input.bytes_per_step")
        return per_token * workload.global_batch_tokens
    return 0.0 if per_step is None else float(per_step)


def _outages(c: StorageConfig, policy: str) -> dict:
    """The outage fields of the StorageSpec."""
    require_positive("storage.outage_mtbf_hours", c.outage_mtbf_hours, optional=True)
    require_positive("storage.outage_minutes", c.outage_minutes)
    require_one_of("storage.outage_kind", c.outage_kind, OUTAGE_KINDS)
    require_one_of("storage.outage_write", c.outage_write, OUTAGE_WRITES)
    starts = list(c.outage_at_hours)
    for start in starts:
        require_non_negative("storage.outage_at_hours", start)
    if any(b - a <= c.outage_minutes / 60 for a, b in itertools.pairwise(starts)):
        raise ConfigError("storage.outage_at_hours", starts, "must increase, each start "
                          f"after the previous outage ended (storage.outage_minutes="
                          f"{c.outage_minutes:g})")
    if starts and c.outage_mtbf_hours is not None:
        raise ConfigError("storage.outage_at_hours", starts, "scripted outages replace "
                          f"random ones: null storage.outage_mtbf_hours="
                          f"{c.outage_mtbf_hours:g} or empty this list")
    if starts and c.outage_kind != "exponential":
        raise ConfigError("storage.outage_kind", c.outage_kind, "scripted outages last "
                          "storage.outage_minutes each; leave the kind exponential")
    has = bool(starts) or c.outage_mtbf_hours is not None
    defaults = StorageConfig()
    for key in ("outage_minutes", "outage_kind", "outage_write"):
        if not has and getattr(c, key) != getattr(defaults, key):
            raise ConfigError(f"storage.{key}", getattr(c, key), "has no effect without "
                              "outages: set storage.outage_mtbf_hours or outage_at_hours")
    if c.outage_write == "skip" and policy not in SKIPPING_POLICIES:
        raise ConfigError("storage.outage_write", "skip", f"checkpoint={policy} retries its "
                          f"writes; skip works with {', '.join(SKIPPING_POLICIES)}")
    return {"outage_mtbf_s": None if c.outage_mtbf_hours is None
            else c.outage_mtbf_hours * HOUR,
            "outage_s": c.outage_minutes * MINUTE, "outage_kind": c.outage_kind,
            "outage_at_s": tuple(h * HOUR for h in starts), "outage_write": c.outage_write}
