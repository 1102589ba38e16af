"""The configuration's schemas: what a user may set, typed for Hydra.

The YAML files under `scenarios/` are typed by these dataclasses, registered in Hydra's
ConfigStore as `base_config` (and every checkpoint option's own schema,
simulator/config/checkpoint.py) when this module is imported, as in Hydra's structured
configs tutorial. Units are in the key names (minutes, hours, Gb/s); simulator/config/validate.py
checks every value and converts it to SI units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from simulator.config.checkpoint import CheckpointConfig, register_checkpoint_schemas
from simulator.config.restart import RestartConfig, register_restart_schemas
from simulator.reliability.scenario import DEFAULT_MAX_EVENTS


@dataclass
class ClusterConfig:
    accelerator: str = "H100"
    gpus: int = 1024
    gpus_per_node: int = 8
    spare_nodes: int | None = None  # set: the spare pool, in nodes (wins over the fraction)
    spare_fraction: float | None = 0.03125  # else: ceil(this x the job's nodes) spare nodes
    gpu_hour_usd: float | None = None  # what one GPU-hour costs (null: the catalog's price
    # for cluster.accelerator, simulator/fabric/hardware.py; no cost columns if it has none)
    pue: float = 1.0  # power usage effectiveness: facility energy / IT energy


@dataclass
class FailuresConfig:
    kind: str = "exponential"
    gpu_mtbf_hours: float | None = None
    node_mtbf_hours: float | None = None
    shape: float = 1.0
    # name -> {scope: gpu|node|switch|rack|scaleup|job|link, mtbf_hours: per unit (job:
    # per GPU), category, repair_hours (optional)}; switch, rack, scaleup and link units
    # come from the topology graph (simulator/fabric/domains.py)
    components: dict[str, Any] = field(default_factory=dict)
    planned_per_day: float = 0.0
    # failures=trace: replay this CSV (simulator/reliability/trace.py)
    trace_path: str | None = None
    trace_replicate: int = 0  # which replicate's rows of a trace that has several
    trace_start: str | None = None  # ISO 8601 time of hour 0 of a trace with timestamps
    resample: bool = False  # each replicate replays a bootstrap of the trace by host
    lemon_fraction: float = 0.0  # share of nodes whose parts fail lemon_factor x as often
    lemon_factor: float = 1.0
    lemon_retire_after: int | None = None  # retire a node after this many failures...
    lemon_window_hours: float = 720.0  # ... within this window (null above: never)
    infant_factor: float = 1.0  # a repaired part's hazard multiplier...
    infant_hours: float = 0.0  # ... for this long after its repair
    straggler_mtbf_hours: float | None = None  # per GPU: mean time until it turns slow
    straggler_slowdown: float = 1.5  # step time factor while a straggler is in the job
    straggler_detect_hours: float = 2.0  # mean time to find it (then swapped at a checkpoint)
    sdc_mtbf_hours: float | None = None  # per GPU: mean time between silent corruptions
    sdc_detect_hours: float = 2.0  # mean time from a corruption to its detection...
    sdc_detect_kind: str = "exponential"  # ... its distribution: exponential|weibull|lognormal
    sdc_detect_shape: float = 1.0  # ... Weibull shape or lognormal sigma


@dataclass
class TopologyConfig:
    """The network. A key the builder `kind` does not take stays null (an error if set);
    null on a key it takes means the builder's default (simulator/config/topology.py)."""

    kind: str = "rail_fat_tree"
    nodes_per_rack: int = 4  # servers per rack: the power domain (and leaf_spine_tor's ToR)
    nic_gbps: float | None = None  # scale-out NIC per accelerator, Gb/s
    nic_kind: str | None = None  # ib | roce (rail_fat_tree, nvl72)
    su_nodes: int | None = None  # servers per scalable unit (rail_fat_tree)
    su_racks: int | None = None  # racks per scalable unit (nvl72)
    oversubscription: float | None = None  # leaf (and spine) down / up (rail fabrics)
    tor_oversubscription: float | None = None  # ToR down / up (leaf_spine_tor)
    tiers: int | None = None  # 2 or 3 (null: by size)
    switch_radix: int | None = None  # ports per switch
    pod_gpus: int | None = None  # GPUs per full-bisection pod (leaf_spine_tor)
    agg_oversubscription: float | None = None  # pod uplinks down / up (leaf_spine_tor)
    cluster_switches: int | None = None  # cluster switches per pod (leaf_spine_tor)
    torus_dims: list[int] | None = None  # [X, Y, Z] (torus_3d; null: most cube-like)
    wraparound: bool | None = None  # torus links (torus_3d; false: a 3D mesh)
    nvlink_latency_us: float | None = None  # per GPU <-> NVSwitch edge
    nic_latency_us: float | None = None  # per GPU NIC <-> first switch edge
    switch_latency_us: float | None = None  # per switch <-> switch edge
    ici_latency_us: float | None = None  # per chip <-> chip ICI edge (torus_3d)


@dataclass
class EfficiencyConfig:
    compute: float = 0.6
    nvlink: float = 0.82
    nvls: float = 0.61
    ib: float = 0.9
    roce: float = 0.85
    ici: float = 0.8
    step_latency_us: float = 1.0


