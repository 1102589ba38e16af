"""Feasibility warnings: configurations that run but cannot give a useful answer.

Each check returns one line naming the numbers and the key to change, or None. The
checks of `scenario_warnings` need only the validated scenario (they run before the
simulation); `result_warnings` reads the summary rows after it. `warn` issues the lines
as `TrainsimWarning`s (filter them like any warning); the command line prints each as
one line on stderr. A run with warnings still runs.

Thresholds, and why:

- job MTBI < recovery (detect + restart + checkpoint load): a recovery then completes
  before the next failure with probability e^(-R/M) < e^-1 = 37%, and each failure
  during recovery starts it over, so most of the wall clock is spent restarting.
- spare pool: nodes in repair are an M/G/inf queue, so their number is Poisson with
  mean L = (node-taking failure rate) x (mean repair time) (Little's law); the job is
  short of nodes while more than `spares` are in repair. Warn when that happens more
  than 5% of the time (waiting then costs more than a well-tuned checkpoint policy);
  this includes every pool smaller than L, the expected count within one repair time
  (for L > 0.05; with fewer nodes in repair, no pool waits 5% of the time).
- goodput below 0.2 (mean over replicates): under a fifth of the
  wall clock trains, so the configuration is a recovery loop rather than a plan.
- checkpoint interval < the write that blocks after it: the job then spends at least
  half of its time writing (goodput <= 1/2 before any failure).
- an async snapshot longer than the write it feeds: the job blocks longer than a
  synchronous checkpoint would (checkpoint=fixed blocks for the write alone).
- failures=trace with no row inside the simulated time (an empty or header-only trace,
  the wrong `trace_replicate`, a trace in other units): the run has no failures at all.
- in-process restart on (restart.in_process_seconds) with no failure cause that has an
  in_process_share: it can never act, and the run is the policy without it.
- replicates > 1 with no random source (failures=trace or none, no planned
  maintenance, no stragglers, no random repairs, no step-level jitter): every replicate
  is the same run, so a 95% CI of 0 is not a confidence interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING

from simulator.errors import TrainsimWarning
from simulator.experiments.table import Rows, as_rows
from simulator.fabric.domains import GROUP_SCOPES
from simulator.reliability.checkpoint_policies import CHECKPOINT_POLICIES, MODEL_DRIVEN
from simulator.reliability.metrics import CATEGORIES
from simulator.reliability.scenario import Scenario
from simulator.units import DAY, HOUR, MINUTE

if TYPE_CHECKING:
    import pandas as pd

GOODPUT_FLOOR = 0.2
SHORT_SHARE = 0.05  # warn when the job is short of nodes more than this share of the time
SHORT_TARGET = 0.01  # the spare pool suggested keeps the job short less than this share
NODE_SCOPES = ("gpu", "node", *GROUP_SCOPES)  # failures that send nodes to repair


def _duration(seconds: float) -> str:
    if seconds < 2 * HOUR:
        return f"{seconds / MINUTE:.1f} min"
    return f"{seconds / HOUR:.1f} h"


def _round2(x: float) -> int:
    """Two significant figures, rounded down: 88,558 -> 88,000."""
    if x < 10:
        return int(x)
    scale = 10 ** (int(math.log10(x)) - 1)
    return int(x // scale * scale)


# ---- before the run -----------------------------------------------------------------------


def recovery_s(scenario: Scenario) -> float:
    """Detect + restart + load of the checkpoint a failure usually rolls back to (the
    in-memory copy with checkpoint=in_memory)."""
    ckpt = scenario.checkpoint
    load_s = CHECKPOINT_POLICIES[ckpt.policy].usual_load_s(ckpt)
    return scenario.restart.detect_s + scenario.restart.restart_s + load_s


def check_mtbi(scenario: Scenario) -> str | None:
    """The job fails faster than it recovers."""
    mtbi, recovery = scenario.job_mtbi_s, recovery_s(scenario)
    if not mtbi < recovery:
        return None
    r, policy = scenario.restart, CHECKPOINT_POLICIES[scenario.checkpoint.policy]
    load_s = recovery - r.detect_s - r.restart_s
    return (f"job MTBI {_duration(mtbi)} ({scenario.cluster.gpus:,} GPUs) is shorter than its "
            f"recovery {_duration(recovery)} (detect {_duration(r.detect_s)} + restart "
            f"{_duration(r.restart_s)} + load {_duration(load_s)}): only "
            f"{math.exp(-recovery / mtbi):.0%} of recoveries finish before the next failure, "
            f"so the job hardly trains; use fewer cluster.gpus (at this failure rate MTBI "
            f"reaches the recovery at ~{_round2(scenario.cluster.gpus * mtbi / recovery):,} "
            f"GPUs), rarer failures "
            f"(failures.*mtbf_hours) or a faster recovery (restart.detect_minutes, "
            f"restart.restart_minutes, {policy.load_keys})")


def mean_repair_s(scenario: Scenario, repair_s: float) -> float:
    """Mean time out of service of a node sent to a repair of `repair_s`: escalated to a
    manual repair with probability p_manual, redone with probability p_fail."""
    r = scenario.restart
    manual = r.manual_probability * r.manual_repair_s
    return (repair_s + manual) / (1 - r.repair_failure_probability)


def nodes_in_repair(scenario: Scenario) -> tuple[float, float]:
    """(nodes sent to repair per second, mean nodes in repair) for the full job.

    Sums every node-taking component (gpu and node parts, times the lemons' mean factor;
    a switch, rack or scale-up unit takes its group's nodes) and found stragglers (each
    swapped out to repair); the mean in repair is each rate times its mean time out of
    service: a failed node waits for its failure's detection before its repair starts (a
    found straggler's starts at once).
    """
    failures, c = scenario.failures, scenario.cluster
    lemon = 1.0
    if failures.lemons is not None:
        lemon = 1 - failures.lemons.fraction + failures.lemons.fraction * failures.lemons.factor
    rate = in_repair = 0.0
    for component in failures.components:
        if component.scope not in NODE_SCOPES:
            continue
        units = failures.units(component.scope, c.nodes, c.gpus_per_node)
        if component.scope in GROUP_SCOPES:
            groups = [g for g in failures.groups(component.scope) if g[0] < c.nodes]
            per_unit = sum(len(g) for g in groups) / len(groups) if groups else 0.0
        else:
            per_unit = lemon
        nodes_per_s = units * per_unit / component.lifetime.mean_s
        repair = scenario.restart.repair_s if component.repair_s is None else component.repair_s
        rate += nodes_per_s
        in_repair += nodes_per_s * (scenario.restart.detect_s + mean_repair_s(scenario, repair))
    stragglers = failures.stragglers
    if stragglers is not None and failures.trace is None and math.isfinite(stragglers.mean_s):
        nodes_per_s = c.gpus / stragglers.mean_s
        rate += nodes_per_s
        in_repair += nodes_per_s * mean_repair_s(scenario, scenario.restart.repair_s)
    return rate, in_repair


def short_share(in_repair: float, spares: int) -> float:
    """P(more than `spares` nodes in repair) for a Poisson count of mean `in_repair`."""
    # scipy.special, not scipy.stats (~0.4 s more to import): for a count spares >= 0,
    # scipy.stats.poisson.sf(spares, mu) is pdtrc(spares, mu), the same number
    from scipy.special import pdtrc

    if in_repair <= 0:
        return 0.0
    return 1.0 if spares < 0 else float(pdtrc(spares, in_repair))


def surely_below(in_repair: float, spares: int, share: float) -> bool:
    """Whether P(more than `spares` in repair) is at most half of `share` by Chernoff's
    bound for a Poisson count of mean L: P(N >= a) <= e^-L (e L / a)^a for a > L. Then
    `short_share` (scipy.special: ~0.15 s to import, more than all other checks) cannot
    exceed `share`; the factor 2 keeps rounding in the bound and in pdtrc off the answer.
    False means "ask short_share"."""
    if in_repair <= 0:
        return True  # nothing in repair: short_share is 0
    a = spares + 1
    if spares < 0 or a <= in_repair:
        return False
    return -in_repair + a * (1 + math.log(in_repair / a)) < math.log(share / 2)


def spares_needed(in_repair: float, target: float = SHORT_TARGET) -> int:
    """The smallest pool that keeps the job short of nodes at most `target` of the time."""
    from scipy.stats import poisson  # here: only a warning needs it (~0.4 s to import)

    return int(poisson.ppf(1 - target, in_repair)) if in_repair > 0 else 0


def check_spares(scenario: Scenario) -> str | None:
    """The spare pool runs dry often: the job waits for repaired nodes.

    Silent with restart=elastic: the job then restarts on the nodes left instead of
    waiting (it runs degraded by the missing nodes' share, a small fraction).
    """
    if scenario.restart.elastic:
        return None
    c = scenario.cluster
    rate, in_repair = nodes_in_repair(scenario)
    if surely_below(in_repair, c.spare_nodes, SHORT_SHARE):
        return None  # as `short_share` would say, without importing scipy.special
    share = short_share(in_repair, c.spare_nodes)
    if not share > SHORT_SHARE:
        return None
    if in_repair > c.nodes:  # a pool larger than the job would not keep up either
        return (f"spare pool cannot keep up: {c.nodes:,} job nodes go to repair at "
                f"{rate * DAY:.3g} per day, {in_repair:.3g} in repair on average, more "
                "than the job has: it waits for repaired nodes nearly all the time; "
                "check the failures' MTBF (failures.*_mtbf_hours) and restart.repair_hours")
    need = spares_needed(in_repair)
    fraction = math.ceil(need / c.nodes * 1e4) / 1e4
    repair = in_repair / rate
    return (f"spare pool expected to run dry: {c.nodes:,} job nodes go to repair at "
            f"{rate * DAY:.3g} per day for {_duration(repair)} each (restart.detect_minutes + "
            f"restart.repair_hours), "
            f"so {in_repair:.3g} are in repair on average against {c.spares_note()}: the job "
            f"is short of nodes and waits ~{share:.0%} of the time; "
            f"cluster.spare_nodes={need} (or cluster.spare_fraction={fraction:g}) keeps that "
            f"under {SHORT_TARGET:.0%}, or shorten restart.repair_hours, or restart=elastic")


def check_interval(scenario: Scenario) -> str | None:
    """The checkpoint interval is shorter than the write it waits for."""
    ckpt = scenario.checkpoint
    interval = scenario.interval_steps * scenario.step_s
    chosen = (f"checkpoint={ckpt.policy} chose it from the job MTBI "
              f"{_duration(scenario.job_mtbi_s)}: the job fails too often for its write; "
              if ckpt.policy in MODEL_DRIVEN else "")
    policy = CHECKPOINT_POLICIES[ckpt.policy]
    behind = policy.background_write_s(ckpt)
    blocking = policy.mean_blocking_s(ckpt)
    if behind is not None:  # async: the writes run behind, sharing the storage
        if not interval + blocking < behind:
            return None
        return (f"asynchronous checkpoint writes take {_duration(behind)} but one "
                f"starts every {_duration(interval + blocking)}: writes pile up and "
                f"the job blocks waiting for them; raise checkpoint.interval_minutes above "
                f"{behind / MINUTE:.3g} or lower checkpoint.write_minutes")
    keys = policy.blocking_keys(ckpt)
    if keys is not None:
        what = f"its mean blocking write {_duration(blocking)} ({keys})"
    else:
        what = f"the {_duration(blocking)} write that blocks the job (checkpoint.write_minutes)"
    if not interval < blocking:
        return None
    return (f"checkpoint interval {_duration(interval)} is shorter than {what}: the job "
            f"spends more time writing than computing (goodput at most "
            f"{interval / (interval + blocking):.2g} even without failures); {chosen}raise "
            f"checkpoint.interval_minutes, lower the write time, or use checkpoint=async")


def check_snapshot(scenario: Scenario) -> str | None:
    """An asynchronous checkpoint's snapshot blocks longer than the write it feeds."""
    ckpt = scenario.checkpoint
    if ckpt.snapshot_s is None or not ckpt.snapshot_s > ckpt.write_s:
        return None
    return (f"checkpoint=async blocks the job {_duration(ckpt.snapshot_s)} for each snapshot "
            f"(checkpoint.snapshot_minutes), longer than the {_duration(ckpt.write_s)} write "
            f"it feeds (checkpoint.write_minutes): a synchronous checkpoint would block "
            f"less; lower checkpoint.snapshot_minutes below the write, or use "
            f"checkpoint=fixed")


def check_trace(scenario: Scenario) -> str | None:
    """A trace run in which no trace row falls inside the simulated time: no failures."""
    trace = scenario.failures.trace
    if trace is None:
        return None
    end_s = scenario.horizon_s if scenario.work_s is None else scenario.max_horizon_s
    if any(row.time_s <= end_s for row in trace):
        return None
    length = ("horizon_days" if scenario.work_s is None else "max_horizon_days")
    if not trace:
        what, advice = "the trace has no rows", ""
    else:
        first = min(row.time_s for row in trace)
        what = (f"all {len(trace):,} rows of the trace come after the "
                f"{_duration(end_s)} simulated (the first at {_duration(first)}; {length})")
        advice = f", or lengthen {length}"
    return (f"failures=trace: {what}, so the run has no failures at all and its goodput "
            f"is that of a failure-free job; check failures.trace_path and "
            f"failures.trace_replicate{advice}")


def random_sources(scenario: Scenario) -> list[str]:
    """What makes one replicate differ from another (empty: all replicates are equal)."""
    failures, restart = scenario.failures, scenario.restart
    sources = []
    sampled = failures.trace is None and bool(failures.components)
    if sampled:
        sources.append("sampled failures")
    if failures.trace is not None and failures.resample:
        sources.append("a trace resampled by host")
    if failures.planned_gap_s is not None:
        sources.append("planned maintenance")
    stragglers = failures.stragglers
    if stragglers is not None and failures.trace is None and math.isfinite(stragglers.mean_s):
        sources.append("stragglers")
    repairs = sampled or bool(sources) or any(
        t.kind not in ("job", "link") for t in failures.trace or ())
    if repairs and (restart.manual_probability > 0 or restart.repair_failure_probability > 0):
        sources.append("random repairs")
    if scenario.jitter is not None and scenario.step_level:
        sources.append("step jitter")
    if scenario.storage.outage_mtbf_s is not None:
        sources.append("storage outages")
    return sources


def check_replicates(scenario: Scenario) -> str | None:
    """Several replicates of a run that has no randomness."""
    if scenario.replicates < 2 or random_sources(scenario):
        return None
    cause = ("failures=trace replays the same failures" if scenario.failures.trace is not None
             else f"failures={scenario.failures.kind} samples nothing")
    return (f"replicates={scenario.replicates} are identical: {cause} and nothing else is "
            f"random (no failures.planned_per_day, stragglers, random repairs, step "
            f"jitter or storage.outage_mtbf_hours), so the 95% CI of 0 is not a "
            f"confidence interval; use replicates=1, or sample failures "
            f"(failures=exponential, ...)"
            + (", or failures.resample=true (a bootstrap of the trace by host)"
               if scenario.failures.trace is not None else ""))


def check_in_process(scenario: Scenario) -> str | None:
    """In-process restart is on, but no failure cause recovers in process."""
    if scenario.restart.in_process_s is None or scenario.failures.trace is not None:
        return None
    if any(c.in_process_share > 0 for c in scenario.failures.components):
        return None
    return (f"restart.in_process_seconds={scenario.restart.in_process_s:g} has no effect: "
            f"no cause of failures={scenario.failures.kind} has an in_process_share, so "
            "every failure takes the full restart; set failures.components.<name>."
            "in_process_share (failures=llama3 sets them per cause)")


SCENARIO_CHECKS = (check_mtbi, check_spares, check_interval, check_snapshot, check_trace,
                   check_in_process, check_replicates)


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Every warning that the scenario alone shows, before it runs."""
    return [m for m in (check(scenario) for check in SCENARIO_CHECKS) if m is not None]


# ---- after the run ------------------------------------------------------------------------

#: Where to look when one loss category dominates a run with little goodput.
ADVICE = {
    "restart_h": "failures come faster than recoveries finish: fewer cluster.gpus or a "
                 "faster restart.*",
    "wait_h": "the job waits for repaired nodes: a larger cluster.spare_nodes or "
              "cluster.spare_fraction, shorter restart.repair_hours, or restart=elastic",
    "checkpoint_h": "a longer checkpoint.interval_minutes or checkpoint=async",
    "rework_h": "checkpoint more often (checkpoint.interval_minutes, checkpoint=young_daly)",
    "degraded_h": "stragglers or degraded links slow the job (failures.straggler_*, "
                  "failures.components)",
    "replicas_out_h": "replicas are out long: a faster restart.detect_minutes, "
                      "restart_minutes or catch_up_minutes, or smaller replicas",
    "input_stall_h": "the GPUs wait for input data: more storage.read_gb_per_s, "
                     "storage.node_gb_per_s or storage.input.node_gb_per_s, a larger "
                     "storage.input.prefetch_steps, or fewer storage outages",
}


def check_goodput(frame: pd.DataFrame | Rows) -> str | None:
    """The run's mean goodput is below GOODPUT_FLOOR; names the largest loss."""
    rows = as_rows(frame)
    if rows.empty or not rows.mean("goodput") < GOODPUT_FLOOR:
        return None
    goodput, horizon = rows.mean("goodput"), rows.mean("horizon_h")
    losses = {f"{c}_h": rows.mean(f"{c}_h") for c in CATEGORIES
              if c != "useful" and f"{c}_h" in rows.columns}
    worst = max(losses, key=losses.get)
    advice = ADVICE.get(worst, "see the summary's time categories")
    return (f"goodput {goodput:.4f} (mean of {len(frame)} replicate(s)) is below "
            f"{GOODPUT_FLOOR}: the job trains less than a fifth of its "
            f"{_duration(horizon * HOUR)}; the largest loss is {worst} "
            f"{_duration(losses[worst] * HOUR)} ({losses[worst] / horizon:.0%}): {advice}")


def result_warnings(frame: pd.DataFrame | Rows) -> list[str]:
    """Every warning the summary rows of a run show."""
    return [m for m in (check_goodput(frame),) if m is not None]


def warn(messages: Iterable[str], stacklevel: int = 2) -> None:
    """Issue each message as a TrainsimWarning (stacklevel as for warnings.warn, counted
    from the caller of this function)."""
    for message in messages:
        warnings.warn(message, TrainsimWarning, stacklevel=stacklevel + 1)
