"""Statistical validation of the SimPy model against closed forms.

Every expected value here is derived by hand from the model's stated semantics, never
copied from a simulator run. Notation: T compute per segment (``interval_steps *
step_s``), C checkpoint write, R = detect + restart + load (the recovery), and with
exponential lifetimes the job's failure rate

    lambda = nodes * (1 / node_mean + gpus_per_node / gpu_mean),   M = 1 / lambda.

With ample spares the job always holds ``nodes`` in-service nodes whose parts are
memoryless, so the failures the job sees form a Poisson process of rate lambda at every
instant, including during recovery.

Expected time to finish one segment (renewal argument)
-------------------------------------------------------
A segment is W = T + C of uninterrupted wall clock. Attempts fail independently with
probability q = 1 - e^{-lambda W}, so the number of failed attempts N is geometric with
E[N] = e^{lambda W} - 1.

* Without a recovery cost, the time to get W failure-free seconds is the classic
  E_0(W) = (e^{lambda W} - 1) / lambda (condition on the first failure X:
  E_0 = E[min(X, W)] + q E_0, E[min(X, W)] = q / lambda).
* A recovery is itself R seconds that must run failure-free, restarting from scratch at
  each failure, so it takes E_0(R) = (e^{lambda R} - 1) / lambda on average.
* Each failed attempt costs one recovery, so by Wald's identity

      E = E_0(W) + E[N] E_0(R) = (e^{lambda W} - 1) / lambda * (1 + e^{lambda R} - 1)
        = (1 / lambda) e^{lambda R} (e^{lambda (T + C)} - 1).

The ends of successful checkpoints are renewal points (memorylessness; the job starts
at t = 0 like after a commit, with no load), each cycle earning T of useful compute, so
by the renewal-reward theorem the long-run goodput is T / E.

Finite-horizon bias: over a horizon H the mean useful time is T m(H) + (tail), where
m(H) = H / E + O(1) is the renewal function and the tail (compute not yet
checkpointed, which the ledger counts as useful at the end of the window) is at most
T. So E[goodput] = T / E + O(T / H); the tests use H >= 300 M, where T / H < 2e-3, and
add T / H to the statistical tolerance as an explicit bound.

Young's first-order optimum: waste ~ C / T + (T / 2 + R) / M is minimised at
T* = sqrt(2 C M). (The exact optimum of T / E does not depend on R and solves
e^{lambda (T + C)} (1 - lambda T) = 1, a few percent below T* when C << M.)

Tolerances: a mean over n independent replicates is compared within 4 standard errors
(estimated from the replicates); counts within 4 Poisson standard errors. For a
normal statistic that is a two-sided false-alarm probability of 6e-5, and the seeds are
fixed, so the tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.optimize import brentq

from simulator import load_scenario
from simulator.experiments.runner import run_replicate
from simulator.reliability.failures import NO_FAILURES, Exponential, FailureModel, Weibull
from simulator.reliability.intervals import daly_interval, young_daly_interval
from simulator.reliability.scenario import CheckpointSpec, ClusterSpec, RestartSpec, Scenario

HOUR = 3600.0
Z = 4.0  # standard errors allowed for a statistical comparison (see module docstring)


# ---- closed forms -----------------------------------------------------------------------


def job_rate(nodes: int, gpus_per_node: int, node_mean_s: float | None,
             gpu_mean_s: float | None) -> float:
    """lambda = nodes * (1 / node_mean + gpus_per_node / gpu_mean), by hand."""
    rate = 0.0
    if node_mean_s is not None:
        rate += nodes / node_mean_s
    if gpu_mean_s is not None:
        rate += nodes * gpus_per_node / gpu_mean_s
    return rate


def expected_cycle_s(t: float, c: float, r: float, m: float) -> float:
    """E = M e^{R/M} (e^{(T+C)/M} - 1): mean wall clock per committed segment."""
    return m * math.exp(r / m) * math.expm1((t + c) / m)


def exact_goodput(t: float, c: float, r: float, m: float) -> float:
    return t / expected_cycle_s(t, c, r, m)


def first_order_goodput(t: float, c: float, r: float, m: float) -> float:
    """Young's first-order model, 1 - C/T - (T/2 + R)/M (for comparison only)."""
    return 1.0 - c / t - (t / 2.0 + r) / m


