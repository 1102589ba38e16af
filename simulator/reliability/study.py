"""The validated study before elaboration: every checked value, and no graph.

Configuration (simulator/config/validate.py) turns a composed config into a `StudySpec`: frozen,
in SI units, every value checked with the key that set it. What needs the fabric built
is left for elaboration (simulator/elaborate.py), which turns a StudySpec into the
`Scenario` the model runs: the step profile of the workload on the topology graph, the
failure domains the graph puts behind each switch, rack and scale-up domain, the step
time with one cable down, and the checkpoint interval a model-driven policy chooses for
the elaborated failure model's mean time between interruptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import ConfigError
from simulator.fabric.fabric_spec import FabricSpec
from simulator.fabric.power import PowerModel
from simulator.fabric.storage import StorageSpec
from simulator.fabric.workload import Workload
from simulator.reliability.checkpoint_policies import CHECKPOINT_POLICIES
from simulator.reliability.failures import FailureModel
from simulator.reliability.jitter import StepJitter
from simulator.reliability.scenario import (
    DEFAULT_MAX_EVENTS,
    CheckpointSpec,
    ClusterSpec,
    RestartSpec,
)
from simulator.reliability.smoothing import Smoothing


@dataclass(frozen=True)
class CheckpointChoice:
    """A checkpoint policy and its costs, before its interval is resolved.

    `interval_s`: the configured interval (None: the policy chooses it); `own`: the
    policy's own CheckpointSpec fields, validated (e.g. `snapshot_s` for async);
    `size_bytes`: the model's checkpoint size when a write or load time derives from it.
    """

    policy: str
    interval_s: float | None
    write_s: float
    load_s: float
    size_bytes: float | None = None
    own: tuple[tuple[str, Any], ...] = ()
    keep: int | None = None  # retention (simulator/reliability/retention.py)
    keep_every: int | None = None

    def resolve(self, job_mtbi_s: float) -> CheckpointSpec:
        """The CheckpointSpec, with the interval the policy chooses for a job whose mean
        time between interruptions is `job_mtbi_s` (adaptive: its prior, if given)."""
        own = dict(self.own)
        mtbi_s = job_mtbi_s
        if self.policy == "adaptive":  # the prior, or the failure model's MTBI, starts it
            mtbi_s = own.setdefault("prior_mtbi_s", mtbi_s)
        policy = CHECKPOINT_POLICIES[self.policy]
        if policy.model_driven and not math.isfinite(mtbi_s):
            raise ConfigError("checkpoint.policy", self.policy,
                              "needs failures to choose an interval; with failures=none "
                              "use checkpoint=fixed")
        interval_s = policy.choose_interval(self.interval_s, self.write_s, mtbi_s)
        return CheckpointSpec(self.policy, interval_s, self.write_s, self.load_s,
                              size_bytes=self.size_bytes, keep=self.keep,
                              keep_every=self.keep_every, **own)


@dataclass(frozen=True)
class StudySpec:
    """Everything configuration knows about one study, checked, in seconds.

    `failures` has no failure domains yet (they come from the topology graph);
    `fabric` is the topology builder and its arguments, not a graph. With a `workload`,
    `peak_flops` (at the workload's precision) and `attention_peak_flops` (bf16) price
    its step on the fabric; `fixed_step_s` set: the job runs at that step time instead.
    """

    seed: int
    replicates: int
    first_replicate: int
    horizon_s: float
    work_s: float | None
    max_horizon_s: float
    step_level: bool
    jitter: StepJitter | None
    cluster: ClusterSpec
    failures: FailureModel
    checkpoint: CheckpointChoice
    restart: RestartSpec
    fabric: FabricSpec
    nodes_per_rack: int  # the power domain of rack failures (topology.nodes_per_rack)
    workload: Workload | None = None
    fixed_step_s: float | None = None
    compute_efficiency: float = 0.6
    peak_flops: float | None = None
    attention_peak_flops: float | None = None
    train_tokens: float | None = None
    train_steps: float | None = None
    max_events: float = DEFAULT_MAX_EVENTS
    power: PowerModel | None = None  # the facility's figures (None: no power columns)
    swing_threshold_w: float = 1e6
    power_series: bool = False  # keep the first replicate's draw over time
    timeline: bool = False  # keep where each replicate's time went (timeline.json)
    cap_fraction: float | None = None  # a per-GPU power cap (power.cap_fraction)
    cap_slowdown: float = 1.0  # its step-time factor
    mw_budget_w: float | None = None  # the site's budget (power.mw_budget), watts
    floor_share: float = 0.0  # power.floor_fraction (0: no floor)
    smoothing: Smoothing | None = None  # the grid's ramp limit and battery
    storage: StorageSpec = field(default_factory=StorageSpec)  # input, sharing, outages

    @property
    def topology(self) -> str:
        """The topology kind, as `topology.kind` names it (for error text)."""
        return self.fabric.builder
