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
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from simulator.errors import ConfigError, blame_override, config_error_from, known_keys_note
from simulator.failures import LIFETIME_KINDS, NO_FAILURES, FailureModel, make_lifetime
from simulator.hardware import ACCELERATORS
from simulator.policies import CHECKPOINT_POLICIES
from simulator.scenario import CheckpointSpec, ClusterSpec, RestartSpec, Scenario

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
FAILURE_KINDS = ("none", *LIFETIME_KINDS)


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
    spare_nodes: int = 4


@dataclass
class FailuresConfig:
    kind: str = "exponential"
    gpu_mtbf_hours: float | None = None
    node_mtbf_hours: float | None = None
    shape: float = 1.0


@dataclass
class CheckpointConfig:
    policy: str = "fixed"
    interval_minutes: float | None = 60.0
    write_minutes: float = 5.0
    load_minutes: float = 5.0


@dataclass
class RestartConfig:
    detect_minutes: float = 5.0
    restart_minutes: float = 10.0
    repair_hours: float = 24.0


@dataclass
class WorkloadConfig:
    step_seconds: float = 10.0


@dataclass
class Config:
    name: str = "run"
    seed: int = 0
    replicates: int = 1
    horizon_days: float = 30.0
    work_hours: float | None = None
    max_horizon_days: float = 3650.0
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    failures: FailuresConfig = field(default_factory=FailuresConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    restart: RestartConfig = field(default_factory=RestartConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)


def register_schemas() -> None:
    """Make `base_config` available to the defaults list of `scenarios/config.yaml`."""
    ConfigStore.instance().store(name="base_config", node=Config)


register_schemas()


# ---- validation ---------------------------------------------------------------------------


def _positive(key: str, value: float | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or not math.isfinite(value) or value <= 0:
        kind = "integer" if isinstance(value, int) else "number"
        suffix = " (or null)" if optional else ""
        raise ConfigError(key, value, f"must be a positive {kind}{suffix}")


def _non_negative(key: str, value: float) -> None:
    if value is None or not math.isfinite(value) or value < 0:
        raise ConfigError(key, value, "must be zero or a positive number")


def _one_of(key: str, value: str, allowed: Any) -> None:
    if value not in allowed:
        raise ConfigError(key, value, f"must be one of {', '.join(allowed)}")


def _cluster(c: ClusterConfig) -> ClusterSpec:
    _one_of("cluster.accelerator", c.accelerator, ACCELERATORS)
    _positive("cluster.gpus_per_node", c.gpus_per_node)
    _positive("cluster.gpus", c.gpus)
    if c.gpus % c.gpus_per_node:
        raise ConfigError("cluster.gpus", c.gpus,
                          f"must be a multiple of cluster.gpus_per_node={c.gpus_per_node}")
    if c.spare_nodes < 0:
        raise ConfigError("cluster.spare_nodes", c.spare_nodes, "must be zero or more")
    return ClusterSpec(c.accelerator, c.gpus, c.gpus_per_node, c.spare_nodes)


def _failures(f: FailuresConfig) -> FailureModel:
    _one_of("failures.kind", f.kind, FAILURE_KINDS)
    if f.kind == "none":
        for key in ("gpu_mtbf_hours", "node_mtbf_hours"):
            if getattr(f, key) is not None:
                raise ConfigError(f"failures.{key}", getattr(f, key),
                                  "must be null with failures=none (choose failures="
                                  "exponential or weibull to set a rate)")
        return NO_FAILURES
    _positive("failures.gpu_mtbf_hours", f.gpu_mtbf_hours, optional=True)
    _positive("failures.node_mtbf_hours", f.node_mtbf_hours, optional=True)
    _positive("failures.shape", f.shape)

    def lifetime(mtbf_hours: float | None):
        return None if mtbf_hours is None else make_lifetime(f.kind, mtbf_hours * HOUR, f.shape)

    return FailureModel(kind=f.kind, gpu=lifetime(f.gpu_mtbf_hours),
                        node=lifetime(f.node_mtbf_hours))


def _checkpoint(c: CheckpointConfig, failures: FailureModel,
                cluster: ClusterSpec) -> CheckpointSpec:
    _one_of("checkpoint.policy", c.policy, CHECKPOINT_POLICIES)
    _non_negative("checkpoint.write_minutes", c.write_minutes)
    _non_negative("checkpoint.load_minutes", c.load_minutes)
    write_s = c.write_minutes * MINUTE
    mtbi_s = failures.job_mtbi_s(cluster.nodes, cluster.gpus_per_node)
    if c.policy == "fixed":
        _positive("checkpoint.interval_minutes", c.interval_minutes)
    else:
        if c.interval_minutes is not None:
            raise ConfigError("checkpoint.interval_minutes", c.interval_minutes,
                              f"is chosen by checkpoint={c.policy}; leave it null, or use "
                              "checkpoint=fixed to set it")
        if not math.isfinite(mtbi_s):
            raise ConfigError("checkpoint.policy", c.policy,
                              "needs failures to choose an interval; with failures=none "
                              "use checkpoint=fixed")
        _positive("checkpoint.write_minutes", c.write_minutes)
    configured = None if c.interval_minutes is None else c.interval_minutes * MINUTE
    interval_s = CHECKPOINT_POLICIES[c.policy](configured, write_s, mtbi_s)
    return CheckpointSpec(c.policy, interval_s, write_s, c.load_minutes * MINUTE)


def _restart(r: RestartConfig) -> RestartSpec:
    _non_negative("restart.detect_minutes", r.detect_minutes)
    _non_negative("restart.restart_minutes", r.restart_minutes)
    _non_negative("restart.repair_hours", r.repair_hours)
    return RestartSpec(r.detect_minutes * MINUTE, r.restart_minutes * MINUTE,
                       r.repair_hours * HOUR)


def validate(cfg: Config) -> Scenario:
    """Check every value of `cfg` and convert it to a Scenario in seconds."""
    if cfg.seed < 0:
        raise ConfigError("seed", cfg.seed, "must be zero or a positive integer")
    _positive("replicates", cfg.replicates)
    _positive("horizon_days", cfg.horizon_days)
    _positive("work_hours", cfg.work_hours, optional=True)
    _positive("max_horizon_days", cfg.max_horizon_days)
    _positive("workload.step_seconds", cfg.workload.step_seconds)
    cluster = _cluster(cfg.cluster)
    failures = _failures(cfg.failures)
    return Scenario(
        seed=cfg.seed,
        replicates=cfg.replicates,
        horizon_s=cfg.horizon_days * DAY,
        work_s=None if cfg.work_hours is None else cfg.work_hours * HOUR,
        max_horizon_s=cfg.max_horizon_days * DAY,
        step_s=cfg.workload.step_seconds,
        cluster=cluster,
        failures=failures,
        checkpoint=_checkpoint(cfg.checkpoint, failures, cluster),
        restart=_restart(cfg.restart),
    )


def to_scenario(cfg: DictConfig) -> Scenario:
    """A composed Hydra config -> a validated Scenario (raises ConfigError)."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    check_no_extra_keys(cfg)
    try:
        obj = OmegaConf.to_object(cfg)
    except Exception as exc:  # missing (???) values and late type errors
        raise config_error_from(exc, Config) from None
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
                raise ConfigError(full, node[key] if OmegaConf.is_missing(node, key) is False
                                  else "???", f"unknown key; {known_keys_note(full, Config)}")
            sub = fields[key].default_factory
            if dataclasses.is_dataclass(sub) and isinstance(node[key], DictConfig):
                walk(node[key], sub, f"{full}.")

    walk(cfg, Config, "")


def explain(exc: BaseException, overrides: list[str]) -> ConfigError:
    """Any error raised while composing `overrides` as the one-line ConfigError for it."""
    if isinstance(exc, ConfigError):
        return exc
    return blame_override(overrides, exc) or config_error_from(exc, Config)
