"""The validated description of one simulated study, in SI units (seconds).

These frozen dataclasses are what the model consumes. Configuration validates them
(simulator/config/validate.py -> a StudySpec, simulator/reliability/study.py) and
elaboration builds the
Scenario once (simulator/elaborate.py); model code never sees Hydra or OmegaConf, and
never re-validates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulator.fabric.fabric_spec import FabricSpec
from simulator.fabric.storage import StorageSpec
from simulator.fabric.workload import StepProfile, Workload
from simulator.reliability.failures import NO_FAILURES, FailureModel
from simulator.reliability.jitter import StepJitter
from simulator.reliability.power import FacilityPower
from simulator.units import DAY, HOUR

#: The default work budget of one run, in SimPy events (`max_events`; simulator/experiments/
#: budget.py estimates a run's events before it runs). ~1 h at the 30,000 events/s the
#: failure-heavy benchmark cases process on one core, ~8 min in step mode (~200,000/s).
DEFAULT_MAX_EVENTS = 1e8
#: The highest `max_events` accepted: above it a run's gaps could be too small to move
#: the clock of a long horizon (simulator/experiments/budget.py).
MAX_EVENTS_CEILING = 1e12


def whole_steps(interval_s: float, step_s: float) -> int:
    """Steps in `interval_s`: the nearest whole number (ties up), at least 1."""
    return max(1, math.floor(interval_s / step_s + 0.5))


@dataclass(frozen=True)
class ClusterSpec:
    """The hardware the job runs on: `gpus` in nodes of `gpus_per_node`, plus spares.

    `spare_fraction`: the share of the job's nodes `spare_nodes` was derived from
    (ceil), or None when the count was given as such.
    """

    accelerator: str = "H100"
    gpus: int = 1024
    gpus_per_node: int = 8
    spare_nodes: int = 4
    gpu_hour_usd: float | None = None  # None: cost columns are nan
    pue: float = 1.0  # facility energy / IT energy
    spare_fraction: float | None = None

    @property
    def nodes(self) -> int:
        return self.gpus // self.gpus_per_node

    def spares_note(self) -> str:
        """Where the spare pool's size came from: '4 spares by cluster.spare_fraction=0.03125'
        (ceil of that share of the job's nodes) or '4 spares by cluster.spare_nodes'."""
        source = ("cluster.spare_nodes" if self.spare_fraction is None
                  else f"cluster.spare_fraction={self.spare_fraction:g}")
        return f"{self.spare_nodes:,} spares by {source}"


@dataclass(frozen=True)
class CheckpointSpec:
    """How often the job saves its state and what saving and loading cost.

    `interval_s` is compute time between the end of one checkpoint and the start of the
    next; the job checkpoints every whole number of steps closest to it (at least one).
    """

    policy: str = "fixed"
    interval_s: float = HOUR
    write_s: float = 300.0
    load_s: float = 300.0
    snapshot_s: float | None = None  # set: asynchronous (block for this, write_s behind)
    prior_mtbi_s: float | None = None  # set: adaptive, starting from this MTBI estimate
    size_bytes: float | None = None  # the model's checkpoint size, when a time derives from it
    memory_write_s: float | None = None  # set: in-memory policy (a copy to a peer's memory)
    memory_load_s: float = 0.0
    durable_every: int = 1  # in-memory: every this many checkpoints is durable instead
    memory_group: int = 2  # in-memory: copies on every node of groups of this many slots
    keep: int | None = None  # retention: the newest this many durable ones (None: all)
    keep_every: int | None = None  # and every this-many-th durable one forever (None: none)


@dataclass(frozen=True)
class RestartSpec:
    """Recovery after a failure: detect, (wait for hardware), restart, load checkpoint.

    `policy` names the restart policy (simulator/reliability/restart_policies.py);
    `in_process_s` set: failures whose cause recovers in process restart inside the
    running job in that time. The per-replica fields are per_replica's (None elsewhere):
    a replica of `replica_nodes` nodes returns `catch_up_s` after its restart, the whole
    job stalls `replica_stall_s` at each replica failure, and fewer than `min_replicas`
    left sends the job down the synchronous path.
    """

    detect_s: float = 300.0
    restart_s: float = 600.0
    repair_s: float = 24 * HOUR
    manual_probability: float = 0.0  # a repair escalates to a manual one...
    manual_repair_s: float = 72 * HOUR  # ... taking this much longer
    repair_failure_probability: float = 0.0  # a repair that does not fix: repair again
    diagnosis_accuracy: float = 1.0  # the right node is taken out (else a healthy one)
    repeat_failure_s: float = 1800.0  # a part left in service fails again after this
    policy: str = "full_width"
    in_process_s: float | None = None
    replica_nodes: int | None = None
    replica_stall_s: float | None = None
    min_replicas: int | None = None
    catch_up_s: float | None = None

    @property
    def elastic(self) -> bool:
        """Short of nodes, the job restarts on the nodes left (restart=elastic)."""
        return self.policy == "elastic"


@dataclass(frozen=True)
class Scenario:
    """Everything one run needs. `work_s` set: run until that much useful compute.

    `step_s` is the step time the job runs at: fixed, or `profile.step_s`.
    """

    seed: int = 0
    replicates: int = 1
    first_replicate: int = 0
    horizon_s: float = 30 * DAY
    work_s: float | None = None
    max_horizon_s: float = 3650 * DAY
    step_s: float = 10.0
    step_level: bool = False  # one SimPy event per step instead of per segment
    jitter: StepJitter | None = None  # per-GPU step noise (step_s is its mean step)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    failures: FailureModel = NO_FAILURES
    checkpoint: CheckpointSpec = field(default_factory=CheckpointSpec)
    restart: RestartSpec = field(default_factory=RestartSpec)
    fabric: FabricSpec | None = None  # the network, for fabric-driven step times
    workload: Workload | None = None  # the model and its parallelism, if any
    profile: StepProfile | None = None  # the fabric-driven step, when there is a workload
    train_tokens: float | None = None  # the training budget (time_to_train_days), in
    train_steps: float | None = None  # tokens or in steps; None: no budget
    max_events: float = DEFAULT_MAX_EVENTS  # the work budget (experiments/budget.py)
    power: FacilityPower | None = None  # what the facility draws (None: no power figures)
    power_series: bool = False  # keep replicate first_replicate's draw over time
    timeline: bool = False  # keep where each replicate's time went (reliability/timeline.py)
    power_cap_fraction: float | None = None  # the per-GPU cap (step_s includes its cost)
    mw_budget_w: float | None = None  # the site's budget the cluster was checked against
    storage: StorageSpec = field(default_factory=StorageSpec)  # input, sharing, outages

    @property
    def interval_steps(self) -> int:
        """Steps per checkpoint interval: the nearest whole number (ties up), at least 1."""
        return whole_steps(self.checkpoint.interval_s, self.step_s)

    @property
    def job_mtbi_s(self) -> float:
        """Mean time between failures hitting the job, from the failure model."""
        return self.failures.job_mtbi_s(self.cluster.nodes, self.cluster.gpus_per_node)
