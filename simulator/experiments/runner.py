"""Assemble and run the model: one replicate -> one summary row, a scenario -> a table."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING

import simpy
from tqdm import tqdm

from simulator.experiments.budget import check_budget
from simulator.experiments.table import Rows
from simulator.reliability.cluster import Cluster
from simulator.reliability.failure_source import FailureRecord
from simulator.reliability.failures import FailureModel
from simulator.reliability.job import JobPlan, TrainingJob
from simulator.reliability.metrics import (
    CATEGORIES,
    CONFIG_COLUMNS,
    ROW_COLUMNS,
    SUMMARY_COLUMNS,
    Ledger,
)
from simulator.reliability.power import MWH_J, PowerMeter
from simulator.reliability.scenario import Scenario
from simulator.reliability.storage_io import Storage
from simulator.reliability.timeline import TimelineLedger
from simulator.streams import stream
from simulator.units import DAY, GB, HOUR, MINUTE

if TYPE_CHECKING:  # pandas only where a table is built: a single run writes `Rows`
    import pandas as pd

class CountingEnvironment(simpy.Environment):
    """A SimPy environment that knows how many events it processed (for the benchmark).

    SimPy numbers every event it schedules (`_eid`, an itertools.count); the processed
    ones are the scheduled ones no longer in the queue. Reading the counter costs
    nothing per event, unlike overriding `step`.
    """

    @property
    def processed(self) -> int:
        scheduled = int(repr(self._eid)[len("count("):-1])
        return scheduled - len(self._queue)


@dataclass
class ReplicateResult:
    """The summary row of one replicate, its failure log and the SimPy event count."""

    row: dict
    records: list[FailureRecord]
    sim_events: int
    job_log: list[tuple[float, str]]  # (time_s, "recovered" | "planned")
    power: list[tuple[float, float]] | None = None  # (time_s, facility W) steps, if kept
    #: with `scenario.timeline`: the ledger with its spans (simulator/reliability/timeline.py)
    timeline: TimelineLedger | None = None
    #: (time_s, node, scope, "repaired" | "retired"): each repair's end (link: node -1)
    repairs: list[tuple[float, int, str, str]] | None = None

    @cached_property
    def failure_log(self) -> pd.DataFrame:
        """One row per failure: time_s, node, component, index, age_s, scope (built on demand:
        sweeps only need the summary row)."""
        from simulator.experiments.frames import failure_frame

        return failure_frame(self.records)

    def events(self, replicate: int) -> pd.DataFrame:
        """Failures, recoveries and planned drains in time order, in the trace format
        (simulator/reliability/trace.py): its failure rows replay with failures=trace."""
        from simulator.experiments.frames import event_frame

        return event_frame(self.failure_log, self.job_log, replicate)


def job_plan(scenario: Scenario) -> JobPlan:
    """The job's plan in steps and seconds (work rounded up to whole steps)."""
    work_steps = None
    if scenario.work_s is not None:
        work_steps = max(1, math.ceil(scenario.work_s / scenario.step_s - 1e-9))
    return JobPlan(step_s=scenario.step_s, checkpoint=scenario.checkpoint,
                   restart=scenario.restart,
                   nodes=scenario.cluster.nodes, work_steps=work_steps,
                   step_level=scenario.step_level, jitter=scenario.jitter,
                   sdc=scenario.failures.has_sdc)


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """Keep the garbage collector's full collections off what lives the whole run (what
    was imported and set up before, then the cluster's nodes and the job):
    `gc.freeze()` moves them out of the collected generations, so a collection walks
    only the objects the events make. At 220,000 GPUs full collections over them were
    30-43% of a replicate. Afterwards the objects go back (`gc.unfreeze()`; unless the
    caller had frozen objects itself), so what the replicate leaves behind is collected
    as before. No result depends on it."""
    already = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not already:
            gc.unfreeze()


