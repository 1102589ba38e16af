"""Maximum-likelihood fits of a fleet's lifetimes with censoring
(simulator/reliability/fitting.py) and the exposures a log gives (fleet_log.py).

Synthetic fleets come from tests/fleetlogs.py, which draws each unit's renewals on its
own, independently of the module's code."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from simulator.reliability.fitting import (
    Exposure,
    fit,
    fit_exponential,
    fit_weibull,
    ks_distance,
    ks_pvalue,
    renewals,
)
from simulator.reliability.fleet_log import Fleet, FleetLog, Incident
from tests.fleetlogs import START, fleet_rows

REPEATS = 200
#: The central 99.9% of Binomial(200, 0.95) (scipy.stats.binom.ppf(0.0005, 200, 0.95)
#: and .isf(0.0005, ...)): a 95% interval covering its parameter in fewer logs is too
#: narrow, in more too wide.
COVERED = (179, 198)


def fleet_log(rows, hosts: int, gpus: int, window_h: float) -> FleetLog:
    fleet = Fleet(hosts, gpus, START, START + timedelta(hours=window_h))
    incidents = tuple(Incident(n + 2, t, h, c, s, g) for n, (t, h, c, s, g) in enumerate(rows))
    return FleetLog(fleet, incidents, tuple(f"h{i}" for i in range(hosts)))


def test_every_true_parameter_is_inside_its_95_interval_in_about_95_percent_of_logs():
    """200 logs of 64 hosts x 8 GPUs over 1,000 h: GPUs Weibull (shape 0.7, mean
    2,000 h; about 290 failures a log), hosts exponential (mean 1,000 h; about 64)."""
    hosts, gpus, window, shape, mean_gpu, mean_host = 64, 8, 1000.0, 0.7, 2000.0, 1000.0
    scale = mean_gpu / math.gamma(1 + 1 / shape)
    covered = {"shape": 0, "scale": 0, "gpu mean": 0, "host mean": 0}
    for seed in range(REPEATS):
        log = fleet_log(fleet_rows(seed, hosts, gpus, window, shape, scale, mean_host),
                        hosts, gpus, window)
        gpu, host = fit_weibull(log.exposure("hbm")), fit_exponential(log.exposure("psu"))
        covered["shape"] += gpu.shape_ci[0] <= shape <= gpu.shape_ci[1]
        covered["scale"] += gpu.scale_ci[0] <= scale <= gpu.scale_ci[1]
        covered["gpu mean"] += gpu.mean_ci[0] <= mean_gpu <= gpu.mean_ci[1]
        covered["host mean"] += host.mean_ci[0] <= mean_host <= host.mean_ci[1]
    for name, count in covered.items():
        assert COVERED[0] <= count <= COVERED[1], f"{name}: {count} of {REPEATS} covered"


def test_the_weibull_maximum_is_scipys_censored_fit():
    """scipy.stats' own CensoredData fit (a general simplex search) finds the same
    maximum as the profile in the shape."""
    data = renewals(lambda rng, n: 500 * rng.weibull(0.7, n), 256, 2000.0,
                    np.random.default_rng(3))
    ours = fit_weibull(data)
    theirs = stats.weibull_min.fit(stats.CensoredData(uncensored=data.failed,
                                                      right=data.censored), floc=0)
    assert ours.shape == pytest.approx(theirs[0], rel=1e-4)
    assert ours.scale_h == pytest.approx(theirs[2], rel=1e-4)
    loglik = (stats.weibull_min.logpdf(data.failed, ours.shape, scale=ours.scale_h).sum()
              + stats.weibull_min.logsf(data.censored, ours.shape, scale=ours.scale_h).sum())
    assert ours.loglik == pytest.approx(loglik, rel=1e-12)


def test_exponential_closed_form_by_hand():
    """3 failures in 1,200 unit-hours: mean 400 h, log-mean interval ±1.96/sqrt(3)."""
    data = Exposure.of(np.array([100.0, 200.0, 300.0]), np.array([600.0]))
    f = fit_exponential(data)
    assert f.mean_h == pytest.approx(400.0)
    half = 1.959963984540054 / math.sqrt(3)
    assert f.mean_ci == pytest.approx((400 * math.exp(-half), 400 * math.exp(half)))
    assert f.loglik == pytest.approx(-3 * math.log(400) - 3)


def test_a_log_gives_each_unit_its_gaps_and_its_censored_tail():
    """Host 0 fails at 10 h and 25 h, GPU 1 of host 1 at 40 h; 3 hosts x 2 GPUs, 100 h:
    node gaps 10, 15, censored 75 (host 0), 100, 100; GPU gaps 40, censored 60 for GPU
    (1, 1) and 100 for the other five."""
    rows = [(10.0, 0, "psu", "node", 0), (25.0, 0, "psu", "node", 0),
            (40.0, 1, "hbm", "gpu", 1)]
    log = fleet_log(rows, 3, 2, 100.0)
    node = log.exposure("psu")
    assert node.failed.tolist() == [10.0, 15.0]
    assert sorted(node.censored.tolist()) == [75.0, 100.0, 100.0]
    gpu = log.exposure("hbm")
    assert gpu.failed.tolist() == [40.0]
    assert sorted(gpu.censored.tolist()) == [60.0, *[100.0] * 5]
    assert gpu.unit_hours == 6 * 100.0


def test_auto_picks_the_weibull_for_infant_mortality_and_the_exponential_for_a_constant_rate():
    rng = np.random.default_rng(7)
    infant = renewals(lambda r, n: 300 * r.weibull(0.5, n), 400, 1000.0, rng)
    flat = renewals(lambda r, n: r.exponential(300, n), 400, 1000.0, rng)
    assert fit(infant)[0].model == "weibull"
    assert fit(flat)[0].model == "exponential"
    assert fit(Exposure(5, 1000.0))[0].model == "exponential"  # pooled: no gaps


def test_goodness_of_fit_rejects_the_wrong_model_and_is_calibrated_for_the_right_one():
    """Lifetimes of Weibull shape 0.5: fitted as exponential, p <= 0.05 in every one of 5
    logs; fitted as Weibull, p <= 0.05 in at most 4 of 20 logs (a calibrated p-value does
    so in 1 on average; P(5 or more) = 0.0026 for Binomial(20, 0.05))."""
    def log(seed: int) -> Exposure:
        return renewals(lambda r, n: 300 * r.weibull(0.5, n), 200, 1000.0,
                        np.random.default_rng(100 + seed))

    for seed in range(5):
        data = log(seed)
        wrong, right = fit(data, "exponential")[0], fit(data, "weibull")[0]
        assert ks_distance(data, wrong) > ks_distance(data, right)
        assert ks_pvalue(data, wrong, 200, 1000.0, samples=99, seed=seed)[1] <= 0.05
    small = sum(ks_pvalue(data, fit(data, "weibull")[0], 200, 1000.0, samples=99,
                          seed=seed)[1] <= 0.05 for seed, data in
                ((seed, log(seed)) for seed in range(20)))
    assert small <= 4
