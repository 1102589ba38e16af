"""The work budget (simulator/experiments/budget.py): the estimate of a run's SimPy
events against exact counts, and a clean ConfigError, fast, for every run the issue
found hanging.

Exact counts are derived by hand from what the job schedules (job.py: a compute timeout
and a write timeout per checkpoint segment, one timeout per step in step mode), not read
from the simulator.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
import warnings

import numpy as np
import pytest

from simulator import ConfigError, TrainsimWarning, load_scenario, simulate
from simulator.adaptive import adaptive_replicates
from simulator.bench import CASES
from simulator.experiments.budget import (
    DEFAULT_MAX_EVENTS,
    check_budget,
    estimate_events,
    infant_scale,
    renewals,
)
from simulator.experiments.runner import run_replicate, run_scenario
from simulator.reliability.failures import Exponential, InfantMortality, Weibull
from tests.clirun import describe, run_cli
from tests.experiments.test_feasibility import options

DAY, HOUR, MINUTE = 86400.0, 3600.0, 60.0


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging) when the body takes more than `seconds`."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---- every hang of the issue: a clean ConfigError before anything runs -------------------

JOB_FAULT = "+failures.components.bug={scope: job, mtbf_hours: 1e-9}"
#: The issue's hanging inputs. Those past a key's documented bound (README: Bounds) are
#: refused by validation, naming that key; the rest by the work budget.
ISSUE_HANGS = {
    "horizon": (["horizon_days=1e9"], "horizon_days"),
    "planned": (["failures.planned_per_day=1e9"], "failures.planned_per_day"),
    "stragglers": (["failures.straggler_mtbf_hours=1e-9"], "max_events"),
    "parts, no repair": (["failures.node_mtbf_hours=1e-9", "restart.repair_hours=0"],
                         "max_events"),
    "job faults": ([JOB_FAULT], "max_events"),
    "steps": (["mode=steps", "workload.step_seconds=0.001"], "max_events"),
    "interval": (["checkpoint.interval_minutes=1e-9", "workload.step_seconds=1e-6",
                  "checkpoint.write_minutes=0"], "max_events"),
    "replicates": (["replicates=10000000"], "replicates"),
    "weibull ~0 lifetimes": (["failures=weibull", "failures.shape=0.02",
                              "restart.repair_hours=0"], "failures.shape"),
}


def refused(overrides: list[str]) -> ConfigError:
    """The ConfigError simulate() raises for `overrides`, within 30 s (composing and
    checking only: no replicate ran)."""
    start = time.perf_counter()
    with deadline(60), warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainsimWarning)
        with pytest.raises(ConfigError) as caught:
            simulate(overrides)
    assert time.perf_counter() - start < 30
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize("case", list(ISSUE_HANGS))
def test_every_hang_of_the_issue_is_a_clean_config_error(case):
    overrides, key = ISSUE_HANGS[case]
    assert refused(overrides).key == key


#: Runs inside every key's bounds that still ask for too much work, one per source the
#: budget names (the estimate's dominant term).
HANGS = {
    "horizon": (["horizon_days=36525", "checkpoint.interval_minutes=0.01",
                 "checkpoint.write_minutes=0"], "checkpoints"),
    "planned": (["failures.planned_per_day=1440", "horizon_days=36525"],
                "planned maintenance"),
    "stragglers": (["failures.straggler_mtbf_hours=1e-9"], "stragglers"),
    "parts, no repair": (["failures.node_mtbf_hours=1e-9", "restart.repair_hours=0"],
                         "part failures"),
    "job faults": ([JOB_FAULT], "job faults"),
    "steps": (["mode=steps", "workload.step_seconds=0.001"], "steps"),
    "interval, no write": (["checkpoint.interval_minutes=1e-9", "workload.step_seconds=1e-6",
                            "checkpoint.write_minutes=0"], "checkpoints"),
    "interval, tiny write": (["checkpoint.interval_minutes=1e-9", "workload.step_seconds=1e-6",
                              "checkpoint.write_minutes=1e-9"], "checkpoints"),
    "replicates": (["replicates=1000000"], "checkpoints"),
    "redone repairs": (["failures.node_mtbf_hours=100", "restart.repair_hours=0",
                        "restart.repair_failure_probability=0.9999999999"], "part failures"),
    "weibull short lifetimes": (["failures=weibull", "failures.shape=0.1",
                                 "failures.node_mtbf_hours=1e-3", "restart.repair_hours=0"],
                                "part failures"),
}


@pytest.mark.parametrize("case", list(HANGS))
def test_a_hang_is_a_clean_config_error(case):
    overrides, dominant = HANGS[case]
    error = refused(overrides)
    assert error.key == "max_events"
    text = str(error)
    assert text.startswith("max_events=1e+08: this run would take ~"), text
    assert f"mostly {dominant} (" in text and "raise max_events" in text, text
    assert "events/s" in text  # what the estimate means in wall time


def test_the_estimate_names_replicates_when_they_are_the_cause():
    with pytest.raises(ConfigError, match=r"replicates=1,000,000 x .* fewer replicates"):
        check_budget(load_scenario(["replicates=1000000"]))


CENTURY = ["horizon_days=36525", "checkpoint.interval_minutes=0.01",
           "checkpoint.write_minutes=0"]


def test_a_hang_through_the_command_line(tmp_path):
    proc = run_cli([*CENTURY, "name=budget"], tmp_path, timeout=120)
    assert proc.returncode == 2, describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trainsim: config error: max_events="), \
        describe(proc)
    assert "horizon_days" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "results" / "budget" / "summary.csv").exists()


def test_a_hang_in_a_sweep(tmp_path):
    proc = run_cli(["-m", "horizon_days=36000,36525", *CENTURY[1:], "name=budget"], tmp_path,
                   timeout=120)
    assert proc.returncode == 2, describe(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("trainsim: config error: max_events="), describe(proc)
    assert "Traceback" not in proc.stderr


def test_adaptive_checks_its_largest_run_first():
    # 10,000,000 replicates of ~1,500 events: refused before the first batch
    with deadline(60), pytest.raises(ConfigError, match="max_events"):
        adaptive_replicates(["failures=none"], max_replicates=10_000_000)


# ---- the key -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1e13"])
def test_max_events_domain(value):
    with pytest.raises(ConfigError) as caught:
        load_scenario([f"max_events={value}"])
    allowed = caught.value.allowed  # nan and inf: every number must be finite (bounds)
    assert caught.value.key == "max_events" and ("1e+12" in allowed or "finite" in allowed)


def test_max_events_raises_and_lowers_the_limit():
    # failures=none, 30 days of 65-min segments: 2 x 664 + 2 = 1,330 events (below)
    with pytest.raises(ConfigError, match=r"max_events=1e\+03: this run would take ~1\.3e\+03"):
        simulate(["failures=none", "max_events=1000"])
    assert len(simulate(["failures=none", "max_events=2000"])) == 1
    scenario = load_scenario(["failures=none", "max_events=1000"])
    assert scenario.max_events == 1000
    with pytest.raises(ConfigError):  # run_scenario checks too (every path passes it)
        run_scenario(scenario, progress=False)


# ---- the estimate against exact counts ------------------------------------------------------


def test_no_failures_checkpoints_closed_form():
    # 30 days of (60-min interval + 5-min write) = 664 whole segments (664.6): each is a
    # compute timeout and a write timeout; plus the job's start and the run's end. The
    # 665th compute would end after the horizon and is never processed.
    scenario = load_scenario(["failures=none"])
    segments = 30 * DAY / (65 * MINUTE)
    exact = 2 * math.floor(segments) + 2
    assert run_replicate(scenario).sim_events == exact == 1330
    estimate = estimate_events(scenario)
    assert estimate.terms == {"checkpoints": pytest.approx(2 * segments)}
    assert exact <= estimate.per_replicate <= exact + 4


def test_step_mode_closed_form():
    # 10-s steps, 360 per 60-min interval, then the 5-min write: 361 events a segment.
    # 664 segments end at 2,589,600 s; 2,400 s remain: 240 steps, of which the last ends
    # exactly at the horizon, where the run's (urgent) end event comes first: 239.
    scenario = load_scenario(["failures=none", "mode=steps", "cluster.gpus=64"])
    exact = 1 + 664 * 361 + 239 + 1
    assert run_replicate(scenario).sim_events == exact
    estimate = estimate_events(scenario)
    assert estimate.per_replicate == pytest.approx(exact, rel=1e-3)
    assert estimate.dominant == "steps"


#: Scenarios with failures of every source: the estimate is within FACTOR of the count.
#: It is an upper estimate (rates over the whole span, no time lost to waiting), never
#: below 0.9 x the count; the fleet (lemons retired, hot spares) is the widest, ~2x.
FACTOR = (0.9, 2.5)
MIXED = [
    [],  # RSC-1 node failures
    ["horizon_days=300"],
    ["failures.node_mtbf_hours=100", "restart.repair_hours=1"],
    ["failures.node_mtbf_hours=1e-9"],  # capped by the 24-h repairs: (128 + 4) x 31
    ["failures=none", "failures.planned_per_day=10"],
    ["failures=llama3", "cluster=llama3_16k", "topology=llama3_roce"],
    ["checkpoint=async"],
    ["checkpoint=in_memory"],
    ["failures=weibull"],
    ["failures=lognormal"],
    ["failures.straggler_mtbf_hours=10000"],
    ["failures.node_mtbf_hours=null", "failures.sdc_mtbf_hours=2000"],  # SDC alone
    ["failures.sdc_mtbf_hours=20000", "checkpoint.keep=2"],  # SDC among node failures
    ["work_hours=500"],
    list(CASES["fleet"].overrides),
]


@pytest.mark.parametrize("overrides", MIXED, ids=" ".join)
def test_estimate_within_a_factor_of_the_count(overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainsimWarning)
        scenario = load_scenario(overrides)
    counted = run_replicate(scenario).sim_events
    ratio = estimate_events(scenario).per_replicate / counted
    assert FACTOR[0] <= ratio <= FACTOR[1], (ratio, counted)


def test_renewals_exponential_is_exact():
    assert renewals(Exponential(10.0), 1000.0) == pytest.approx(100.0)


@pytest.mark.parametrize("shape", [0.3, 0.7, 3.0])
def test_renewals_bounds_a_weibull_renewal_count(shape):
    # Monte Carlo with numpy alone: renewals of Weibull lifetimes of mean 1 over t = 5
    rng = np.random.default_rng(1)
    scale = 1.0 / math.gamma(1 + 1 / shape)
    t, counts = 5.0, []
    for _ in range(4000):
        clock, n = 0.0, 0
        while True:
            clock += scale * rng.weibull(shape)
            if clock > t:
                break
            n += 1
        counts.append(n)
    bound = renewals(Weibull(1.0, shape), t)
    assert np.mean(counts) <= bound <= 3 * np.mean(counts) + 1


def test_renewals_of_mostly_zero_lifetimes_is_a_flood():
    # shape 0.02, mean 1e4 h: most lifetimes are ~1e-17 of the mean; over 30 days nearly
    # every draw is shorter than the horizon, so a part fails again and again
    assert renewals(Weibull(1e4 * HOUR, 0.02), 30 * DAY) > 1e3


def test_infant_scale_closed_form():
    # no infancy, or a factor of 1: as often as without
    assert infant_scale(None, 100.0) == 1.0
    assert infant_scale(InfantMortality(1.0, 50.0), 100.0) == 1.0
    # a window much longer than the life: the hazard is factor / mean throughout
    assert infant_scale(InfantMortality(4.0, 1e9), 100.0) == pytest.approx(4.0)
    # Monte Carlo of min(X, Y if Y < w) with X ~ Exp(m), Y ~ Exp(m / (f - 1))
    rng = np.random.default_rng(2)
    m, f, w = 100.0, 5.0, 30.0
    x = rng.exponential(m, 400_000)
    y = rng.exponential(m / (f - 1), 400_000)
    life = np.where(y < np.minimum(w, x), y, x)
    assert infant_scale(InfantMortality(f, w), m) == pytest.approx(m / life.mean(), rel=0.01)


# ---- the default limit fits every preset and the benchmark with margin ------------------------

#: what an option needs besides itself on the default (fixed-step) scenario
NEEDS = {"restart=per_replica": ["restart.replica_gpus=64"]}
PRESETS = [[f"{group}={option}", *NEEDS.get(f"{group}={option}", [])]
           for group in ("cluster", "failures", "checkpoint", "restart")
           for option in options(group) if (group, option) != ("failures", "trace")]
PRESETS += [["+experiment=llama3_54d"]]


@pytest.mark.parametrize("overrides", PRESETS, ids=" ".join)
def test_presets_are_far_below_the_default_limit(overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainsimWarning)
        scenario = load_scenario(overrides)
    assert estimate_events(scenario).total < DEFAULT_MAX_EVENTS / 100


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.kind == "replicate"
                                  and n != "colossus"])
def test_bench_cases_are_far_below_the_default_limit(name):
    # colossus (220,000 GPUs, 90 days: 57,000 events counted by the bench) takes 10 s to
    # elaborate; its estimate is checked in the README's Work budget section
    scenario = load_scenario(list(CASES[name].overrides))
    assert estimate_events(scenario).total < DEFAULT_MAX_EVENTS / 100