def run_replicate(scenario: Scenario, replicate: int = 0) -> ReplicateResult:
    """Simulate one replicate of `scenario` with its own random streams."""
    with _long_lived_frozen():
        env = CountingEnvironment()
        streams = partial(stream, scenario.seed, replicate)
        meter = None if scenario.power is None else PowerMeter(
            scenario.power, keep_series=scenario.power_series
            and replicate == scenario.first_replicate)
        ledger = TimelineLedger(meter) if scenario.timeline else Ledger(meter)
        storage = Storage(env, scenario.storage, scenario.step_s, streams("storage"))
        job = TrainingJob(env, ledger, job_plan(scenario), streams("jitter"), storage)
        cluster = Cluster(env, scenario.cluster, scenario.failures, scenario.restart,
                          streams, listener=job)
        job.start(cluster)
        gc.freeze()  # and the replicate's own: the cluster's nodes, the job
        if scenario.work_s is None:
            env.run(until=scenario.horizon_s)
        else:
            env.run(until=env.any_of([job.process, env.timeout(scenario.max_horizon_s)]))
    ledger.finish(env.now)
    row = _summary_row(scenario, replicate, env.now, ledger, job, cluster, meter)
    return ReplicateResult(row=row, records=cluster.records, sim_events=env.processed,
                           job_log=job.log, power=None if meter is None else meter.series,
                           timeline=ledger if isinstance(ledger, TimelineLedger) else None,
                           repairs=cluster.repairs.log)


def _summary_row(scenario: Scenario, replicate: int, end_s: float, ledger: Ledger,
                 job: TrainingJob, cluster: Cluster, meter: PowerMeter | None) -> dict:
    gpus = scenario.cluster.gpus
    hours = {f"{c}_h": ledger.totals[c] / HOUR for c in CATEGORIES}
    horizon_h = end_s / HOUR
    goodput = hours["useful_h"] / horizon_h if horizon_h > 0 else 0.0
    power = _power(meter, end_s, ledger.totals["useful"])
    row = {
        "seed": scenario.seed,
        "replicate": replicate,
        "gpus": gpus,
        "horizon_h": horizon_h,
        **hours,
        "goodput": goodput,
        "lost_gpu_h": (horizon_h - hours["useful_h"]) * gpus,
        "failures": job.failures,
        **{f"{scope}_failures": n for scope, n in job.failures_by_scope.items()},
        "link_failures": cluster.link_failures,
        "stragglers": cluster.stragglers,
        "planned": job.planned,
        "retired_nodes": cluster.retired,
        "checkpoints": job.checkpoints,
        "lost_checkpoints": job.lost_checkpoints,
        "replica_failures": 0 if job.replicas is None else job.replicas.failures,
        "in_process_restarts": job.in_process_restarts,
        "interval_min": job.interval_steps * scenario.step_s / MINUTE,
        "step_s": scenario.step_s,
        "job_mtbi_h": scenario.job_mtbi_s / HOUR,
        **power,
        **_throughput(scenario, horizon_h, hours["useful_h"], power["energy_mwh"]),
        "misdiagnoses": cluster.diagnosis.misdiagnoses,
        "repeat_failures": cluster.diagnosis.repeat_failures,
        "sdc_events": 0 if job.sdc is None else job.sdc.events,
        "sdc_rework_h": 0.0 if job.sdc is None else job.sdc.rework_s / HOUR,
        "storage_outages": job.storage.outages,
        "storage_outage_h": job.storage.outage_time_s(end_s) / HOUR,
        "failed_writes": job.storage.failed_writes,
        "skipped_checkpoints": job.storage.skipped,
        "completed": job.finished if scenario.work_s is not None else True,
    }
    return {**{column: row[column] for column in SUMMARY_COLUMNS}, **configuration(scenario)}


