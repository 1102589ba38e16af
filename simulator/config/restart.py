"""Restart configuration: one schema per recovery policy, and its validation.

Like the checkpoint options (simulator/config/checkpoint.py), every `restart=` option's
YAML (`scenarios/restart/<option>.yaml`) starts from its policy's schema,
`defaults: [/schema/restart/<policy>@_here_, _self_]`, registered in Hydra's ConfigStore
in the group `schema/restart`. A schema has the keys every policy has (`RestartConfig`:
detection, restart, repairs, in-process restart) plus its policy's own, so a key of
another policy is an error naming its owner: `restart.replica_stall_minutes` on
`restart=spare_swap` says it is only used by `restart=per_replica`.

Several options share a policy: `spare_swap`, `hot_spares` and `in_process` all restart
the whole job at full width (`full_width`), with different repair pipelines and
in-process restart on or off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore

from simulator.errors import ConfigError, require_non_negative, require_positive
from simulator.reliability.scenario import ClusterSpec, RestartSpec
from simulator.units import HOUR, MINUTE


@dataclass
class RestartConfig:
    """The keys every restart policy has; the whole schema of `full_width` and
    `elastic`."""

    # set by the option's schema; a name in RESTART_POLICIES
    # (simulator/reliability/restart_policies.py)
    policy: str = "full_width"
    detect_minutes: float = 5.0
    restart_minutes: float = 10.0
    repair_hours: float = 24.0
    init_seconds_per_1k_gpus: float = 0.0  # restart grows with the job (NCCL init)
    detect_seconds_per_1k_gpus: float = 0.0  # detection grows with the job (health checks)
    manual_probability: float = 0.0
    manual_repair_hours: float = 72.0
    repair_failure_probability: float = 0.0
    diagnosis_accuracy: float = 1.0  # the failed node is the one taken out (else a healthy one)
    repeat_failure_minutes: float = 30.0  # a faulty node left in service fails again after
    # set: a failure whose cause recovers in process (failures.components.<name>.
    # in_process_share) restarts inside the running job in this many seconds, with no
    # rescheduling and no node swap; null: every failure takes the policy's full path
    in_process_seconds: float | None = None

    def policy_fields(self, cluster: ClusterSpec, replica_gpus: int | None) -> dict[str, Any]:
        """This policy's own keys, validated, as RestartSpec fields (seconds).
        `replica_gpus`: the data-parallel replica's size from the workload (None: a
        fixed-step workload)."""
        return {}


@dataclass
class PerReplicaRestartConfig(RestartConfig):
    """restart=per_replica: data-parallel replicas are the units of failure
    (FT-HSDP, torchft)."""

    policy: str = "per_replica"
    replica_stall_minutes: float | None = None  # the whole job pauses this long per failure
    min_replicas: int | None = None  # fewer left: the synchronous path and a checkpoint
    replica_gpus: int | None = None  # a replica's GPUs (null: GPUs / DP of the workload)
    catch_up_minutes: float | None = None  # a returning replica loads state from a peer

    def policy_fields(self, cluster: ClusterSpec, replica_gpus: int | None) -> dict[str, Any]:
        for key in ("replica_stall_minutes", "min_replicas", "catch_up_minutes"):
            if getattr(self, key) is None:
                raise ConfigError(f"restart.{key}", None, "restart=per_replica needs it")
        require_non_negative("restart.replica_stall_minutes", self.replica_stall_minutes)
        require_non_negative("restart.catch_up_minutes", self.catch_up_minutes)
        require_positive("restart.min_replicas", self.min_replicas)
        size = self._replica_gpus(cluster, replica_gpus)
        replicas = cluster.gpus // size
        if self.min_replicas > replicas:
            raise ConfigError("restart.min_replicas", self.min_replicas,
                              f"must be at most the job's {replicas} replicas of {size} GPUs")
        return {"replica_stall_s": self.replica_stall_minutes * MINUTE,
                "min_replicas": int(self.min_replicas),
                "replica_nodes": size // cluster.gpus_per_node,
                "catch_up_s": self.catch_up_minutes * MINUTE}

    def _replica_gpus(self, cluster: ClusterSpec, derived: int | None) -> int:
        """A replica's GPUs: the workload's TP x PP x CP (GPUs / DP), or, for a
        fixed-step workload, restart.replica_gpus; whole nodes dividing the job."""
        if derived is not None:
            if self.replica_gpus is not None and self.replica_gpus != derived:
                raise ConfigError("restart.replica_gpus", self.replica_gpus,
                                  f"is set by the workload's parallelism (GPUs / DP = "
                                  f"{derived}); leave it null, or change workload.parallel")
            size = derived
        elif self.replica_gpus is None:
            raise ConfigError("restart.replica_gpus", None,
                              "restart=per_replica with a fixed-step workload needs the "
                              "size of a data-parallel replica in GPUs (a model workload "
                              "derives it from workload.parallel)")
        else:
            size = self.replica_gpus
        key = "restart.replica_gpus"
        require_positive(key, size)
        if size % cluster.gpus_per_node or cluster.gpus % size:
            raise ConfigError(key, size, f"a replica must be whole nodes of "
                              f"cluster.gpus_per_node={cluster.gpus_per_node} dividing "
                              f"cluster.gpus={cluster.gpus}")
        return size


#: Each restart policy's schema (its defaults as the policy needs them).
SCHEMAS: dict[str, RestartConfig] = {
    "full_width": RestartConfig(),
    "elastic": RestartConfig(policy="elastic"),
    "per_replica": PerReplicaRestartConfig(),
}


def register_restart_schemas(store: ConfigStore) -> None:
    """`schema/restart/<policy>` for the defaults list of every restart option."""
    for name, schema in SCHEMAS.items():
        store.store(group="schema/restart", name=name, node=schema)


def restart_spec(r: RestartConfig, cluster: ClusterSpec,
                 replica_gpus: int | None) -> RestartSpec:
    """Every restart key checked, as a RestartSpec in seconds."""
    if r.policy not in SCHEMAS:
        raise ConfigError("restart.policy", r.policy,
                          f"one of {', '.join(SCHEMAS)}, chosen with the group option "
                          "(restart=spare_swap, hot_spares, in_process, elastic or per_replica)")
    if type(SCHEMAS[r.policy]) is not type(r):
        raise ConfigError("restart.policy", r.policy,
                          "choose it with a group option (restart=per_replica): its schema "
                          "brings its keys")
    for key in ("detect_minutes", "restart_minutes", "repair_hours", "init_seconds_per_1k_gpus",
                "detect_seconds_per_1k_gpus", "manual_repair_hours"):
        require_non_negative(f"restart.{key}", getattr(r, key))
    for key in ("manual_probability", "repair_failure_probability"):
        value = getattr(r, key)
        if not 0 <= value < 1:
            raise ConfigError(f"restart.{key}", value, "must be in [0, 1)")
    require_non_negative("restart.in_process_seconds", r.in_process_seconds, optional=True)
    if not 0 < r.diagnosis_accuracy <= 1:
        raise ConfigError("restart.diagnosis_accuracy", r.diagnosis_accuracy,
                          "must be in (0, 1]: the share of failures whose node is found")
    require_positive("restart.repeat_failure_minutes", r.repeat_failure_minutes)
    thousands = cluster.gpus / 1000
    detect_s = r.detect_minutes * MINUTE + r.detect_seconds_per_1k_gpus * thousands
    restart_s = r.restart_minutes * MINUTE + r.init_seconds_per_1k_gpus * thousands
    return RestartSpec(detect_s, restart_s, r.repair_hours * HOUR,
                       r.manual_probability, r.manual_repair_hours * HOUR,
                       r.repair_failure_probability, r.diagnosis_accuracy,
                       r.repeat_failure_minutes * MINUTE, policy=r.policy,
                       in_process_s=r.in_process_seconds,
                       **r.policy_fields(cluster, replica_gpus))