def young_interval(c: float, m: float) -> float:
    return math.sqrt(2.0 * c * m)


def whole_steps(interval_s: float, step_s: float) -> float:
    """The compute per segment the job really runs: the interval in whole steps (>= 1)."""
    return max(1, round(interval_s / step_s)) * step_s


# ---- scenario helpers -------------------------------------------------------------------


def exponential_failures(nodes: int, gpus_per_node: int, m: float,
                         host_share: float) -> FailureModel:
    """Exponential host and GPU lifetimes giving the job an MTBI of m seconds.

    host_share of the job's rate comes from hosts, the rest from GPUs (0 < share <= 1).
    """
    rate = 1.0 / m
    node = Exponential(nodes / (host_share * rate))
    gpu = None if host_share == 1.0 else Exponential(
        nodes * gpus_per_node / ((1.0 - host_share) * rate))
    return FailureModel(kind="exponential", gpu=gpu, node=node)


def recovery(r: float, repair_s: float) -> RestartSpec:
    """detect + restart (+ load, set in CheckpointSpec) = r: a quarter, a half, a quarter."""
    return RestartSpec(detect_s=r / 4, restart_s=r / 2, repair_s=repair_s)


def scenario(*, t: float, c: float, r: float, nodes: int, failures: FailureModel,
             horizon_s: float, seed: int, step_s: float = 10.0, gpus_per_node: int = 8,
             spare_nodes: int = 8, repair_s: float = 60.0,
             work_s: float | None = None) -> Scenario:
    return Scenario(
        seed=seed,
        horizon_s=horizon_s,
        work_s=work_s,
        step_s=step_s,
        cluster=ClusterSpec(gpus=nodes * gpus_per_node, gpus_per_node=gpus_per_node,
                            spare_nodes=spare_nodes),
        failures=failures,
        checkpoint=CheckpointSpec(interval_s=t, write_s=c, load_s=r / 4),
        restart=recovery(r, repair_s),
    )


def never_short(result, scenario: Scenario) -> bool:
    """True if a spare was free at every failure, so the job always held all its nodes.

    A failed node is in repair for exactly repair_s, so the nodes in repair just after
    a failure at t are the failures in (t - repair_s, t]; the job's slots are all
    filled while that count does not exceed the spares.
    """
    times = np.sort(result.failure_log["time_s"].to_numpy())
    in_repair = np.arange(len(times)) - np.searchsorted(
        times, times - scenario.restart.repair_s, side="right") + 1
    return len(times) == 0 or int(in_repair.max()) <= scenario.cluster.spare_nodes


def mean_and_se(values: list[float] | np.ndarray) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


# ---- 1. failure-free ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval_s", "c", "step_s", "t"),
    [
        (600.0, 60.0, 10.0, 600.0),       # T a whole number of steps
        (3600.0, 300.0, 10.0, 3600.0),
        (1000.0, 7.0, 2.5, 1000.0),
        (604.0, 60.0, 10.0, 600.0),       # 60.4 steps -> 60 steps: T = 600 s
        (3.0, 5.0, 10.0, 10.0),           # shorter than a step -> one step
    ],
)
def test_failure_free_goodput_is_t_over_t_plus_c(interval_s, c, step_s, t):
    periods = 37
    sc = scenario(t=interval_s, c=c, r=0.0, nodes=4, failures=NO_FAILURES,
                  horizon_s=periods * (t + c), seed=0, step_s=step_s)
    row = run_replicate(sc, 0).row
    assert row["goodput"] == pytest.approx(t / (t + c), rel=0, abs=1e-9)
    assert row["useful_h"] == pytest.approx(periods * t / HOUR, rel=1e-12)
    assert row["checkpoint_h"] == pytest.approx(periods * c / HOUR, rel=1e-12)
    assert row["failures"] == 0
    assert row["rework_h"] == row["restart_h"] == row["wait_h"] == 0.0