def configuration(scenario: Scenario) -> dict[str, object]:
    """The configuration columns of every row of `scenario` (`metrics.CONFIG_COLUMNS`).

    Values are what the model ran with, in the units of the column names: derived ones
    resolved (a write time from the model's size, the restart times with their
    per-1,000-GPU terms, the spare count from a fraction, the catalog's price). A setting
    the scenario does not have (no model, another policy's key) is nan, or None for text.
    """
    c, ckpt, r, w = scenario.cluster, scenario.checkpoint, scenario.restart, scenario.workload
    failures = scenario.failures
    p = None if w is None else w.parallel
    row = {
        "cluster_accelerator": c.accelerator,
        "cluster_gpus_per_node": c.gpus_per_node,
        "cluster_nodes": c.nodes,
        "cluster_spare_nodes": c.spare_nodes,
        "cluster_gpu_hour_usd": _or_nan(c.gpu_hour_usd),
        "cluster_pue": c.pue,
        **_power_columns(scenario),
        "topology_kind": None if scenario.fabric is None else scenario.fabric.builder,
        "workload_model_params_b": math.nan if w is None else w.model.params / 1e9,
        "workload_precision": None if w is None else w.precision,
        "workload_parallel": None if p is None else
        f"tp{p.tp} pp{p.pp} dp{p.dp} cp{p.cp} ep{p.ep}",
        "workload_global_batch_tokens": math.nan if w is None else w.global_batch_tokens,
        "workload_jitter_cv": 0.0 if scenario.jitter is None else scenario.jitter.cv,
        "run_mode": "steps" if scenario.step_level else "segments",
        "run_horizon_days": scenario.horizon_s / DAY if scenario.work_s is None else math.nan,
        "run_work_h": _or_nan(scenario.work_s, HOUR),
        "failures_kind": failures.kind,
        "failures_gpu_mtbf_h": math.nan if failures.gpu is None
        else failures.gpu.mean_s / HOUR,
        "failures_node_mtbf_h": math.nan if failures.node is None
        else failures.node.mean_s / HOUR,
        **_sdc_columns(failures),
        "checkpoint_policy": ckpt.policy,
        "checkpoint_write_min": ckpt.write_s / MINUTE,
        "checkpoint_load_min": ckpt.load_s / MINUTE,
        "checkpoint_snapshot_min": _or_nan(ckpt.snapshot_s, MINUTE),
        "checkpoint_memory_write_min": _or_nan(ckpt.memory_write_s, MINUTE),
        "checkpoint_memory_load_min": math.nan if ckpt.memory_write_s is None
        else ckpt.memory_load_s / MINUTE,
        "checkpoint_durable_every": ckpt.durable_every,
        "checkpoint_memory_group": math.nan if ckpt.memory_write_s is None
        else ckpt.memory_group,
        "checkpoint_prior_mtbi_h": _or_nan(ckpt.prior_mtbi_s, HOUR),
        "checkpoint_size_tb": _or_nan(ckpt.size_bytes, 1e12),
        "checkpoint_keep": _or_nan(ckpt.keep),
        "checkpoint_keep_every": _or_nan(ckpt.keep_every),
        "restart_detect_min": r.detect_s / MINUTE,
        "restart_restart_min": r.restart_s / MINUTE,
        "restart_repair_h": r.repair_s / HOUR,
        "restart_manual_probability": r.manual_probability,
        "restart_manual_repair_h": r.manual_repair_s / HOUR,
        "restart_repair_failure_probability": r.repair_failure_probability,
        "restart_policy": r.policy,
        "restart_in_process_s": _or_nan(r.in_process_s),
        "restart_replica_gpus": math.nan if r.replica_nodes is None
        else r.replica_nodes * c.gpus_per_node,
        "restart_replica_stall_min": _or_nan(r.replica_stall_s, MINUTE),
        "restart_min_replicas": _or_nan(r.min_replicas),
        "restart_catch_up_min": _or_nan(r.catch_up_s, MINUTE),
        "restart_diagnosis_accuracy": r.diagnosis_accuracy,
        "restart_repeat_failure_min": r.repeat_failure_s / MINUTE,
        **_storage_columns(scenario),
    }
    return {column: row[column] for column in CONFIG_COLUMNS}


