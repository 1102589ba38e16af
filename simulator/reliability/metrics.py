"""The ledger of the job's wall clock and the schema of the summary row.

Every second of the job's life is in exactly one phase (compute, checkpoint, restart,
wait) and is attributed to one accounting category (useful, checkpoint, rework, restart,
wait, degraded, replicas_out, input_stall). Compute and checkpoint time is *provisional* until a
checkpoint commits it (then it is useful / checkpoint time) or a rollback discards it
(then it is rework). Restart and wait time are final at once. Degraded and replicas_out
are categories, not phases: the extra time of computing slower than nominal, and the
share of compute time the data-parallel replicas that were out did not train
(restart=per_replica), final at once (a rollback cannot lose what was never computed).
So is input_stall: the share of compute time the GPUs waited for input data
(simulator/reliability/storage_io.py), final at once.
All are time-equivalents of the whole job: they sum to the wall clock.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Phase(StrEnum):
    """What the job is doing."""

    COMPUTE = "compute"
    CHECKPOINT = "checkpoint"
    RESTART = "restart"
    WAIT = "wait"


#: Categories of the time accounting, in summary-column order (DESIGN.md).
CATEGORIES = ("useful", "checkpoint", "rework", "restart", "wait", "degraded",
              "replicas_out", "input_stall")

#: Buckets of provisional time, per segment: compute (useful once committed), checkpoint,
#: and degraded, the extra time of compute at a slowdown f (split into 1/f compute and the
#: rest degraded). Keyed by name: `degraded` is a category, not a phase.
_PROVISIONAL = ("compute", "checkpoint", "degraded")


class PhaseListener(Protocol):
    """Told every phase change of the job (simulator/reliability/power.py PowerMeter)."""

    def change(self, now: float, phase: Phase, slowdown: float, capacity: float) -> None: ...

    def finish(self, now: float) -> None: ...


class Ledger:
    """Attributes the job's wall clock, phase by phase, to the accounting categories.

    Provisional time is kept per segment: the open segment (being computed), and sealed
    segments whose checkpoint was taken but is not durable yet (an asynchronous write
    in flight). A durable write commits the oldest sealed segment; a failure discards
    them all.
    """

    def __init__(self, meter: PhaseListener | None = None) -> None:
        self.meter = meter  # told every phase change (the facility's power meter)
        self.totals: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
        self._pending: dict[str, float] = dict.fromkeys(_PROVISIONAL, 0.0)
        self._sealed: list[dict[str, float]] = []
        self._phase = Phase.COMPUTE
        self._slowdown = 1.0
        self._capacity = 1.0
        self._starve = 1.0
        self._since = 0.0

    @property
    def phase(self) -> Phase:
        return self._phase

    def enter(self, phase: Phase, now: float, slowdown: float = 1.0,
              capacity: float = 1.0, starve: float = 1.0) -> None:
        """Close the current phase at `now` and start `phase`.

        Compute at `slowdown` f (steps take f times as long as on healthy hardware)
        counts 1/f of its time as compute and the rest as degraded time. Compute with
        only a share `capacity` c of the replicas training counts 1 - c of its time as
        replicas_out, and the rest as above. Compute starved of input data (`starve` g:
        each second of work takes g seconds) counts 1 - 1/g of the rest as input_stall
        (the meter sees it as a slowdown: the GPUs wait, as in a communication stall).
        """
        self._close(now)
        self._phase = phase
        self._slowdown = slowdown
        self._capacity = capacity
        self._starve = starve
        if self.meter is not None:
            self.meter.change(now, phase, slowdown * starve, capacity)

    def seal(self, now: float) -> None:
        """A checkpoint was taken: the open segment waits for its write to be durable."""
        self._close(now)
        self._sealed.append(self._pending)
        self._pending = dict.fromkeys(_PROVISIONAL, 0.0)

    def commit_oldest(self) -> None:
        """The oldest sealed segment's checkpoint became durable."""
        self._keep(self._sealed.pop(0))

    def commit(self, now: float) -> None:
        """A synchronous checkpoint completed: everything provisional becomes useful and
        checkpoint time."""
        self.seal(now)
        while self._sealed:
            self.commit_oldest()

    def rollback_open(self, now: float) -> None:
        """A failure recovered from an in-memory copy: only the open segment is lost;
        sealed segments still wait for a durable checkpoint."""
        self._close(now)
        self.totals["rework"] += sum(self._pending.values())
        self._pending = dict.fromkeys(_PROVISIONAL, 0.0)

    def rollback(self, now: float) -> None:
        """A failure: provisional time since the last durable checkpoint becomes rework."""
        self._close(now)
        for segment in (*self._sealed, self._pending):
            self.totals["rework"] += sum(segment.values())
        self._sealed = []
        self._pending = dict.fromkeys(_PROVISIONAL, 0.0)

    def committed(self) -> tuple[float, float, float]:
        """The committed useful, checkpoint and degraded time so far (a mark to return to)."""
        return self.totals["useful"], self.totals["checkpoint"], self.totals["degraded"]

    def uncommit(self, mark: tuple[float, float, float]) -> None:
        """Roll back past durable checkpoints (silent data corruption): the time committed
        since `mark` (from `committed`) becomes rework."""
        for category, then in zip(("useful", "checkpoint", "degraded"), mark, strict=True):
            self.totals["rework"] += self.totals[category] - then
            self.totals[category] = then

    def finish(self, now: float) -> None:
        """End of the observation window.

        Work not yet durable was never rolled back inside the window, so it counts as
        useful (and a write in progress as checkpoint time).
        """
        self.commit(now)
        if self.meter is not None:
            self.meter.finish(now)

    def _keep(self, segment: dict[str, float]) -> None:
        self.totals["useful"] += segment["compute"]
        self.totals["checkpoint"] += segment["checkpoint"]
        self.totals["degraded"] += segment["degraded"]

    def _close(self, now: float) -> None:
        elapsed = now - self._since
        if self._phase is Phase.COMPUTE and self._capacity != 1.0:
            training = elapsed * self._capacity
            self.totals["replicas_out"] += elapsed - training
            elapsed = training
        if self._phase is Phase.COMPUTE and self._starve != 1.0:
            fed = elapsed / self._starve
            self.totals["input_stall"] += elapsed - fed
            elapsed = fed
        if self._phase is Phase.COMPUTE and self._slowdown != 1.0:
            nominal = elapsed / self._slowdown
            self._pending["compute"] += nominal
            self._pending["degraded"] += elapsed - nominal
        elif self._phase in (Phase.COMPUTE, Phase.CHECKPOINT):
            self._pending[self._phase.value] += elapsed
        else:
            self.totals[self._phase.value] += elapsed
        self._since = now


