"""The step-level mode (one event per step, per-GPU jitter) against the segment mode and
against the order statistics of the slowest GPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator import simulate
from simulator.reliability.jitter import StepJitter


def test_the_slowest_gpus_mean_matches_brute_force_sampling():
    # 20,000 steps of 512 GPUs, each GPU's factor drawn on its own
    jitter = StepJitter(cv=0.05, gpus=512)
    rng = np.random.default_rng(7)
    brute = np.exp(rng.normal(jitter.mu, jitter.sigma, (20_000, 512))).max(axis=1)
    se = brute.std(ddof=1) / math.sqrt(len(brute))
    assert abs(jitter.expected_max - brute.mean()) < 4 * se
    # small-cv approximation 1 + cv * E[max of 512 standard normals] (~3.04): ~1.15
    assert 1.12 < jitter.expected_max < 1.20


def test_sampled_maxima_follow_the_order_statistic_cdf():
    jitter = StepJitter(cv=0.1, gpus=64)
    samples = jitter.sample_max(np.random.default_rng(3), 20_000)
    single = stats.lognorm(jitter.sigma, scale=math.exp(jitter.mu))
    assert stats.kstest(samples, lambda x: single.cdf(x) ** 64).pvalue > 0.01
    # and not the single GPU's distribution
    assert stats.kstest(samples, single.cdf).pvalue < 1e-6


def test_without_jitter_step_level_equals_segment_mode_on_the_same_failures():
    base = ["replicates=4", "cluster.gpus=256", "horizon_days=10"]
    segments = simulate(base)
    steps = simulate([*base, "mode=steps"])
    assert (segments.failures == steps.failures).all()
    assert np.allclose(segments.goodput, steps.goodput, rtol=0, atol=1e-9)


def test_step_level_with_jitter_agrees_with_segment_mode_within_statistical_error():
    # Segment mode runs every step at the mean step (nominal x E[max]); step-level mode
    # draws each step. Same seeds: same failures, so the difference is paired.
    base = ["replicates=12", "cluster.gpus=512", "horizon_days=10", "workload.jitter_cv=0.1",
            "workload.step_seconds=2"]
    segments = simulate(base)
    steps = simulate([*base, "mode=steps"])
    diff = steps.goodput - segments.goodput
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * max(se, 1e-6)
    assert segments.step_s.iloc[0] == pytest.approx(2 * StepJitter(0.1, 512).expected_max)


def test_failure_free_step_level_time_matches_the_sum_of_step_maxima():
    # work_hours=10 at a mean step of 2 s x E[max]: N steps; the run ends when the last
    # checkpoint is written, so its length is N mean steps (+- the sum's spread) plus
    # the writes (interval 60 min, write 5 min).
    jitter = StepJitter(0.1, 512)
    mean_step = 2 * jitter.expected_max
    frame = simulate(["failures=none", "mode=steps", "cluster.gpus=512", "work_hours=10",
                      "workload.jitter_cv=0.1", "workload.step_seconds=2"])
    row = frame.iloc[0]
    steps = math.ceil(10 * 3600 / mean_step - 1e-9)
    # a step lasts 2 s x the slowest GPU's factor: its sd is 2 x sd(max)
    maxima = jitter.sample_max(np.random.default_rng(0), 200_000)
    sd_sum = 2 * maxima.std() * math.sqrt(steps)
    compute_h = row.horizon_h - row.checkpoint_h
    assert abs(compute_h * 3600 - steps * mean_step) < 5 * sd_sum
    assert row.checkpoints == math.ceil(steps / round(3600 / mean_step))
