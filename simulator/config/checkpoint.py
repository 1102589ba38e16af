"""Checkpoint configuration: one schema per `checkpoint=` option, and its validation.

Every option's YAML (`scenarios/checkpoint/<name>.yaml`) starts from its schema,
`defaults: [/schema/checkpoint/<name>@_here_, _self_]`, registered in Hydra's ConfigStore
in the group `schema/checkpoint` (Hydra's "Structured Config schema" tutorial: a schema in
a different config group, so that the `checkpoint` group lists only the policies and an
unknown option's error lists only them too). A schema has the keys every policy has
(`CheckpointConfig`) plus its policy's own, so an option's YAML lists only its own keys,
and a key of another policy is an error naming its owner:
`checkpoint.snapshot_minutes` on `checkpoint=fixed` says it is only used by
`checkpoint=async`.

Each schema's `policy_fields` validates its own keys and returns them as
`CheckpointSpec` fields in seconds; the keys every policy has are validated in
simulator/config/validate.py (the write and load times may derive from the model and storage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore

from simulator.errors import ConfigError, require_non_negative, require_positive
from simulator.units import HOUR, MINUTE


@dataclass
class CheckpointConfig:
    """The keys every policy has; the whole schema of fixed, young_daly and daly."""

    # set by the option's schema; a name in CHECKPOINT_POLICIES
    # (simulator/reliability/checkpoint_policies.py)
    policy: str = "fixed"
    interval_minutes: float | None = 60.0  # null: the policy chooses (young_daly, ...)
    write_minutes: float | None = 5.0  # null: from the model's size and `storage`
    load_minutes: float | None = 5.0  # null: from the model's size and `storage`
    keep: int | None = None  # retention: the newest this many durable ones (null: all)
    keep_every: int | None = None  # and every this-many-th durable one forever (null: none)

    def policy_fields(self) -> dict[str, Any]:
        """This policy's own keys, validated, as CheckpointSpec fields (seconds)."""
        return {}

    def retention(self, sdc: bool) -> tuple[int | None, int | None]:
        """`keep` and `keep_every`, validated: whole numbers of 1 or more, or null; set,
        they need silent data corruption (the only rollback past the newest durable
        checkpoint, simulator/reliability/retention.py)."""
        for key in ("keep", "keep_every"):
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"checkpoint.{key}", value,
                                  "must be a whole number of 1 or more, or null")
            if not sdc:
                raise ConfigError(f"checkpoint.{key}", value,
                                  "only matters with silent data corruption (set "
                                  "failures.sdc_mtbf_hours, or sdc rows in a trace); "
                                  "leave it null")
        return self.keep, self.keep_every


@dataclass
class AsyncCheckpointConfig(CheckpointConfig):
    """checkpoint=async: the job blocks only for a snapshot to host memory."""

    policy: str = "async"
    snapshot_minutes: float | None = None  # the blocking part (the write runs behind)

    def policy_fields(self) -> dict[str, Any]:
        if self.snapshot_minutes is None:
            raise ConfigError("checkpoint.snapshot_minutes", None,
                              "checkpoint=async needs the blocking snapshot time")
        require_non_negative("checkpoint.snapshot_minutes", self.snapshot_minutes)
        return {"snapshot_s": self.snapshot_minutes * MINUTE}


@dataclass
class AdaptiveCheckpointConfig(CheckpointConfig):
    """checkpoint=adaptive: Young's interval for the MTBI observed so far."""

    policy: str = "adaptive"
    interval_minutes: float | None = None
    prior_mtbi_hours: float | None = None  # the first guess (null: the failure model's)

    def policy_fields(self) -> dict[str, Any]:
        require_positive("checkpoint.prior_mtbi_hours", self.prior_mtbi_hours, optional=True)
        if self.prior_mtbi_hours is None:
            return {}  # config.py fills in the failure model's MTBI
        return {"prior_mtbi_s": self.prior_mtbi_hours * HOUR}


@dataclass
class InMemoryCheckpointConfig(CheckpointConfig):
    """checkpoint=in_memory: copies to the peers' memory, every k-th to storage."""

    policy: str = "in_memory"
    memory_write_minutes: float | None = None  # the copy to the peers' memory (blocking)
    memory_load_minutes: float | None = None  # loading it back
    durable_every: int | None = None  # every k-th checkpoint is written to storage
    memory_group: int | None = None  # copies on every node of groups of this many slots

    def policy_fields(self) -> dict[str, Any]:
        for key in ("memory_write_minutes", "memory_load_minutes", "durable_every",
                    "memory_group"):
            if getattr(self, key) is None:
                raise ConfigError(f"checkpoint.{key}", None, "checkpoint=in_memory needs it")
        require_non_negative("checkpoint.memory_write_minutes", self.memory_write_minutes)
        require_non_negative("checkpoint.memory_load_minutes", self.memory_load_minutes)
        require_positive("checkpoint.durable_every", self.durable_every)
        require_positive("checkpoint.memory_group", self.memory_group)
        return {"memory_write_s": self.memory_write_minutes * MINUTE,
                "memory_load_s": self.memory_load_minutes * MINUTE,
                "durable_every": self.durable_every, "memory_group": self.memory_group}


#: Each `checkpoint=` option's schema (its defaults as the policy needs them). A new
#: policy with keys of its own adds a subclass of CheckpointConfig here.
SCHEMAS: dict[str, CheckpointConfig] = {
    "fixed": CheckpointConfig(),
    "young_daly": CheckpointConfig(policy="young_daly", interval_minutes=None),
    "daly": CheckpointConfig(policy="daly", interval_minutes=None),
    "adaptive": AdaptiveCheckpointConfig(),
    "async": AsyncCheckpointConfig(),
    "in_memory": InMemoryCheckpointConfig(),
}


def register_checkpoint_schemas(store: ConfigStore) -> None:
    """`schema/checkpoint/<name>` for the defaults list of every checkpoint option."""
    for name, schema in SCHEMAS.items():
        store.store(group="schema/checkpoint", name=name, node=schema)


def check_schema(c: CheckpointConfig) -> None:
    """`checkpoint.policy` must be the policy of the option's schema (its keys come with
    the option: `checkpoint=async`, not `checkpoint.policy=async`)."""
    if c.policy in SCHEMAS and type(SCHEMAS[c.policy]) is not type(c):
        raise ConfigError("checkpoint.policy", c.policy,
                          f"choose it with the group option, checkpoint={c.policy} (its "
                          "schema brings its keys)")
