"""Lemon nodes and infant mortality after repair, against their expected rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator import ClusterSpec, RestartSpec, Scenario
from simulator.experiments.runner import run_replicate
from simulator.reliability.failures import Exponential, FailureModel, InfantMortality, Lemons

HOUR = 3600.0


def fleet(nodes: int, spares: int, mtbf_h: float, horizon_h: float, repair_h: float,
          lemons: Lemons | None = None, infant: InfantMortality | None = None,
          seed: int = 0) -> Scenario:
    return Scenario(
        seed=seed, horizon_s=horizon_h * HOUR, step_s=60.0,
        cluster=ClusterSpec(gpus=nodes, gpus_per_node=1, spare_nodes=spares),
        failures=FailureModel(kind="exponential", node=Exponential(mtbf_h * HOUR),
                              lemons=lemons, infant=infant),
        restart=RestartSpec(detect_s=0.0, restart_s=0.0, repair_s=repair_h * HOUR),
    )


def test_lemons_raise_the_rate_by_the_expected_factor():
    # 50 nodes, MTBF 1,000 h, no spares and instant repair, so the job always runs on the
    # same 50 nodes; each is a lemon (5x the rate) with probability 0.2. Expected
    # failures in 2,000 h: 2 x 50 x (0.8 + 0.2 x 5) = 180. Per replicate the variance is
    # Poisson's 180 plus the lemon count's: 50 x 0.2 x 0.8 x (2 x (5 - 1))^2 = 512.
    lemons = Lemons(fraction=0.2, factor=5.0)
    counts = [run_replicate(fleet(50, 0, 1000, 2000, 0, lemons), r).row["failures"]
              for r in range(30)]
    se = math.sqrt((180 + 512) / len(counts))
    assert abs(np.mean(counts) - 180) < 4 * se, np.mean(counts)


def test_retiring_lemons_brings_the_rate_back_down():
    # 20 job nodes of 40, a quarter lemons at 20x (MTBF 100 h instead of 2,000 h); a node
    # with 2 failures within 1,000 h is retired. In the second half of 20,000 h the job
    # runs on good nodes: ~10,000 x 20 / 2,000 = 100 failures. Without retirement it is
    # clearly more (not the naive 575 = 100 x (0.75 + 0.25 x 20): lemons spend much of
    # their time in repair and in the pool, so they hold fewer job slots than their
    # share). With a pool much larger than the job, a lemon idles between stints longer
    # than the window and is never caught: see README.
    def late_failures(retire_after):
        lemons = Lemons(0.25, 20.0, retire_after=retire_after, window_s=1000 * HOUR)
        runs = [run_replicate(fleet(20, 20, 2000, 20000, 10, lemons), r) for r in range(3)]
        late = np.mean([(run.failure_log.time_s > 10000 * HOUR).sum() for run in runs])
        return late, np.mean([run.row["retired_nodes"] for run in runs])

    late, retired = late_failures(2)
    kept, none_retired = late_failures(None)
    assert retired > 5 and none_retired == 0
    assert abs(late - 100) < 4 * math.sqrt(100 / 3) + 15, late
    assert kept - late > 4 * math.sqrt((kept + late) / 3), (kept, late)


def test_infant_mortality_lifetime_distribution():
    # hazard k x lambda for the first w, then lambda:
    # F(t) = 1 - exp(-k lambda t) for t < w, 1 - exp(-k lambda w - lambda (t - w)) after
    mean, k, w = 1000.0, 10.0, 20.0
    infant = InfantMortality(factor=k, window_s=w)
    rng = np.random.default_rng(1)
    base = rng.exponential(mean, 40_000)
    lives = np.array([infant.lifetime(b, mean, rng) for b in base])

    def cdf(t):
        t = np.asarray(t)
        lam = 1 / mean
        return np.where(t < w, -np.expm1(-k * lam * t), -np.expm1(-k * lam * w - lam * (t - w)))

    assert stats.kstest(lives, cdf).pvalue > 1e-3
    assert stats.kstest(lives, stats.expon(scale=mean).cdf).pvalue < 1e-6  # it matters


def test_repaired_parts_fail_early_more_often():
    # share of failures at an age under 20 h: ~2% without infant mortality (1 - e^-0.02),
    # 1 - e^-0.2 = 18% of repaired parts' failures with a 10x hazard for 20 h
    def early_share(infant):
        log = run_replicate(fleet(20, 10, 1000, 20000, 1, infant=infant)).failure_log
        renewed = log[log.time_s > log.age_s + 1]  # not a first life
        return float((renewed.age_s < 20 * HOUR).mean())

    plain = early_share(None)
    raised = early_share(InfantMortality(factor=10.0, window_s=20 * HOUR))
    assert plain < 0.05
    assert raised > 0.10
    assert raised == pytest.approx(-math.expm1(-0.2), abs=0.05)
