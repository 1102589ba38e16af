"""Distributional identities and paired policy comparisons on common random numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator import load_scenario, run_replicate, simulate
from simulator.reliability.failures import Exponential, Weibull

HOUR = 3600.0


def test_weibull_with_shape_one_is_the_exponential():
    t = np.array([1.0, 100.0, 3600.0, 1e5, 1e6])
    assert Weibull(3600.0 * 500, 1.0).cdf(t) == pytest.approx(Exponential(3600.0 * 500).cdf(t),
                                                               rel=1e-12)


def first_failures_h(overrides: list[str], replicates: int) -> np.ndarray:
    """The job's first interruption in each replicate (20 days: 480 h if none)."""
    scenario = load_scenario(["horizon_days=20", *overrides])
    times = []
    for r in range(replicates):
        log = run_replicate(scenario, r).failure_log
        times.append(log.time_s.iloc[0] / HOUR if len(log) else 480.0)
    return np.array(times)


def test_the_job_sees_the_same_first_failure_distribution_with_weibull_shape_one():
    # 128 nodes of MTBF 3,692.3 h: the job's first interruption is exponential with mean
    # 3,692.3 / 128 = 28.85 h, whichever lifetime family produced it.
    mtbi_h = 3692.3 / 128
    weibull = first_failures_h(["failures=weibull", "failures.shape=1"], 300)
    expo = first_failures_h(["failures=exponential"], 300)
    assert weibull.max() < 480 and expo.max() < 480  # P(none in 480 h) = e^-16.6
    exact = stats.expon(scale=mtbi_h).cdf
    assert stats.kstest(weibull, exact).pvalue > 0.01
    assert stats.kstest(expo, exact).pvalue > 0.01
    assert stats.ks_2samp(weibull, expo, method="asymp").pvalue > 0.01
    # and the test has teeth: Weibull with its preset shape 1.5 is not exponential
    worn = first_failures_h(["failures=weibull"], 300)
    assert stats.kstest(worn, exact).pvalue < 1e-3


def test_in_memory_beats_fixed_with_the_same_durable_interval_in_every_replicate():
    # fixed: a 5-min durable write every 2 h. in_memory: the same durable write every
    # 2 h, plus 3-s copies to a peer every 10 min (11 per 2 h: 1.65 h over 30 days) and
    # a 30-s reload instead of 5 min. On the same failures (common random numbers) each
    # of the ~25 failures then loses at most 10 min of work instead of up to 2 h, which
    # outweighs the copies whenever a replicate has failures.
    base = ["replicates=20", "checkpoint.write_minutes=5"]
    fixed = simulate([*base, "checkpoint=fixed", "checkpoint.interval_minutes=120"])
    memory = simulate([*base, "checkpoint=in_memory", "checkpoint.interval_minutes=10",
                       "checkpoint.durable_every=12", "checkpoint.memory_write_minutes=0.05"])
    assert (fixed.failures == memory.failures).all()  # the same failures in both
    hit = fixed.failures > 0
    assert hit.sum() >= 15
    assert (memory.goodput[hit] > fixed.goodput[hit]).all(), \
        (memory.goodput - fixed.goodput).describe()