def _storage_columns(scenario: Scenario) -> dict[str, float]:
    """The storage system's configuration columns (inf: unlimited; nan: not used)."""
    s = scenario.storage
    return {"storage_read_gb_per_s": s.read_gb_per_s,
            "storage_write_gb_per_s": s.write_gb_per_s,
            "storage_node_gb_per_s": s.node_gb_per_s,
            "storage_input_gb_per_step": s.input_bytes_per_step / GB,
            "storage_loader_gb_per_s": s.loader_bps / GB if s.feeds else math.nan,
            "storage_prefetch_steps": s.prefetch_steps,
            "storage_restore_min": s.restore_s / MINUTE,
            "storage_outage_mtbf_h": _or_nan(s.outage_mtbf_s, HOUR),
            "storage_outage_min": s.outage_s / MINUTE if s.has_outages else math.nan}


def _sdc_columns(failures: FailureModel) -> dict[str, object]:
    """Silent data corruption's configuration columns (nan / None without it)."""
    sdc = failures.sdc
    if sdc is None:
        return {"failures_sdc_mtbf_h": math.nan, "failures_sdc_detect_h": math.nan,
                "failures_sdc_detect_kind": None, "failures_sdc_detect_shape": math.nan}
    sampled = math.isfinite(sdc.mtbf_s)  # else only a trace's sdc rows
    return {"failures_sdc_mtbf_h": sdc.mtbf_s / HOUR if sampled else math.nan,
            "failures_sdc_detect_h": sdc.detect_s / HOUR,
            "failures_sdc_detect_kind": sdc.detect_kind,
            "failures_sdc_detect_shape": sdc.detect_shape}


def _power_columns(scenario: Scenario) -> dict[str, float]:
    """The power model's figures (W) and the switches it counted; nan without one."""
    p = scenario.power
    figures = ("gpu_compute_w", "gpu_comm_w", "gpu_idle_w", "host_busy_w", "host_idle_w",
               "switch_w")
    smooth = None if p is None else p.smoothing
    limits = {"power_cap_fraction": _or_nan(scenario.power_cap_fraction),
              "power_mw_budget": _or_nan(scenario.mw_budget_w, 1e6),
              "power_mw_over_budget": math.nan if p is None or scenario.mw_budget_w is None
              else (p.full_w - scenario.mw_budget_w) / 1e6,
              "power_floor_fraction": math.nan if p is None else p.floor_share,
              "power_ramp_mw_per_min": math.nan if smooth is None
              else smooth.ramp_w_per_s * 60 / 1e6,
              "power_battery_mwh": math.nan if smooth is None
              else smooth.battery_j / MWH_J}
    if p is None:
        return {**{f"power_{k}": math.nan for k in figures}, "power_switches": math.nan,
                **limits}
    return {**{f"power_{k}": getattr(p.model, k) for k in figures},
            "power_switches": p.switches, **limits}


def _or_nan(value: float | None, unit: float = 1.0) -> float:
    """`value` in `unit`s, nan for None."""
    return math.nan if value is None else value / unit


def _power(meter: PowerMeter | None, end_s: float, useful_s: float) -> dict[str, float]:
    """The facility's power columns (simulator/reliability/power.py); nan without a
    power model for the accelerator."""
    if meter is None:
        return {"facility_peak_mw": math.nan, "facility_mean_mw": math.nan,
                "power_swing_mw": math.nan, "power_swings": math.nan,
                "energy_mwh": math.nan, "lost_mwh": math.nan, "smoothing_mwh": math.nan}
    return meter.columns(end_s, useful_s)


