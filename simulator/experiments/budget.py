"""The work budget: how many SimPy events a run will take, estimated before it runs.

A run's cost is its SimPy events (`python -m simulator.bench` measures 30,000 to 90,000
events/s per core for the failure-heavy presets, ~180,000 in step mode). The estimate
counts, per replicate over the simulated span T, what every process of the model
schedules, from the elaborated Scenario's rates:

    events ~= replicates x (BASE + sum over sources of count_i x EVENTS_i)

- checkpoints: T / (interval_steps x step_s + blocking_s) segments, each a compute
  timeout and a blocking write (2; async adds the snapshot's background write and its
  wake-up: 4). In step mode every step is an event: + interval_steps per segment.
- part failures (gpu and node scope, the part clock): exponential lifetimes
  slots x T / mean exactly (lemons' mean factor, infant mortality's shorter mean life
  below); other shapes the renewal bound min(F/(1-F), T/mean + cv^2) per physical part
  (F^{*n}(T) <= F(T)^n; Lorden's inequality), so that a Weibull of shape << 1, whose
  lifetimes are mostly ~0, counts as the flood of failures it is. Each failure sends a
  node to repair for at least the shortest repair time R, so with R > 0 there are at
  most (nodes + spares) x (T / R + 1) of them. 8 events each: the clock's timeout, the
  repair process (start, timeout, end), the job's interrupt, detection, restart and
  load, and the interrupted timeout that still fires; a repair redone with probability
  p adds 1/(1-p) - 1 timeouts.
- switch, rack and scale-up domains age whether or not the job uses them: units x the
  renewal count over T, 5 + 3 x the group's nodes events each.
- job-scope faults and cables are superposed renewal processes (gaps = lifetime /
  units): the renewal count over T x units; 5 events per fault (interrupt, detection,
  restart, the orphaned timeout), 10 per cable (its repair process and two re-plans of
  the compute at the changed speed).
- stragglers: T x gpus / mean, 11 events each (found after a detection process, the
  re-plan, a swap at the next checkpoint with its restart and repair); planned
  maintenance T / gap, 2 each (the request and the drain's restart); a trace's rows
  before T, 8 each.
- silent data corruption: T x gpus / mean corruptions, 11 events each (the source's
  timeout, the detection process, the swap of the culprit with its repair, the job's
  interrupt, recovery, and the checkpoints redone from the older target: measured 10.9
  per detected corruption on 64 GPUs at an interval of a few checkpoints).

T is the horizon, or with `work_hours` the failure-free wall time of the work divided
by the availability 1 - (recovery + half a segment) / MTBI (the whole
`max_horizon_days` when that is not positive), at most `max_horizon_days`. The
constants are the events the code schedules (read from job.py, cluster.py, sources.py,
spares.py); tests/experiments/test_budget.py checks the estimate against exact counts.

No loop can spin at one instant of simulated time without the estimate seeing it: every
loop of the model advances the clock by a step, a segment, a repair or a lifetime
draw, each counted above as T / its mean (or, for lifetimes mostly drawn ~0, by the
renewal bound). The limit is at most MAX_EVENTS_CEILING = 1e12, so an accepted run's
gaps average at least T x 1e-12, well above the spacing of doubles at T (T x 2.2e-16):
every accepted gap moves the clock. Zero-length repairs and recoveries are legal; they
end because the failures that start them are counted. The loops of reliability/ that
could turn at one instant, and what bounds each here:

- job.TrainingJob._run, _compute_steps: a segment is at least one step (step_s > 0),
  counted as checkpoints and steps; _compute re-plans once per speed change (counted
  with the stragglers and cables that cause them).
- spares.RepairShop._repair redoes a repair with probability p < 1 (validated), also
  when the repair takes no time: 1/(1-p) - 1 more per repair, counted.
- parts.PartClock._run and sources.DomainFailures._run fail again at once when a
  lifetime is drawn ~0 and (parts) the repair takes no time: the renewal bound.
- sources._Superposed (job faults, cables), StragglerArrivals, Maintenance,
  sdc.SilentCorruptions: T x rate.
- checkpoint_policies.Async's background writer: one write per checkpoint.
- storage_io.Storage: an input stream adds compute pieces per segment (the buffer
  running dry, re-plans as background writes start and end); outages T / (mean up time
  + mean outage) + 1, or the scripted ones, 12 events each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.errors import ConfigError
from simulator.fabric.domains import GROUP_SCOPES
from simulator.reliability.checkpoint_policies import CHECKPOINT_POLICIES
from simulator.reliability.failures import (
    Exponential,
    InfantMortality,
    Lifetime,
    LogNormal,
    Weibull,
)
from simulator.reliability.scenario import DEFAULT_MAX_EVENTS, MAX_EVENTS_CEILING, Scenario
from simulator.units import DAY, HOUR, MINUTE

__all__ = ["DEFAULT_MAX_EVENTS", "MAX_EVENTS_CEILING", "WorkEstimate", "check_budget",
           "estimate_events", "renewals"]

#: Events per replicate whatever happens: the job's process, the run's end.
BASE_EVENTS = 4
EVENTS_PER_PART_FAILURE = 8
EVENTS_PER_JOB_FAULT = 5
EVENTS_PER_CABLE = 10
EVENTS_PER_STRAGGLER = 11
EVENTS_PER_PLANNED = 2
EVENTS_PER_TRACE_ROW = 8
EVENTS_PER_SDC = 11
#: An input stream read from storage: per segment, the compute piece until the buffer
#: runs dry (1), and with background writes the re-plans as each starts and ends and the
#: writer's wake-ups (4; measured 3.7 on the default job with checkpoint=async).
EVENTS_PER_FED_SEGMENT = 1
EVENTS_PER_FED_ASYNC_SEGMENT = 4
#: A storage outage: its start and end, the events that tell writes and loads, the
#: compute's re-plans and a broken write done again (measured 4.4-11.1 per outage).
EVENTS_PER_OUTAGE = 12
#: SimPy events per second on one core, the slow end of `python -m simulator.bench`
#: (colossus 32,000, default 36,000, llama3 78,000, fleet 92,000, steps 177,000 on a
#: shared 2-core machine): the wall time a refused run would have taken, for its message.
EVENTS_PER_S = 30_000

#: What each source's count grows with: the keys to change when it dominates.
KEYS = {
    "steps": "mode=steps and workload.step_seconds",
    "checkpoints": "checkpoint.interval_minutes and the write time",
    "part failures": "failures.gpu_mtbf_hours / node_mtbf_hours / the gpu and node "
                     "components' mtbf_hours, restart.repair_hours",
    "domain failures": "the switch, rack and scaleup components' mtbf_hours",
    "job faults": "the job-scope components' mtbf_hours",
    "cable failures": "the link components' mtbf_hours",
    "stragglers": "failures.straggler_mtbf_hours",
    "planned maintenance": "failures.planned_per_day",
    "trace failures": "failures.trace_path",
    "silent data corruption": "failures.sdc_mtbf_hours",
    "input stream": "checkpoint.interval_minutes (re-plans per segment with storage.input.*)",
    "storage outages": "storage.outage_mtbf_hours / outage_at_hours",
}


@dataclass(frozen=True)
class WorkEstimate:
    """The estimated SimPy events of a run: per replicate, by source, over `span_s`."""

    terms: dict[str, float]  # events per replicate, by source
    replicates: int
    span_s: float

    @property
    def per_replicate(self) -> float:
        return BASE_EVENTS + sum(self.terms.values())

    @property
    def total(self) -> float:
        return self.replicates * self.per_replicate

    @property
    def dominant(self) -> str:
        """The source with the most events ("" when there is none)."""
        return max(self.terms, key=self.terms.get, default="")


def squared_cv(lifetime: Lifetime) -> float:
    """Var / mean^2 of a lifetime (inf when it overflows; 1 for unknown kinds)."""
    try:
        if isinstance(lifetime, Exponential):
            return 1.0
        if isinstance(lifetime, Weibull):
            k = lifetime.shape
            return math.exp(math.lgamma(1 + 2 / k) - 2 * math.lgamma(1 + 1 / k)) - 1.0
        if isinstance(lifetime, LogNormal):
            return math.expm1(lifetime.sigma ** 2)
    except OverflowError:
        return math.inf
    return 1.0


def renewals(lifetime: Lifetime, t_s: float) -> float:
    """Expected failures of one renewed part over `t_s` of service: t / mean for an
    exponential lifetime (exact), else min(F/(1-F), t/mean + cv^2), an upper bound of
    the renewal function (each n-fold convolution F*n(t) <= F(t)^n; Lorden 1970)."""
    if not t_s > 0:
        return 0.0
    by_mean = t_s / lifetime.mean_s
    if isinstance(lifetime, Exponential):
        return by_mean
    try:
        with np.errstate(all="ignore"):
            f = float(np.asarray(lifetime.cdf(np.asarray([t_s])))[0])
    except (OverflowError, ValueError):  # a shape whose scale overflows: lifetimes ~0
        f = 1.0
    geometric = math.inf if not f < 1.0 else f / (1.0 - f)
    return min(geometric, by_mean + squared_cv(lifetime))


def infant_scale(infant: InfantMortality | None, mean_s: float) -> float:
    """How many times as often a part fails with infant mortality: mean / mean life of a
    renewed part, m[(1 - e^(-fw/m)) / f + e^(-fw/m)] for hazard f/m during the window w
    (exact for exponential lifetimes; first lifetimes have no infancy, so an upper
    bound)."""
    if infant is None or not infant.factor > 1.0 or not infant.window_s > 0:
        return 1.0
    f, x = infant.factor, infant.factor * infant.window_s / mean_s
    life = (-math.expm1(-x)) / f + math.exp(-x)
    return 1.0 / life if life > 0 else math.inf


def span_s(scenario: Scenario) -> float:
    """The simulated time a replicate covers: the horizon, or with work_hours the wall
    time to do the work (see the module docstring), at most max_horizon."""
    if scenario.work_s is None:
        return scenario.horizon_s
    compute = scenario.interval_steps * scenario.step_s
    segment = compute + _blocking_s(scenario)
    wall = scenario.work_s * segment / compute
    rate = 1.0 / scenario.job_mtbi_s
    r = scenario.restart
    recovery = r.detect_s + r.restart_s + scenario.checkpoint.load_s
    available = 1.0 - rate * (recovery + segment / 2)
    if not available > 0:
        return scenario.max_horizon_s
    return min(scenario.max_horizon_s, wall / available)


def _blocking_s(scenario: Scenario) -> float:
    return CHECKPOINT_POLICIES[scenario.checkpoint.policy].mean_blocking_s(scenario.checkpoint)


def _segments(scenario: Scenario, t: float) -> dict[str, float]:
    steps = scenario.interval_steps
    segments = t / (steps * scenario.step_s + _blocking_s(scenario))
    background = CHECKPOINT_POLICIES[scenario.checkpoint.policy].background_write_s(
        scenario.checkpoint)
    terms = {"checkpoints": segments * (2 if background is None else 4)}
    if scenario.step_level:
        terms["steps"] = segments * (steps - 1)
    if scenario.storage.feeds:
        terms["input stream"] = segments * (EVENTS_PER_FED_SEGMENT if background is None
                                            else EVENTS_PER_FED_ASYNC_SEGMENT)
    return terms


def _outages(scenario: Scenario, t: float) -> float:
    """Storage outages over `t`: scripted ones before it, or an alternating renewal of
    up times (mean outage_mtbf_s) and outages (mean outage_s), at most t / cycle + 1."""
    s = scenario.storage
    if s.outage_at_s:
        return sum(1 for start in s.outage_at_s if start <= t)
    if s.outage_mtbf_s is None:
        return 0.0
    return t / (s.outage_mtbf_s + s.outage_s) + 1


def _part_failures(scenario: Scenario, t: float) -> float:
    """Failures of the nodes' own parts (gpu and node scope) over `t`."""
    failures, c, r = scenario.failures, scenario.cluster, scenario.restart
    if failures.trace is not None:
        return 0.0
    lemon = 1.0
    if failures.lemons is not None:
        lemon = 1 - failures.lemons.fraction + failures.lemons.fraction * failures.lemons.factor
    count, repairs = 0.0, [r.repair_s]
    physical = (c.nodes + c.spare_nodes) / c.nodes if c.nodes else 1.0
    for component in failures.components:
        if component.scope not in ("gpu", "node"):
            continue
        life = component.lifetime
        units = failures.units(component.scope, c.nodes, c.gpus_per_node)
        scale = lemon * infant_scale(failures.infant, life.mean_s)
        if isinstance(life, Exponential):
            count += units * scale * t / life.mean_s
        else:
            count += units * physical * scale * renewals(life, t)
        if component.repair_s is not None:
            repairs.append(component.repair_s)
    shortest = min(repairs)
    if shortest > 0:
        count = min(count, (c.nodes + c.spare_nodes) * (t / shortest + 1))
    # a misdiagnosed failure leaves its part in service to fail again: 1/a failures
    # per first one (simulator/reliability/diagnosis.py)
    return count / r.diagnosis_accuracy


