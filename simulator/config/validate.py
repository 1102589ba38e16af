"""Validation: a composed Hydra config -> a `StudySpec`, every value checked.

`to_spec` checks a composed config once, at the boundary, against the schemas of
simulator/config/schema.py and converts it to SI units; every problem becomes a
`ConfigError` naming the key, the bad value and what is allowed. Nothing here builds a
graph: the step profile, failure domains, link slowdown and model-driven checkpoint
interval are elaboration's (simulator/elaborate.py), so every check that needs no graph
runs before any expensive work. The Scenario the model runs is
`elaborate(to_spec(cfg))` (the entry points: simulator/api.py, simulator/__main__.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from simulator.config.bounds import check_bounds
from simulator.config.checkpoint import SCHEMAS as CHECKPOINT_SCHEMAS
from simulator.config.checkpoint import CheckpointConfig, check_schema
from simulator.config.explain import (
    blame_override,
    config_error_from,
    known_keys_note,
    null_parent,
)
from simulator.config.failures import check_links, failures_from, warn_trace_beyond
from simulator.config.overrides import as_typed, check_overrides
from simulator.config.power import cap_factor, floor_from, power_from, smoothing_from
from simulator.config.restart import SCHEMAS as RESTART_SCHEMAS
from simulator.config.restart import RestartConfig, restart_spec
from simulator.config.schema import (
    ClusterConfig,
    Config,
    StorageConfig,
    WorkloadConfig,
)
from simulator.config.storage import checkpoint_bytes, derived_s, restore_s, storage_from
from simulator.config.topology import fabric_from
from simulator.config.workload import (
    check_fixed_step,
    check_memory,
    peak_of,
    workload_from,
)
from simulator.errors import (
    ConfigError,
    require_non_negative,
    require_one_of,
    require_positive,
)
from simulator.fabric.hardware import ACCELERATORS
from simulator.reliability.checkpoint_policies import CHECKPOINT_POLICIES
from simulator.reliability.failures import FailureModel
from simulator.reliability.jitter import StepJitter
from simulator.reliability.scenario import MAX_EVENTS_CEILING, ClusterSpec
from simulator.reliability.study import CheckpointChoice, StudySpec
from simulator.units import DAY, HOUR, MINUTE

MODES = ("segments", "steps")


def config_dir() -> Path:
    """The Hydra config root: `scenarios/` in a checkout, or shipped inside the package."""
    here = Path(__file__).resolve().parents[1]  # the simulator package
    for candidate in (here.parent / "scenarios", here / "scenarios"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no scenarios/config.yaml next to {here}")


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


def _checkpoint(c: CheckpointConfig, failures: FailureModel, cluster: ClusterSpec,
                size: float | None, storage: StorageConfig) -> CheckpointChoice:
    """The policy and its costs; the interval a model-driven policy chooses is resolved
    at elaboration, from the failure model with its domains."""
    require_one_of("checkpoint.policy", c.policy, CHECKPOINT_POLICIES)
    write_s = derived_s("checkpoint.write_minutes", c.write_minutes, size,
                        "write_gb_per_s", storage, cluster.nodes)
    load_s = derived_s("checkpoint.load_minutes", c.load_minutes, size,
                       "read_gb_per_s", storage, cluster.nodes) + restore_s(storage)
    check_schema(c)
    own = c.policy_fields()
    keep, keep_every = c.retention(failures.has_sdc)
    if CHECKPOINT_POLICIES[c.policy].model_driven:
        if c.interval_minutes is not None:
            raise ConfigError("checkpoint.interval_minutes", c.interval_minutes,
                              f"is chosen by checkpoint={c.policy}; leave it null, or use "
                              "checkpoint=fixed to set it")
        require_positive("checkpoint.write_minutes", write_s)
    else:
        require_positive("checkpoint.interval_minutes", c.interval_minutes)
    derived = c.write_minutes is None or c.load_minutes is None
    choice = CheckpointChoice(c.policy, None if c.interval_minutes is None
                              else c.interval_minutes * MINUTE, write_s, load_s,
                              size_bytes=size if derived else None,
                              own=tuple(sorted(own.items())),
                              keep=keep, keep_every=keep_every)
    if not failures.graph_scopes:  # the job's MTBI is final: a policy that cannot choose
        choice.resolve(failures.job_mtbi_s(cluster.nodes, cluster.gpus_per_node))  # fails now
    return choice


def validate(cfg: Config) -> StudySpec:
    """Check every value of `cfg` and convert it to a StudySpec in seconds."""
    check_bounds(cfg)
    if cfg.seed < 0:
        raise ConfigError("seed", cfg.seed, "must be zero or a positive integer")
    require_positive("replicates", cfg.replicates)
    require_non_negative("first_replicate", cfg.first_replicate)
    require_positive("horizon_days", cfg.horizon_days)
    require_positive("work_hours", cfg.work_hours, optional=True)
    require_positive("max_horizon_days", cfg.max_horizon_days)
    require_positive("max_gpus", cfg.max_gpus)
    check_run_length(cfg)
    require_positive("workload.step_seconds", cfg.workload.step_seconds,
                     optional=cfg.workload.model is not None)
    cluster = _cluster(cfg.cluster)
    failures = failures_from(cfg.failures, cluster)
    warn_trace_beyond(failures, *((cfg.horizon_days * DAY, "horizon_days")
                                  if cfg.work_hours is None
                                  else (cfg.max_horizon_days * DAY, "max_horizon_days")))
    accelerator = ACCELERATORS[cluster.accelerator]
    fabric = fabric_from(cfg.topology, cfg.efficiency, cluster, accelerator)
    workload = peak = attention_peak = None
    if cfg.workload.model is not None:
        workload = workload_from(cfg.workload, cluster, accelerator.scaleup_domain)
        check_memory(workload, accelerator)
        peak = peak_of(cluster.accelerator, workload.precision)
        attention_peak = peak_of(cluster.accelerator, "bf16")
    else:
        check_fixed_step(cfg.workload)
    require_one_of("mode", cfg.mode, MODES)
    if not 1 <= cfg.max_events <= MAX_EVENTS_CEILING:  # the work budget (nan fails too)
        raise ConfigError("max_events", cfg.max_events, f"must be a number of SimPy events "
                          f"from 1 to {MAX_EVENTS_CEILING:.0e}")
    jitter = _jitter(cfg.workload.jitter_cv, cluster.gpus)
    check_links(failures, workload is not None)
    train_tokens, train_steps = _train_budget(cfg.workload)
    return StudySpec(
        seed=cfg.seed,
        replicates=cfg.replicates,
        first_replicate=cfg.first_replicate,
        horizon_s=cfg.horizon_days * DAY,
        work_s=None if cfg.work_hours is None else cfg.work_hours * HOUR,
        max_horizon_s=cfg.max_horizon_days * DAY,
        step_level=cfg.mode == "steps",
        jitter=jitter,
        cluster=cluster,
        failures=failures,
        checkpoint=_checkpoint(cfg.checkpoint, failures, cluster,
                               checkpoint_bytes(workload, cfg.storage), cfg.storage),
        restart=restart_spec(cfg.restart, cluster, None if workload is None else
                             cluster.gpus // workload.parallel.dp),
        fabric=fabric,
        nodes_per_rack=cfg.topology.nodes_per_rack,
        workload=workload,
        fixed_step_s=cfg.workload.step_seconds,
        compute_efficiency=cfg.efficiency.compute,
        peak_flops=peak,
        attention_peak_flops=attention_peak,
        train_tokens=train_tokens,
        train_steps=train_steps,
        max_events=float(cfg.max_events),
        power=power_from(cfg.power, cluster.accelerator, cluster.gpus_per_node),
        swing_threshold_w=cfg.power.swing_threshold_mw * 1e6,
        power_series=cfg.power.series,
        timeline=cfg.timeline,
        cap_fraction=cfg.power.cap_fraction,
        cap_slowdown=cap_factor(cfg.power, cluster.accelerator),
        mw_budget_w=_mw_budget(cfg.power.mw_budget),
        floor_share=floor_from(cfg.power),
        smoothing=smoothing_from(cfg.power),
        storage=storage_from(cfg.storage, cluster.nodes, workload, cfg.checkpoint.policy,
                             cfg.mode == "steps"),
    )


def _mw_budget(mw: float | None) -> float | None:
    """`power.mw_budget` in watts (None: no budget)."""
    require_positive("power.mw_budget", mw, optional=True)
    if mw is not None and not math.isfinite(mw):
        raise ConfigError("power.mw_budget", mw, "must be a finite number of MW, or null")
    return None if mw is None else mw * 1e6


def check_run_length(cfg: Config) -> None:
    """`work_hours` replaces `horizon_days` (the run lasts until that much work is done,
    at most `max_horizon_days`): both set is an error, not a silent choice; and a step
    must be able to finish within the run."""
    default_days = Config().horizon_days
    if cfg.work_hours is not None:
        if cfg.horizon_days != default_days:
            raise ConfigError("horizon_days", cfg.horizon_days,
                              f"is not used with work_hours={cfg.work_hours:g} (the run lasts "
                              "until that much work is done, at most max_horizon_days); leave "
                              f"horizon_days at {default_days:g} or set work_hours=null")
        if cfg.work_hours > cfg.max_horizon_days * 24:
            raise ConfigError("work_hours", cfg.work_hours,
                              f"must be at most max_horizon_days x 24 = "
                              f"{cfg.max_horizon_days * 24:g} h (the run gives up after "
                              "max_horizon_days; raise it for more)")
    step = cfg.workload.step_seconds
    if step is not None and cfg.workload.model is None:
        run_key, run_s = (("horizon_days", cfg.horizon_days * DAY) if cfg.work_hours is None
                          else ("max_horizon_days", cfg.max_horizon_days * DAY))
        if step > run_s:
            raise ConfigError("workload.step_seconds", step,
                              f"must be shorter than the run ({run_key}: {run_s:g} s): no "
                              "step could finish")


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


def _jitter(cv: float, gpus: int) -> StepJitter | None:
    if not (math.isfinite(cv) and 0 <= cv <= 1):
        raise ConfigError("workload.jitter_cv", cv, "must be in [0, 1] (0: no jitter)")
    return StepJitter(cv, gpus) if cv > 0 else None


def to_spec(cfg: DictConfig, overrides: Sequence[str] = ()) -> StudySpec:
    """A composed Hydra config -> a validated StudySpec (raises ConfigError).

    `overrides`, as typed, are checked for what composing cannot keep (a boolean given
    `2`, a deleted key) and shown as typed in errors (simulator/config/overrides.py)."""
    check_overrides(overrides, Config)
    try:
        return _to_spec(cfg)
    except ConfigError as error:
        raise as_typed(error, overrides) from None


def _to_spec(cfg: DictConfig) -> StudySpec:
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
        return as_typed(exc, overrides)
    try:
        check_overrides(overrides, Config)  # a deleted key or a non-boolean boolean
    except ConfigError as error:
        return error
    error = (blame_override(overrides, exc) or null_parent(overrides, exc, Config)
             or _name_owner(config_error_from(exc, Config)))
    return as_typed(error, overrides)


#: The config groups whose options bring keys of their own: group -> (the keys every
#: option has, each option's schema).
OPTION_SCHEMAS = {"checkpoint": (CheckpointConfig, CHECKPOINT_SCHEMAS),
                  "restart": (RestartConfig, RESTART_SCHEMAS)}


def owner_of(key: str) -> str | None:
    """'restart=per_replica' for 'restart.replica_stall_minutes': the option whose own
    key it is (None if `key` is no option's own)."""
    group, _, leaf = key.partition(".")
    if group not in OPTION_SCHEMAS:
        return None
    base, schemas = OPTION_SCHEMAS[group]
    common = {f.name for f in dataclasses.fields(base)}
    for name, schema in schemas.items():
        if leaf in {f.name for f in dataclasses.fields(schema)} - common:
            return f"{group}={name}"
    return None


def _name_owner(error: ConfigError) -> ConfigError:
    """An unknown key that is another checkpoint or restart option's own: say whose."""
    if not error.allowed.startswith("unknown key"):
        return error
    if error.key == "restart.elastic":  # a key before restart policies had schemas
        return ConfigError(error.key, error.value, "is now a restart option: choose "
                           "restart=elastic (and leave restart.elastic out)")
    owner = owner_of(error.key)
    if owner is None:
        if error.key.startswith("checkpoint."):
            return ConfigError(error.key, error.value, f"{error.allowed}; and each "
                               "option's own (scenarios/checkpoint/<option>.yaml)")
        return error
    return ConfigError(error.key, error.value,
                       f"is only used by {owner}; leave it out (or choose {owner})")