def test_failure_free_partial_last_period():
    """Horizon mid-segment: the unfinished compute counts as useful (ledger.finish)."""
    t, c, periods, extra = 600.0, 60.0, 10, 250.0
    sc = scenario(t=t, c=c, r=0.0, nodes=4, failures=NO_FAILURES,
                  horizon_s=periods * (t + c) + extra, seed=0)
    row = run_replicate(sc, 0).row
    assert row["useful_h"] == pytest.approx((periods * t + extra) / HOUR, rel=1e-12)
    assert row["checkpoint_h"] == pytest.approx(periods * c / HOUR, rel=1e-12)


@pytest.mark.parametrize(
    ("t", "c", "step_s", "k", "remainder_s"),
    [
        (600.0, 60.0, 10.0, 12, 0.0),     # work = 12 T: 12 full segments
        (3600.0, 300.0, 10.0, 5, 0.0),
        (1000.0, 7.0, 2.5, 3, 0.0),
        (600.0, 60.0, 10.0, 4, 130.0),    # work = 4 T + 130 s: a short last segment
    ],
)
def test_failure_free_work_mode_ends_with_a_checkpoint(t, c, step_s, k, remainder_s):
    sc = scenario(t=t, c=c, r=0.0, nodes=4, failures=NO_FAILURES, horizon_s=1.0,
                  seed=0, step_s=step_s, work_s=k * t + remainder_s)
    row = run_replicate(sc, 0).row
    segments = k + (remainder_s > 0)
    wall_s = k * (t + c) + (remainder_s + c if remainder_s > 0 else 0.0)
    # Sums of small integer (or binary-exact) seconds are exact in floating point.
    assert row["horizon_h"] == wall_s / HOUR
    assert row["useful_h"] == pytest.approx((k * t + remainder_s) / HOUR, rel=1e-12)
    assert row["goodput"] == pytest.approx((k * t + remainder_s) / wall_s, abs=1e-12)
    assert row["checkpoints"] == segments
    assert row["completed"]


# ---- 2. exact expected goodput under exponential failures --------------------------------