def _throughput(scenario: Scenario, horizon_h: float, useful_h: float,
                energy_mwh: float) -> dict:
    """Throughput, MFU, cost and the decision metrics of one replicate.

    The cluster is reserved for the job over the whole horizon, so it is paid for
    whether or not the time was useful; the lost share is the time that was not useful.
    Nan where `cluster.gpu_hour_usd` is not set. `energy_mwh` is what the facility drew
    (the power columns), nan without a power model.

    `tokens_per_s` is the nominal rate while computing; `effective_tokens_per_s` what the
    job delivered over the horizon: useful (never rolled back) compute at the nominal
    rate. The ledger counts compute at a slowdown f as 1/f useful, so useful time x the
    nominal rate is the tokens actually produced, degraded running included. Nan without
    a model (a fixed-step workload has no tokens).
    """
    profile, step_s, c = scenario.profile, scenario.step_s, scenario.cluster
    share = useful_h / horizon_h if horizon_h > 0 else 0.0  # goodput
    cost_usd = math.nan if c.gpu_hour_usd is None else c.gpu_hour_usd * c.gpus * horizon_h
    tokens_per_s = math.nan if profile is None else profile.tokens / step_s
    effective = tokens_per_s * share
    mtokens = effective * horizon_h * HOUR / 1e6  # useful tokens, millions
    return {
        "tokens_per_s": tokens_per_s,
        "mfu": math.nan if profile is None
        else profile.model_flops / (step_s * profile.gpus * profile.peak_flops),
        "cost_usd": cost_usd,
        "lost_usd": cost_usd * (1.0 - share),
        "effective_tokens_per_s": effective,
        "time_to_train_days": _time_to_train_days(scenario, share),
        "usd_per_mtoken": _per(cost_usd, mtokens),
        "mwh_per_mtoken": _per(energy_mwh, mtokens),
    }


def _time_to_train_days(scenario: Scenario, goodput: float) -> float:
    """Days to train the budget at this replicate's effective rate (an extrapolation of
    the horizon's goodput; `work_hours` simulates a budget directly): the budget's steps
    x the step time / goodput. Nan without a budget, inf if nothing useful was done."""
    steps = scenario.train_steps
    if scenario.train_tokens is not None and scenario.profile is not None:
        steps = scenario.train_tokens / scenario.profile.tokens
    if steps is None:
        return math.nan
    return _per(steps * scenario.step_s / DAY, goodput)


def _per(amount: float, units: float) -> float:
    """amount / units; inf when nothing was produced (nan stays nan)."""
    if math.isnan(amount) or math.isnan(units):
        return math.nan
    return amount / units if units > 0 else math.inf


def run_scenario(scenario: Scenario, progress: bool | None = None,
                 **outputs: list | None) -> pd.DataFrame:
    """`run_rows` as a pandas DataFrame (the same arguments)."""
    return run_rows(scenario, progress, **outputs).frame()


def run_rows(scenario: Scenario, progress: bool | None = None,
             events: list[pd.DataFrame] | None = None,
             power: list[pd.DataFrame] | None = None,
             timelines: list[ReplicateResult] | None = None) -> Rows:
    """All replicates of `scenario`, one row each: the summary, then the configuration;
    as `Rows` (simulator/experiments/table.py: no pandas unless `events` or `power`).

    progress: show a progress bar (None: only when writing to a terminal).
    events: if a list, each replicate's event table is appended to it.
    power: if a list, the first replicate's facility draw over time is appended to it
    (with `scenario.power_series`; `power_frame`).
    timelines: if a list, each replicate's result with its timeline is appended to it
    (with `scenario.timeline`; simulator/experiments/timeline.py writes them).
    Raises ConfigError (key `max_events`) when the run's estimated SimPy events exceed
    the scenario's work budget (simulator/experiments/budget.py).
    """
    check_budget(scenario)  # ConfigError past max_events, before any replicate runs
    disable = None if progress is None else not progress
    rows = []
    first = scenario.first_replicate
    for r in tqdm(range(first, first + scenario.replicates), desc="replicates", unit="rep",
                  disable=disable, leave=False):
        result = run_replicate(scenario, r)
        rows.append(result.row)
        if events is not None:
            events.append(result.events(r))
        if power is not None and result.power is not None:
            from simulator.experiments.frames import power_frame

            power.append(power_frame(result.power, result.row["horizon_h"] * HOUR, r))
        if timelines is not None and result.timeline is not None:
            timelines.append(result)
    return Rows(ROW_COLUMNS, rows)
