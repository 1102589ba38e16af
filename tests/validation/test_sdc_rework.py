"""The extra rework of silent data corruption against a closed form derived here.

Setting: one node, no other failures, synchronous checkpoints every T of compute that
block for C, every checkpoint kept, and an instant recovery (detect, restart and load 0,
spares at hand), so the job's clock is nothing but cycles of T + C, each started afresh
after a rollback. Corruptions arrive as a Poisson process; D is the detection latency.

Derivation. By PASTA, a corruption sees the cycle at a phase a uniform on [0, T + C)
(up to the cycles cut short by rollbacks: a relative error of order rate x (T + C), kept
at 0.5% below). Measure rework from the commit of the last durable checkpoint:

- a in [0, T) (compute): the newest checkpoint complete before the corruption is the
  last durable one; everything since its commit is lost at detection: a + D.
- a in [T, T + C) (its state is complete at T, being written): that checkpoint is clean.
  If the detection comes after the write ends (D >= T + C - a) the job rolls back to it,
  losing a + D - (T + C); otherwise the write is cut short and the job loses a + D.

So E[rework | a] = a + E[D] - (T + C) P(D >= T + C - a) for a >= T, and averaging over a,

    E[rework per SDC] = (T + C) / 2 + E[D] - integral_0^C P(D >= u) du,

which for exponential D of mean m is (T + C) / 2 + m - m (1 - exp(-C / m)); as C -> 0,
T / 2 + E[D], the familiar half interval plus the time the corruption went unnoticed.
A second corruption inside the first one's window (probability ~ rate x (D + T + C),
0.5% below) is the other approximation. The tolerance is four standard errors of the
ratio estimator over replicates plus 1% for the two approximations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, run_replicate
from simulator.reliability.failures import FailureModel, SilentCorruption

MIN = 60.0
HOUR = 3600.0
T, C = 10.0, 5.0  # minutes of compute per checkpoint, minutes of write
WINDOW_RATE = 0.005  # corruptions per (T + C + E[D]): the approximations' size
REPLICATES = 16
HORIZON_H = 6000.0


def closed_form(mean_min: float, survival) -> float:
    grid = np.linspace(0.0, C, 20_001)
    return (T + C) / 2 + mean_min - float(np.trapezoid(survival(grid), grid))


def runs(kind: str, shape: float, mean_min: float) -> tuple[np.ndarray, np.ndarray, float]:
    gap_min = (T + C + mean_min) / WINDOW_RATE  # the job's mean time between corruptions
    scenario = Scenario(
        seed=13, horizon_s=HORIZON_H * HOUR, step_s=MIN,
        cluster=ClusterSpec(gpus=8, gpus_per_node=8, spare_nodes=4),
        failures=FailureModel(kind="exponential", sdc=SilentCorruption(
            8 * gap_min * MIN, mean_min * MIN, kind, shape)),
        checkpoint=CheckpointSpec(interval_s=T * MIN, write_s=C * MIN, load_s=0.0),
        restart=RestartSpec(detect_s=0.0, restart_s=0.0, repair_s=MIN))
    rows = [run_replicate(scenario, r).row for r in range(REPLICATES)]
    events = np.array([row["sdc_events"] for row in rows], dtype=float)
    rework = np.array([row["sdc_rework_h"] * 60 for row in rows])
    return events, rework, gap_min


@pytest.mark.parametrize(("kind", "shape"), [("exponential", 1.0), ("weibull", 2.0)])
def test_mean_rework_per_sdc_matches_the_closed_form(kind: str, shape: float):
    mean_min = 10.0
    events, rework, gap_min = runs(kind, shape, mean_min)
    if kind == "exponential":
        expected = (T + C) / 2 + mean_min - mean_min * (1 - math.exp(-C / mean_min))
        assert closed_form(mean_min, lambda u: np.exp(-u / mean_min)) == \
            pytest.approx(expected, rel=1e-9)
    else:  # Weibull of mean m, shape k: scale m / Gamma(1 + 1/k)
        scale = mean_min / math.gamma(1 + 1 / shape)
        expected = closed_form(mean_min, lambda u: np.exp(-((u / scale) ** shape)))
    ratio = rework.sum() / events.sum()
    # the ratio estimator's standard error from the replicates (delta method)
    residual = rework - ratio * events
    se = math.sqrt((residual**2).sum() / (REPLICATES * (REPLICATES - 1))) / events.mean()
    assert abs(ratio - expected) <= 4 * se + 0.01 * expected, (ratio, expected, se)
    # and without the write term (a corruption during a write spoiling that checkpoint)
    # the figure would be (T + C) / 2 + m: far outside the tolerance
    assert abs(ratio - ((T + C) / 2 + mean_min)) > 4 * se + 0.01 * expected
    # the count: every corruption is detected but those erased by an earlier detection
    # (~WINDOW_RATE of them) or still pending at the end (~E[D] / horizon)
    corruptions = REPLICATES * HORIZON_H * 60 / gap_min
    assert abs(events.sum() - corruptions) <= 4 * math.sqrt(corruptions) \
        + 2 * WINDOW_RATE * corruptions
