"""Configuration: Hydra schemas, validation, and conversion to a `Scenario`.

The YAML files under `scenarios/` are typed by the dataclasses below (registered in
Hydra's ConfigStore as `base_config`). `to_scenario` validates a composed config once,
at the boundary, and converts it to SI units; every problem becomes a `ConfigError`
naming the key, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from simulator.config_checkpoint import (
    CheckpointConfig,
    check_schema,
    owner_of,
    register_checkpoint_schemas,
)
from simulator.config_failures import failures_from, needs_topology, with_domains
from simulator.config_topology import fabric_from
from simulator.config_workload import (
    check_fixed_step,
    check_memory,
    peak_of,
    workload_from,
)
from simulator.errors import (
    ConfigError,
    blame_override,
    config_error_from,
    known_keys_note,
    require_non_negative,
    require_one_of,
    require_positive,
)
from simulator.failures import FailureModel
from simulator.hardware import ACCELERATORS
from simulator.jitter import StepJitter
from simulator.policies import CHECKPOINT_POLICIES
from simulator.scenario import CheckpointSpec, ClusterSpec, FabricSpec, RestartSpec, Scenario
from simulator.units import DAY, GB, HOUR, MINUTE
from simulator.workload import StepProfile, Workload

MODES = ("segments", "steps")


def config_dir() -> Path:
    """The Hydra config root: `scenarios/` in a checkout, or shipped inside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "scenarios", here / "scenarios"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no scenarios/config.yaml next to {here}")


# ---- schemas (what a user may set; units as in the key names) --------------------------


@dataclass
class ClusterConfig:
    accelerator: str = "H100"
    gpus: int = 1024
    gpus_per_node: int = 8
    spare_nodes: int | None = None  # set: the spare pool, in nodes (wins over the fraction)
    spare_fraction: float | None = 0.03125  # else: ceil(this x the job's nodes) spare nodes
    gpu_hour_usd: float | None = None  # what one GPU-hour costs (null: the catalog's price
    # for cluster.accelerator, simulator/hardware.py; no cost columns if it has none)
    pue: float = 1.0  # power usage effectiveness: facility energy / IT energy


@dataclass
class FailuresConfig:
    kind: str = "exponential"
    gpu_mtbf_hours: float | None = None
    node_mtbf_hours: float | None = None
    shape: float = 1.0
    # name -> {scope: gpu|node|switch|rack|scaleup|job|link, mtbf_hours: per unit (job:
    # per GPU), category, repair_hours (optional)}; switch, rack, scaleup and link units
    # come from the topology graph (simulator/domains.py)
    components: dict[str, Any] = field(default_factory=dict)
    planned_per_day: float = 0.0
    trace_path: str | None = None  # failures=trace: replay this CSV (simulator/trace.py)
    trace_replicate: int = 0  # which replicate's rows of a trace that has several
    lemon_fraction: float = 0.0  # share of nodes whose parts fail lemon_factor x as often
    lemon_factor: float = 1.0
    lemon_retire_after: int | None = None  # retire a node after this many failures...
    lemon_window_hours: float = 720.0  # ... within this window (null above: never)
    infant_factor: float = 1.0  # a repaired part's hazard multiplier...
    infant_hours: float = 0.0  # ... for this long after its repair
    straggler_mtbf_hours: float | None = None  # per GPU: mean time until it turns slow
    straggler_slowdown: float = 1.5  # step time factor while a straggler is in the job
    straggler_detect_hours: float = 2.0  # mean time to find it (then swapped at a checkpoint)


@dataclass
class RestartConfig:
    detect_minutes: float = 5.0
    restart_minutes: float = 10.0
    repair_hours: float = 24.0
    init_seconds_per_1k_gpus: float = 0.0  # restart grows with the job (NCCL init)
    detect_seconds_per_1k_gpus: float = 0.0  # detection grows with the job (health checks)
    manual_probability: float = 0.0
    manual_repair_hours: float = 72.0
    repair_failure_probability: float = 0.0
    elastic: bool = False