# (T, C, R, M, nodes, host share of the failure rate, seed); C << M in every case.
# Distinct seeds: the same seed would reuse the same uniforms, correlating the points.
GOODPUT_POINTS = [
    # near Young's optimum (sqrt(2 C M) = 657 s), hosts only
    pytest.param(600.0, 60.0, 300.0, 3600.0, 4, 1.0, 101, id="T600-C60-R300-M1h"),
    # T above the optimum (1315 s), GPUs and hosts both failing
    pytest.param(1800.0, 120.0, 900.0, 7200.0, 8, 0.4, 102, id="T1800-C120-R900-M2h"),
    # long recovery, lambda R = 1/3: failures during recovery matter (e^{1/3} vs 4/3;
    # ignoring them would predict 0.621 instead of 0.594, ~10 standard errors away)
    pytest.param(300.0, 30.0, 600.0, 1800.0, 16, 0.7, 103, id="T300-C30-R600-M0.5h"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("t", "c", "r", "m", "nodes", "host_share", "seed"), GOODPUT_POINTS)
def test_mean_goodput_matches_exact_renewal_formula(t, c, r, m, nodes, host_share, seed):
    replicates, horizon_s = 40, 300 * m
    failures = exponential_failures(nodes, 8, m, host_share)
    assert 1.0 / job_rate(nodes, 8, failures.node.mean_s,
                          failures.gpu.mean_s if failures.gpu else None) == pytest.approx(m)
    sc = scenario(t=t, c=c, r=r, nodes=nodes, failures=failures, horizon_s=horizon_s,
                  seed=seed)
    results = [run_replicate(sc, i) for i in range(replicates)]
    assert all(never_short(res, sc) for res in results)  # the rate was lambda throughout
    rows = [res.row for res in results]
    mean, se = mean_and_se([row["goodput"] for row in rows])
    expected = exact_goodput(t, c, r, m)
    tolerance = Z * se + t / horizon_s  # statistics + the O(T/H) finite-horizon bias
    assert abs(mean - expected) < tolerance, (
        f"simulated {mean:.5f} +- {se:.5f}, exact {expected:.5f}, "
        f"first-order {first_order_goodput(t, c, r, m):.5f}")


# ---- 3. the optimum interval is Young's ------------------------------------------------


@pytest.mark.slow
def test_goodput_maximising_interval_is_youngs():
    """Sweep T on common random numbers, fit waste = a/T + bT + c, optimum sqrt(a/b).

    The fit is linear in the data, so the fit of the replicate-mean curve is the mean of
    the per-replicate fits: their covariance / n gives the standard error of (a, b) and,
    by the delta method, of sqrt(a/b).
    """
    m, c, r, nodes = 3600.0, 50.0, 300.0, 4
    step_s, replicates, horizon_s = 10.0, 24, 300 * m
    young = young_interval(c, m)  # 600 s
    grid = np.array([whole_steps(x, step_s) for x in np.geomspace(young / 3, young * 3, 9)])
    failures = exponential_failures(nodes, 8, m, host_share=0.5)

    def goodputs(t: float) -> np.ndarray:
        sc = scenario(t=t, c=c, r=r, nodes=nodes, failures=failures,
                      horizon_s=horizon_s, seed=7, step_s=step_s)
        results = [run_replicate(sc, i) for i in range(replicates)]
        assert all(never_short(res, sc) for res in results)
        return np.array([res.row["goodput"] for res in results])

    waste = 1.0 - np.column_stack([goodputs(t) for t in grid])  # replicate x T
    design = np.column_stack([1.0 / grid, grid, np.ones_like(grid)])
    coef = np.linalg.lstsq(design, waste.T, rcond=None)[0].T  # replicate x (a, b, c)
    (a, b, _), cov = coef.mean(axis=0), np.cov(coef, rowvar=False) / replicates
    assert a > 0 and b > 0
    t_fit = math.sqrt(a / b)
    grad = np.array([0.5 / math.sqrt(a * b), -0.5 * math.sqrt(a) / b**1.5])
    se_fit = math.sqrt(grad @ cov[:2, :2] @ grad)

    # The exact optimum (for the report), from d/dT [T / E] = 0.
    t_exact = brentq(lambda t: math.exp((t + c) / m) * (1 - t / m) - 1, 1.0, m)
    assert t_exact == pytest.approx(young, rel=0.1)  # closed forms agree when C << M

    assert se_fit < 0.05 * young, "the sweep is too noisy for a 15% test to mean much"
    assert abs(t_fit - young) < 0.15 * young, (
        f"fitted optimum {t_fit:.0f} s +- {se_fit:.0f}, Young {young:.0f} s, "
        f"exact {t_exact:.0f} s")
    # Sharper: the same fit applied to the closed-form waste 1 - T/E on the same grid
    # (the 3-term fit is itself a few percent below the exact optimum). The O(T/H)
    # horizon bias is at most ~T/H, so it moves b by <= 1/H (1%) and sqrt(a/b) by
    # <= 0.5% (3 s), well inside Z * se_fit (~15 s).
    exact_waste = np.array([1.0 - exact_goodput(t, c, r, m) for t in grid])
    a0, b0, _ = np.linalg.lstsq(design, exact_waste, rcond=None)[0]
    assert abs(t_fit - math.sqrt(a0 / b0)) < Z * se_fit, (
        f"fitted optimum {t_fit:.1f} s +- {se_fit:.1f}, closed-form fit "
        f"{math.sqrt(a0 / b0):.1f} s")

    # The simulated goodput at the fitted optimum against the closed form there.
    t_run = whole_steps(t_fit, step_s)
    mean, se = mean_and_se(goodputs(t_run))
    expected = exact_goodput(t_run, c, r, m)
    assert abs(mean - expected) < Z * se + t_run / horizon_s, (
        f"at T={t_run:.0f} s: simulated {mean:.5f} +- {se:.5f}, exact {expected:.5f}")


# ---- 4. interruption rate ------------------------------------------------------------------


def test_interruption_counts_match_component_rates():
    nodes, gpn = 8, 8
    node_mean_s, gpu_mean_s = 50 * HOUR, 200 * HOUR
    host_rate = nodes / node_mean_s                # 0.16 per hour
    gpu_rate = nodes * gpn / gpu_mean_s            # 0.32 per hour
    replicates, horizon_s = 4, 5000 * HOUR
    failures = FailureModel(kind="exponential", gpu=Exponential(gpu_mean_s),
                            node=Exponential(node_mean_s))
    # Long segments keep the event count low; the failure process ignores the job.
    sc = scenario(t=10 * HOUR, c=60.0, r=600.0, nodes=nodes, failures=failures,
                  horizon_s=horizon_s, seed=11, gpus_per_node=gpn)
    assert sc.job_mtbi_s == pytest.approx(1.0 / (host_rate + gpu_rate), rel=1e-12)
    results = [run_replicate(sc, i) for i in range(replicates)]
    rows = [res.row for res in results]
    assert all(never_short(res, sc) for res in results)  # the rate was lambda throughout

    exposure = replicates * horizon_s
    for key, rate in [("failures", host_rate + gpu_rate), ("gpu_failures", gpu_rate),
                      ("node_failures", host_rate)]:
        observed = sum(row[key] for row in rows)
        expected = rate * exposure  # Poisson: variance = mean
        assert abs(observed - expected) < Z * math.sqrt(expected), (
            f"{key}: observed {observed}, expected {expected:.0f}")

    # Each failure the job sees is one logged failure, and the gaps are Exp(lambda).
    gaps = []
    for res in results:
        assert len(res.failure_log) == res.row["failures"]
        gaps.extend(np.diff(np.concatenate([[0.0], res.failure_log["time_s"].to_numpy()])))
    lam = host_rate + gpu_rate
    assert stats.kstest(gaps, stats.expon(scale=1.0 / lam).cdf).pvalue > 1e-4


# ---- 5. ages are kept across job restarts (Weibull wear-out) -----------------------------


def test_first_failure_times_follow_min_of_weibull_lifetimes():
    """Initial nodes serve from t = 0 until their first failure whatever the job does.

    Their parts age continuously through every job restart, so the first failure of
    initial node i is min(host, 8 GPU) lifetimes, with CDF
    F(t) = 1 - exp(-sum_j (t / scale_j)^k). A model that resampled lifetimes at job
    restarts would stretch these times; a memoryless one would make them exponential.
    """
    nodes, gpn, shape = 16, 8, 3.0
    gpu, host = Weibull(2000 * HOUR, shape), Weibull(4000 * HOUR, shape)
    scale_gpu = gpu.mean_s / math.gamma(1 + 1 / shape)    # mean-matched, by hand
    scale_host = host.mean_s / math.gamma(1 + 1 / shape)
    coeff = gpn / scale_gpu**shape + 1 / scale_host**shape  # cumulative hazard / t^k

    def cdf(t):
        return -np.expm1(-coeff * np.asarray(t, dtype=float) ** shape)

    # Horizon with cumulative hazard 40: P(some of ~500 nodes survives) < 1e-14.
    horizon_s = (40.0 / coeff) ** (1 / shape)
    replicates = 32
    failures = FailureModel(kind="weibull", gpu=gpu, node=host)
    sc = scenario(t=10 * HOUR, c=60.0, r=600.0, nodes=nodes, failures=failures,
                  horizon_s=horizon_s, seed=5, gpus_per_node=gpn, spare_nodes=nodes,
                  repair_s=2 * horizon_s)  # a failed node never comes back
    samples = []
    for i in range(replicates):
        log = run_replicate(sc, i).failure_log
        first = log[log["node"] < nodes]
        # Each initial node fails exactly once, and its age is its wall-clock time.
        assert sorted(first["node"]) == list(range(nodes))
        np.testing.assert_allclose(first["age_s"], first["time_s"], rtol=1e-12)
        samples.extend(first["time_s"])
    samples = np.asarray(samples)
    assert len(samples) == nodes * replicates

    assert stats.kstest(samples, cdf).pvalue > 1e-3

    # Power: the same samples against an exponential with the same mean (what a
    # memoryless / resample-at-every-restart model of this node would look like) ...
    min_mean = coeff ** (-1 / shape) * math.gamma(1 + 1 / shape)
    assert stats.kstest(samples, stats.expon(scale=min_mean).cdf).pvalue < 1e-6
    # ... and against the right shape with the means used as scales (no Gamma factor).
    naive = gpn / gpu.mean_s**shape + 1 / host.mean_s**shape
    assert stats.kstest(samples, lambda t: -np.expm1(-naive * t**shape)).pvalue < 1e-6


# ---- 6. the Young-Daly policy ---------------------------------------------------------------


def test_young_daly_policy_function():
    for c, m in [(300.0, 28.8 * HOUR), (60.0, 3600.0), (1.0, 1.0)]:
        assert young_daly_interval(None, c, m) == pytest.approx(math.sqrt(2 * c * m),
                                                                rel=1e-15)
    with pytest.raises(ValueError):
        young_daly_interval(None, 300.0, math.inf)


@pytest.mark.parametrize(
    ("overrides", "nodes", "node_mtbf_h", "gpu_mtbf_h", "write_min"),
    [
        ([], 128, 3692.3, None, 5.0),  # defaults: 1,024 GPUs, hosts at 3,692.3 h
        (["cluster.gpus=4096", "failures.gpu_mtbf_hours=50000",
          "checkpoint.write_minutes=2"], 512, 3692.3, 50000.0, 2.0),
        # mean-matched Weibull: same MTBI, so the same interval as exponential
        (["failures=weibull", "failures.shape=2.5"], 128, 3692.3, None, 5.0),
    ],
)
def test_young_daly_interval_through_config(overrides, nodes, node_mtbf_h, gpu_mtbf_h,
                                            write_min):
    sc = load_scenario(["checkpoint=young_daly", *overrides])
    rate_per_h = nodes / node_mtbf_h + (nodes * 8 / gpu_mtbf_h if gpu_mtbf_h else 0.0)
    m = HOUR / rate_per_h
    c = write_min * 60.0
    assert sc.checkpoint.policy == "young_daly"
    assert sc.checkpoint.write_s == c
    assert sc.checkpoint.interval_s == pytest.approx(math.sqrt(2 * c * m), rel=1e-12)
    if not overrides:  # the figure quoted in scenarios/failures/exponential.yaml
        assert m / HOUR == pytest.approx(28.85, abs=0.01)


# ---- 7. Daly's higher-order interval --------------------------------------------------


@pytest.mark.parametrize(("c", "m"), [(5.0, 600.0), (30.0, 300.0), (60.0, 200.0)])
def test_daly_is_closer_to_the_exact_optimum_than_young(c, m):
    exact = optimize.minimize_scalar(lambda t: -exact_goodput(t, c, 0.0, m),
                                     bounds=(1e-3, 10 * m), method="bounded").x
    young = young_daly_interval(None, c, m)
    daly = daly_interval(None, c, m)
    x = c / (2 * m)
    assert daly == pytest.approx(math.sqrt(2 * c * m) * (1 + math.sqrt(x) / 3 + x / 9) - c)
    assert abs(daly - exact) < abs(young - exact)
    assert abs(daly - exact) / exact < 0.05


def test_daly_beyond_its_range_returns_the_mtbi():
    assert daly_interval(None, 500.0, 200.0) == 200.0