#: The columns every summary row has, in order (DESIGN.md "Interfaces").
SUMMARY_COLUMNS = (
    "seed",
    "replicate",
    "gpus",
    "horizon_h",
    "useful_h",
    "checkpoint_h",
    "rework_h",
    "restart_h",
    "wait_h",
    "degraded_h",
    "replicas_out_h",
    "input_stall_h",
    "goodput",
    "lost_gpu_h",
    "failures",
    "gpu_failures",
    "node_failures",
    "switch_failures",
    "rack_failures",
    "scaleup_failures",
    "job_failures",
    "link_failures",
    "stragglers",
    "planned",
    "retired_nodes",
    "checkpoints",
    "lost_checkpoints",
    "replica_failures",
    "in_process_restarts",
    "interval_min",
    "step_s",
    "job_mtbi_h",
    "tokens_per_s",
    "mfu",
    "facility_peak_mw",
    "facility_mean_mw",
    "power_swing_mw",
    "power_swings",
    "energy_mwh",
    "lost_mwh",
    "smoothing_mwh",
    "cost_usd",
    "lost_usd",
    "effective_tokens_per_s",
    "time_to_train_days",
    "usd_per_mtoken",
    "mwh_per_mtoken",
    "misdiagnoses",
    "repeat_failures",
    "sdc_events",
    "sdc_rework_h",
    "storage_outages",
    "storage_outage_h",
    "failed_writes",
    "skipped_checkpoints",
    "completed",
)

#: The configuration columns every row carries after the summary columns (README
#: "Output columns"): what made the row, as the model ran it, in the units of their
#: names. Built from the Scenario by the runner, so `simulate()` and the CLI agree; the
#: CLI's `<group>_config` choices and overridden keys come on top. No name is a config
#: key (`seed`, `mode`, ...) nor a `<group>_config` column, so none hides an override.
CONFIG_COLUMNS = (
    "cluster_accelerator",
    "cluster_gpus_per_node",
    "cluster_nodes",
    "cluster_spare_nodes",
    "cluster_gpu_hour_usd",
    "cluster_pue",
    "power_gpu_compute_w",
    "power_gpu_comm_w",
    "power_gpu_idle_w",
    "power_host_busy_w",
    "power_host_idle_w",
    "power_switch_w",
    "power_switches",
    "power_cap_fraction",
    "power_mw_budget",
    "power_mw_over_budget",
    "power_floor_fraction",
    "power_ramp_mw_per_min",
    "power_battery_mwh",
    "topology_kind",
    "workload_model_params_b",
    "workload_precision",
    "workload_parallel",
    "workload_global_batch_tokens",
    "workload_jitter_cv",
    "run_mode",
    "run_horizon_days",
    "run_work_h",
    "failures_kind",
    "failures_gpu_mtbf_h",
    "failures_node_mtbf_h",
    "failures_sdc_mtbf_h",
    "failures_sdc_detect_h",
    "failures_sdc_detect_kind",
    "failures_sdc_detect_shape",
    "checkpoint_policy",
    "checkpoint_write_min",
    "checkpoint_load_min",
    "checkpoint_snapshot_min",
    "checkpoint_memory_write_min",
    "checkpoint_memory_load_min",
    "checkpoint_durable_every",
    "checkpoint_memory_group",
    "checkpoint_prior_mtbi_h",
    "checkpoint_size_tb",
    "checkpoint_keep",
    "checkpoint_keep_every",
    "restart_detect_min",
    "restart_restart_min",
    "restart_repair_h",
    "restart_manual_probability",
    "restart_manual_repair_h",
    "restart_repair_failure_probability",
    "restart_policy",
    "restart_in_process_s",
    "restart_replica_gpus",
    "restart_replica_stall_min",
    "restart_min_replicas",
    "restart_catch_up_min",
    "restart_diagnosis_accuracy",
    "restart_repeat_failure_min",
    "storage_read_gb_per_s",
    "storage_write_gb_per_s",
    "storage_node_gb_per_s",
    "storage_input_gb_per_step",
    "storage_loader_gb_per_s",
    "storage_prefetch_steps",
    "storage_restore_min",
    "storage_outage_mtbf_h",
    "storage_outage_min",
)

#: Every row's columns, in order: the summary, then the configuration.
ROW_COLUMNS = (*SUMMARY_COLUMNS, *CONFIG_COLUMNS)