def _repeats(scenario: Scenario) -> float:
    """Repair timeouts per repair: a redo with probability p -> 1 / (1 - p)."""
    p = scenario.restart.repair_failure_probability
    return 1.0 / (1.0 - p) if p < 1 else math.inf


def estimate_events(scenario: Scenario) -> WorkEstimate:
    """The SimPy events `scenario` will take, by source (the module docstring derives it)."""
    failures, c = scenario.failures, scenario.cluster
    t = span_s(scenario)
    terms = _segments(scenario, t)
    redo = _repeats(scenario) - 1.0
    terms["part failures"] = _part_failures(scenario, t) * (EVENTS_PER_PART_FAILURE + redo)
    domains = jobs = cables = 0.0
    if failures.trace is None:
        for component in failures.components:
            life, scope = component.lifetime, component.scope
            if scope in GROUP_SCOPES:
                groups = failures.groups(scope)
                if groups:
                    size = min(sum(len(g) for g in groups) / len(groups), c.nodes)
                    domains += len(groups) * renewals(life, t) * (
                        5 + (3 + redo) * size)
            elif scope == "job":
                jobs += renewals(life, t * c.gpus) * EVENTS_PER_JOB_FAULT
            elif scope == "link":
                units = failures.units("link", c.nodes, c.gpus_per_node)
                cables += renewals(life, t * units) * EVENTS_PER_CABLE if units else 0.0
        stragglers = failures.stragglers
        if stragglers is not None and math.isfinite(stragglers.mean_s):
            terms["stragglers"] = t * c.gpus / stragglers.mean_s * EVENTS_PER_STRAGGLER
        if failures.sdc is not None:
            terms["silent data corruption"] = t * c.gpus / failures.sdc.mtbf_s * EVENTS_PER_SDC
    else:
        rows = sum(1 for row in failures.trace if row.time_s <= t)
        terms["trace failures"] = rows * EVENTS_PER_TRACE_ROW
    terms.update({"domain failures": domains, "job faults": jobs, "cable failures": cables})
    if failures.planned_gap_s is not None:
        terms["planned maintenance"] = t / failures.planned_gap_s * EVENTS_PER_PLANNED
    terms["storage outages"] = _outages(scenario, t) * EVENTS_PER_OUTAGE
    return WorkEstimate({k: v for k, v in terms.items() if v}, scenario.replicates, t)