@dataclass
class PowerConfig:
    """What the facility draws (simulator/config/power.py). A null figure is the
    accelerator's published one (simulator/fabric/power.py)."""

    gpu_compute_w: float | None = None  # per accelerator, in dense compute
    gpu_comm_w: float | None = None  # per accelerator, communication-bound or in a bubble
    gpu_idle_w: float | None = None  # per accelerator, allocated and idle
    host_busy_w: float | None = None  # per node, all but the accelerators, job running
    host_idle_w: float | None = None  # per node, job stopped
    switch_w: float | None = None  # per scale-out switch of the topology
    swing_threshold_mw: float = 1.0  # a jump of the draw this large counts in power_swings
    series: bool = False  # write power.csv: the first replicate's draw over time
    cap_fraction: float | None = None  # a per-GPU power cap, x board power (null: none)
    mw_budget: float | None = None  # the site's power budget: a cluster over it is an error
    # smoothing (simulator/reliability/smoothing.py): a GPU power floor, x its training draw
    floor_fraction: float | None = None
    ramp_mw_per_min: float | None = None  # the grid's draw moves at most this fast
    battery_mwh: float = 0.0  # storage covering the ramp (usable energy)
    battery_mw: float | None = None  # its power limit (null: as much as needed)
    battery_efficiency: float = 0.85  # round trip (NREL ATB, utility-scale Li-ion)
    battery_recharge_mw: float | None = None  # below half full (null: one minute of ramp)


@dataclass
class InputConfig:
    """The training data as a stream from storage (simulator/config/storage.py). Null
    bytes: input is free (today's model: no stalls)."""

    bytes_per_token: float | None = None  # model workloads: input bytes per token
    bytes_per_step: float | None = None  # or per step (any workload, e.g. fixed_step)
    node_gb_per_s: float | None = None  # each node's preprocessing throughput (null: no limit)
    prefetch_steps: float = 0.0  # the loaders' buffer, in steps of input


@dataclass
class StorageConfig:
    """The storage system (`storage=<preset>`, scenarios/storage/). A null bandwidth is
    unlimited."""

    write_gb_per_s: float | None = 2000.0  # the storage system, shared by every writer
    read_gb_per_s: float | None = 7000.0
    node_gb_per_s: float | None = 50.0  # each node's path to storage (frontend NICs)
    bytes_per_param: float = 14.0  # bf16 weights + fp32 master, Adam m and v
    loader_restore_minutes: float = 0.0  # data-loader state restore/warm-up per restart
    outage_mtbf_hours: float | None = None  # mean time storage is up between outages
    outage_at_hours: list[float] = field(default_factory=list)  # or scripted outage starts
    outage_minutes: float = 30.0  # an outage's (mean) duration
    outage_kind: str = "exponential"  # exponential | fixed durations
    outage_write: str = "retry"  # a write an outage meets: retry | skip the checkpoint
    input: InputConfig = field(default_factory=InputConfig)


@dataclass
class ModelConfig:
    params_billion: float = 7.0
    layers: int = 32
    hidden: int = 4096
    heads: int = 32
    kv_heads: int = 32
    seq_len: int = 4096
    experts: int = 1
    top_k: int = 1
    expert_fraction: float = 0.0


@dataclass
class ParallelConfig:
    tp: int = 1
    pp: int = 1
    dp: int | None = None  # null: what TP x PP x CP leaves of cluster.gpus
    cp: int = 1
    ep: int = 1
    virtual_stages: int = 1
    microbatch_size: int = 1
    zero_stage: int = 1
    # activation recomputation: none | selective | full. selective is FlashAttention's
    # (attention scores recomputed, not stored); Llama 3 trained at 8K tokens without
    # activation checkpointing (sec. 3.3.2), i.e. selective in Korthikanti et al.'s terms
    recompute: str = "selective"
    allow_tp_across_domains: bool = False


@dataclass
class OverlapConfig:
    tp: float = 0.0
    cp: float = 0.5
    pp: float = 0.8
    dp: float = 0.9
    ep: float = 0.0


@dataclass
class WorkloadConfig:
    step_seconds: float | None = 10.0  # set: a fixed step time; null: from the model
    jitter_cv: float = 0.0  # per-GPU step-time noise (coefficient of variation)
    model: ModelConfig | None = None
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    overlap: OverlapConfig = field(default_factory=OverlapConfig)
    global_batch_tokens: float | None = None
    precision: str = "bf16"  # bf16 | fp8: the accelerator's peak and narrower collectives
    train_tokens: float | None = None  # the training budget in tokens (needs a model)
    train_steps: float | None = None  # or in steps (any workload)


@dataclass
class Config:
    name: str = "run"
    seed: int = 0
    replicates: int = 1
    first_replicate: int = 0  # replicate numbers run: first_replicate .. + replicates - 1
    horizon_days: float = 30.0
    work_hours: float | None = None
    max_horizon_days: float = 3650.0
    max_gpus: int = 262144  # cluster.gpus + spares at most this (simulator/config/bounds.py)
    events: bool = False  # also write events.csv: every failure, recovery and drain
    timeline: bool = False  # also write timeline.json (trace events) and timeline.png
    mode: str = "segments"  # segments: events per checkpoint; steps: an event per step
    max_events: float = DEFAULT_MAX_EVENTS  # work budget: refuse runs estimated above it
    storage: StorageConfig = field(default_factory=StorageConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    failures: FailuresConfig = field(default_factory=FailuresConfig)
    # the option's schema (simulator/config/checkpoint.py): CheckpointConfig or a subclass
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    # the option's schema (simulator/config/restart.py): RestartConfig or a subclass
    restart: RestartConfig = field(default_factory=RestartConfig)
    topology: TopologyConfig = field(default_factory=TopologyConfig)
    efficiency: EfficiencyConfig = field(default_factory=EfficiencyConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)


def register_schemas() -> None:
    """Make `base_config` available to the defaults list of `scenarios/config.yaml`, and
    every checkpoint and restart option's schema to its YAML."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)
    register_checkpoint_schemas(store)
    register_restart_schemas(store)


register_schemas()