@dataclass
class TopologyConfig:
    """The network. A key the builder `kind` does not take stays null (an error if set);
    null on a key it takes means the builder's default (simulator/config_topology.py)."""

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
class StorageConfig:
    write_gb_per_s: float = 2000.0  # the storage system, shared by every writer
    read_gb_per_s: float = 7000.0
    node_gb_per_s: float = 50.0  # each node's path to storage (frontend NICs)
    bytes_per_param: float = 14.0  # bf16 weights + fp32 master, Adam m and v


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
    events: bool = False  # also write events.csv: every failure, recovery and drain
    mode: str = "segments"  # segments: events per checkpoint; steps: an event per step
    storage: StorageConfig = field(default_factory=StorageConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    failures: FailuresConfig = field(default_factory=FailuresConfig)
    # the option's schema (simulator/config_checkpoint.py): CheckpointConfig or a subclass
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    restart: RestartConfig = field(default_factory=RestartConfig)
    topology: TopologyConfig = field(default_factory=TopologyConfig)
    efficiency: EfficiencyConfig = field(default_factory=EfficiencyConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)


def register_schemas() -> None:
    """Make `base_config` available to the defaults list of `scenarios/config.yaml`, and
    every checkpoint option's schema to its YAML."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)
    register_checkpoint_schemas(store)


register_schemas()


# ---- validation ---------------------------------------------------------------------------


def _cluster(c: ClusterConfig) -> ClusterSpec:
    require_one_of("cluster.accelerator", c.accelerator, ACCELERATORS)
    require_positive("cluster.gpus_per_node", c.gpus_per_node)
    require_positive("cluster.gpus", c.gpus)
    if c.gpus % c.gpus_per_node:
        raise ConfigError("cluster.gpus", c.gpus,
                          f"must be a multiple of cluster.gpus_per_node={c.gpus_per_node}")
    spare_nodes, spare_fraction = _spares(c, c.gpus // c.gpus_per_node)
    require_non_negative("cluster.gpu_hour_usd", c.gpu_hour_usd, optional=True)
    if not c.pue >= 1.0:
        raise ConfigError("cluster.pue", c.pue, "must be 1.0 or more (facility / IT energy)")
    # the price follows the accelerator (a preset's own price would survive an override
    # of cluster.accelerator and price a B200 as an H100) unless it is set explicitly
    price = c.gpu_hour_usd if c.gpu_hour_usd is not None else ACCELERATORS[c.accelerator].hour_usd
    return ClusterSpec(c.accelerator, c.gpus, c.gpus_per_node, spare_nodes,
                       price, c.pue, spare_fraction)


def _spares(c: ClusterConfig, nodes: int) -> tuple[int, float | None]:
    """(spare nodes, the fraction they came from or None): an explicit
    `cluster.spare_nodes` wins; else ceil(`cluster.spare_fraction` x the job's nodes)."""
    if c.spare_nodes is not None:
        if c.spare_nodes < 0:
            raise ConfigError("cluster.spare_nodes", c.spare_nodes, "must be zero or more")
        return c.spare_nodes, None
    if c.spare_fraction is None:
        raise ConfigError("cluster.spare_nodes", None, "set cluster.spare_nodes (a count) or "
                          "cluster.spare_fraction (a share of the job's nodes); 0 for no spares")
    if not (math.isfinite(c.spare_fraction) and 0 <= c.spare_fraction <= 1):
        raise ConfigError("cluster.spare_fraction", c.spare_fraction,
                          "must be in [0, 1] (a share of the job's nodes), or null to give "
                          "cluster.spare_nodes")
    # the tolerance keeps an exact share (4 of 128 = 0.03125) from rounding up to 5
    return math.ceil(nodes * c.spare_fraction - 1e-9), c.spare_fraction


def _checkpoint_bytes(workload: Workload | None, storage: StorageConfig) -> float | None:
    """Checkpoint size: every parameter's weights and optimizer state, each shard once."""
    require_positive("storage.bytes_per_param", storage.bytes_per_param)
    return None if workload is None else workload.model.params * storage.bytes_per_param


def _transfer_s(key: str, size: float | None, system_gb_per_s: float,
                storage: StorageConfig, nodes: int) -> float:
    """Seconds to move `size` bytes: the storage system or the nodes' paths, the slower."""
    if size is None:
        raise ConfigError(key, None, "null derives it from the model's size; that needs a "
                          "workload with a model (e.g. workload=llama3_405b)")
    require_positive("storage.node_gb_per_s", storage.node_gb_per_s)
    return size / (min(system_gb_per_s, nodes * storage.node_gb_per_s) * GB)


def _checkpoint(c: CheckpointConfig, failures: FailureModel, cluster: ClusterSpec,
                size: float | None, storage: StorageConfig) -> CheckpointSpec:
    require_one_of("checkpoint.policy", c.policy, CHECKPOINT_POLICIES)
    require_positive("storage.write_gb_per_s", storage.write_gb_per_s)
    require_positive("storage.read_gb_per_s", storage.read_gb_per_s)
    if c.write_minutes is None:
        write_s = _transfer_s("checkpoint.write_minutes", size, storage.write_gb_per_s,
                              storage, cluster.nodes)
    else:
        require_non_negative("checkpoint.write_minutes", c.write_minutes)
        write_s = c.write_minutes * MINUTE
    if c.load_minutes is None:
        load_s = _transfer_s("checkpoint.load_minutes", size, storage.read_gb_per_s,
                             storage, cluster.nodes)
    else:
        require_non_negative("checkpoint.load_minutes", c.load_minutes)
        load_s = c.load_minutes * MINUTE
    mtbi_s = failures.job_mtbi_s(cluster.nodes, cluster.gpus_per_node)
    check_schema(c)
    own = c.policy_fields()
    if c.policy == "adaptive":  # the prior, or the failure model's MTBI, starts it
        mtbi_s = own.setdefault("prior_mtbi_s", mtbi_s)
    policy = CHECKPOINT_POLICIES[c.policy]
    if policy.model_driven:
        if c.interval_minutes is not None:
            raise ConfigError("checkpoint.interval_minutes", c.interval_minutes,
                              f"is chosen by checkpoint={c.policy}; leave it null, or use "
                              "checkpoint=fixed to set it")
        if not math.isfinite(mtbi_s):
            raise ConfigError("checkpoint.policy", c.policy,
                              "needs failures to choose an interval; with failures=none "
                              "use checkpoint=fixed")
        require_positive("checkpoint.write_minutes", write_s)
    else:
        require_positive("checkpoint.interval_minutes", c.interval_minutes)
    configured = None if c.interval_minutes is None else c.interval_minutes * MINUTE
    interval_s = policy.choose_interval(configured, write_s, mtbi_s)
    derived = c.write_minutes is None or c.load_minutes is None
    return CheckpointSpec(c.policy, interval_s, write_s, load_s,
                          size_bytes=size if derived else None, **own)


def _restart(r: RestartConfig, cluster: ClusterSpec) -> RestartSpec:
    require_non_negative("restart.detect_minutes", r.detect_minutes)
    require_non_negative("restart.restart_minutes", r.restart_minutes)
    require_non_negative("restart.repair_hours", r.repair_hours)
    require_non_negative("restart.init_seconds_per_1k_gpus", r.init_seconds_per_1k_gpus)
    require_non_negative("restart.detect_seconds_per_1k_gpus", r.detect_seconds_per_1k_gpus)
    require_non_negative("restart.manual_repair_hours", r.manual_repair_hours)
    for key in ("manual_probability", "repair_failure_probability"):
        value = getattr(r, key)
        if not 0 <= value < 1:
            raise ConfigError(f"restart.{key}", value, "must be in [0, 1)")
    thousands = cluster.gpus / 1000
    detect_s = r.detect_minutes * MINUTE + r.detect_seconds_per_1k_gpus * thousands
    restart_s = r.restart_minutes * MINUTE + r.init_seconds_per_1k_gpus * thousands
    return RestartSpec(detect_s, restart_s, r.repair_hours * HOUR,
                       r.manual_probability, r.manual_repair_hours * HOUR,
                       r.repair_failure_probability, r.elastic)


def validate(cfg: Config) -> Scenario:
    """Check every value of `cfg` and convert it to a Scenario in seconds."""
    if cfg.seed < 0:
        raise ConfigError("seed", cfg.seed, "must be zero or a positive integer")
    require_positive("replicates", cfg.replicates)
    require_non_negative("first_replicate", cfg.first_replicate)
    require_positive("horizon_days", cfg.horizon_days)
    require_positive("work_hours", cfg.work_hours, optional=True)
    require_positive("max_horizon_days", cfg.max_horizon_days)
    require_positive("workload.step_seconds", cfg.workload.step_seconds,
                     optional=cfg.workload.model is not None)
    cluster = _cluster(cfg.cluster)
    failures = failures_from(cfg.failures, cluster)
    accelerator = ACCELERATORS[cluster.accelerator]
    fabric = fabric_from(cfg.topology, cfg.efficiency, cluster, accelerator)
    workload = None
    if cfg.workload.model is not None:
        workload = workload_from(cfg.workload, cluster, accelerator.scaleup_domain)
        check_memory(workload, accelerator)
    else:
        check_fixed_step(cfg.workload)
    profile = _step_profile(workload, fabric, cluster, cfg)
    require_one_of("mode", cfg.mode, MODES)
    jitter = _jitter(cfg.workload.jitter_cv, cluster.gpus)
    if needs_topology(failures):
        failures = _with_domains(failures, fabric, workload, cluster, cfg)
    step_s = profile.step_s if cfg.workload.step_seconds is None else cfg.workload.step_seconds
    train_tokens, train_steps = _train_budget(cfg.workload)
    if jitter is not None:  # the mean step waits for the slowest GPU
        step_s *= jitter.expected_max
    return Scenario(
        seed=cfg.seed,
        replicates=cfg.replicates,
        first_replicate=cfg.first_replicate,
        horizon_s=cfg.horizon_days * DAY,
        work_s=None if cfg.work_hours is None else cfg.work_hours * HOUR,
        max_horizon_s=cfg.max_horizon_days * DAY,
        step_s=step_s,
        step_level=cfg.mode == "steps",
        jitter=jitter,
        cluster=cluster,
        failures=failures,
        checkpoint=_checkpoint(cfg.checkpoint, failures, cluster,
                               _checkpoint_bytes(workload, cfg.storage), cfg.storage),
        restart=_restart(cfg.restart, cluster),
        fabric=fabric,
        workload=workload,
        profile=profile,
        train_tokens=train_tokens,
        train_steps=train_steps,
    )


def _train_budget(w: WorkloadConfig) -> tuple[float | None, float | None]:
    """The training budget: tokens (a model workload) or steps (any), at most one."""
    require_positive("workload.train_tokens", w.train_tokens, optional=True)
    require_positive("workload.train_steps", w.train_steps, optional=True)
    if w.train_tokens is not None and w.train_steps is not None:
        raise ConfigError("workload.train_steps", w.train_steps,
                          f"set either workload.train_tokens={w.train_tokens:g} or "
                          "workload.train_steps, not both (null the other)")
    if w.train_tokens is not None and w.model is None:
        raise ConfigError("workload.train_tokens", w.train_tokens,
                          "needs a model workload (tokens per step); for a fixed-step "
                          "workload give the budget as workload.train_steps")
    return w.train_tokens, w.train_steps


def _step_profile(workload: Workload | None, fabric: FabricSpec, cluster: ClusterSpec,
                  cfg: Config) -> StepProfile | None:
    """The fabric-driven step profile, or None for a fixed-step workload."""
    if workload is None:
        return None
    from simulator import stepmodel  # the fabric machinery, only when a workload needs it

    peak = peak_of(cluster.accelerator, workload.precision)
    try:
        return stepmodel.profile(workload, fabric, cluster.gpus_per_node, peak,
                                 cfg.efficiency.compute, peak_of(cluster.accelerator, "bf16"))
    except ValueError as exc:  # the topology cannot be built or routed as configured
        raise ConfigError("topology", cfg.topology.kind, str(exc)) from None


def _jitter(cv: float, gpus: int) -> StepJitter | None:
    if not (math.isfinite(cv) and 0 <= cv <= 1):
        raise ConfigError("workload.jitter_cv", cv, "must be in [0, 1] (0: no jitter)")
    return StepJitter(cv, gpus) if cv > 0 else None


def _with_domains(failures: FailureModel, fabric: FabricSpec, workload: Workload | None,
                  cluster: ClusterSpec, cfg: Config) -> FailureModel:
    """Failure domains (switch, rack, scale-up, links) from the job's topology graph."""
    from simulator import stepmodel

    try:
        graph = stepmodel.fabric_graph(fabric, cluster.gpus)
    except ValueError as exc:
        raise ConfigError("topology", cfg.topology.kind, str(exc)) from None
    slowdown = None
    if workload is not None:
        peak = peak_of(cluster.accelerator, workload.precision)
        slowdown = partial(stepmodel.link_slowdown, workload, fabric, cluster.gpus_per_node,
                           peak, cfg.efficiency.compute, peak_of(cluster.accelerator, "bf16"))
    return with_domains(failures, graph, cfg.topology.nodes_per_rack,
                        cluster.nodes + cluster.spare_nodes, slowdown, cfg.topology.kind)


def to_scenario(cfg: DictConfig) -> Scenario:
    """A composed Hydra config -> a validated Scenario (raises ConfigError)."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    check_no_extra_keys(cfg)
    try:
        obj = OmegaConf.to_object(cfg)
    except Exception as exc:  # missing (???) values and late type errors
        raise _name_owner(config_error_from(exc, Config)) from None
    if not isinstance(obj, Config):
        raise ConfigError("defaults", "?", "the primary config must use base_config")
    return validate(obj)


def check_no_extra_keys(cfg: DictConfig) -> None:
    """Reject keys the schema does not know (e.g. a typo added with `+`)."""
    def walk(node: DictConfig, schema: Any, prefix: str) -> None:
        fields = {f.name: f for f in dataclasses.fields(schema)}
        for key in node:
            full = f"{prefix}{key}"
            if key not in fields:
                raise _name_owner(ConfigError(
                    full, node[key] if OmegaConf.is_missing(node, key) is False else "???",
                    f"unknown key; {known_keys_note(full, Config)}"))
            sub = fields[key].default_factory
            if dataclasses.is_dataclass(sub) and isinstance(node[key], DictConfig):
                typed = OmegaConf.get_type(node[key])  # a group option's own schema
                walk(node[key], typed if dataclasses.is_dataclass(typed) else sub, f"{full}.")

    walk(cfg, Config, "")


def explain(exc: BaseException, overrides: list[str]) -> ConfigError:
    """Any error raised while composing `overrides` as the one-line ConfigError for it."""
    if isinstance(exc, ConfigError):
        return exc
    return blame_override(overrides, exc) or _name_owner(config_error_from(exc, Config))


def _name_owner(error: ConfigError) -> ConfigError:
    """An unknown key that is another checkpoint option's own: say whose it is."""
    if not error.allowed.startswith("unknown key"):
        return error
    owner = owner_of(error.key)
    if owner is None:
        if error.key.startswith("checkpoint."):
            return ConfigError(error.key, error.value, f"{error.allowed}; and each "
                               "option's own (scenarios/checkpoint/<option>.yaml)")
        return error
    return ConfigError(error.key, error.value,
                       f"is only used by checkpoint={owner}; leave it out (or choose "
                       f"checkpoint={owner})")