def _wall(events: float) -> str:
    seconds = events / EVENTS_PER_S
    if not math.isfinite(seconds):
        return "forever"
    if seconds < 2 * HOUR:
        return f"~{seconds / MINUTE:.0f} min"
    if seconds < 2 * DAY:
        return f"~{seconds / HOUR:.0f} h"
    return f"~{seconds / DAY:.3g} days"


def check_budget(scenario: Scenario, limit: float | None = None) -> WorkEstimate:
    """The estimate, or a ConfigError naming it, what dominates it and the key that
    raises the limit (`max_events`, the scenario's own unless `limit` is given)."""
    limit = scenario.max_events if limit is None else limit
    estimate = estimate_events(scenario)
    total = estimate.total
    if total <= limit:  # nan and inf fail this too
        return estimate
    per, worst = estimate.per_replicate, estimate.dominant
    if worst and math.isfinite(per) and per > 0:
        cause = f"mostly {worst} ({estimate.terms[worst] / per:.0%}, set by {KEYS[worst]})"
    else:
        cause = f"mostly {worst} (set by {KEYS[worst]})" if worst else "its segments"
    length = ("horizon_days" if scenario.work_s is None
              else "work_hours, at most max_horizon_days")
    reps = (f"replicates={scenario.replicates:,} x {per:.2g} per replicate"
            if scenario.replicates > 1 else "one replicate")
    fewer = ", fewer replicates" if scenario.replicates > 1 and per <= limit else ""
    raise ConfigError(
        "max_events", f"{limit:.3g}",
        f"this run would take ~{total:.2g} SimPy events ({_wall(total)} at ~"
        f"{EVENTS_PER_S:,} events/s): {reps} over {estimate.span_s / DAY:.3g} simulated "
        f"days ({length}), {cause}; shorten the run, change those keys{fewer}, or raise "
        f"max_events (up to {MAX_EVENTS_CEILING:.0e}) to run it anyway")
