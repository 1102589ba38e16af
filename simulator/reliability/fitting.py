"""Lifetimes fitted to a fleet's failure history: maximum likelihood with right-censoring.

The data of one component (a cause of failure, e.g. `hbm` or `psu`) is an `Exposure`:
every unit of its scope (a GPU, a host) is new at the start of the observation window
and renewed when that component fails on it, as the simulator's part clock renews a
failed part (simulator/reliability/parts.py). Each unit contributes its completed
inter-failure gaps (observed lifetimes) and the running gap at the window's end
(right-censored); a unit that never failed contributes one gap censored at the full
window. The likelihood of a renewal process observed on [0, T] is exactly the product of
the gap densities and the survival of the last, censored gap, so the estimates below are
the exact maximum-likelihood ones (failures of *other* components do not renew this one,
as in the simulator: independent competing risks; repair downtime is not subtracted,
the log has no repair times).

**Method.** Exponential: the closed form, mean = total unit-hours / failures. Weibull:
the scale has a closed form given the shape (scale^k = sum of t^k over every gap /
failures), so the maximum is one equation in the shape, solved with scipy's `brentq` on
the profile score (it is strictly decreasing in the shape: one root). scipy's own
`stats.CensoredData` fit (`weibull_min.fit`) finds the same maximum (tests/reliability/
test_fitting.py checks they agree to 1e-4) but runs a general two-parameter simplex search,
about 70 ms per fit, where the profile takes 0.2 ms (891 failures); the parametric bootstrap
refits hundreds of times. `lifelines` and `reliability` would add a dependency for the
same two likelihoods.

**Confidence intervals.** Wald intervals on the log of each parameter from the observed
information (the analytic Hessian of the censored log-likelihood at the maximum), mapped
back with exp, so they stay positive and are asymmetric as a positive parameter's should
be; the mean of a Weibull by the delta method on (log shape, log scale). For the
exponential this is var(log mean) = 1 / failures. Chosen over the profile-likelihood
interval because it is closed-form and fast; the coverage test (about 95% of 200
synthetic logs per parameter) checks it at the sample sizes a fleet log has. With fewer
than about 10 failures of a cause the interval is rough (`Fit.few` flags it).

**Model choice.** With `auto`, the lower AIC (2 x parameters - 2 x log-likelihood) wins:
the exponential is a Weibull of shape 1, so the Weibull is chosen when twice its
log-likelihood gain exceeds 2 (a likelihood-ratio test at about the 16% level). A cause
with fewer than MIN_WEIBULL failures is fitted exponential only.

**Goodness of fit.** The Kolmogorov-Smirnov distance between the Kaplan-Meier estimate of
the survival (censoring handled) and the fitted survival, at the observed gaps; the same
as comparing the Cox-Snell residuals' Kaplan-Meier with the unit exponential. Its
p-value comes from a parametric bootstrap: logs of the same fleet and window simulated
from the fitted model, refitted, and their distances compared (the textbook KS table is
wrong when the parameters were estimated from the same data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

#: A cause with fewer failures is fitted exponential only (a two-parameter fit to two
#: points says nothing about the shape).
MIN_WEIBULL = 3
#: Below this many failures the Wald interval is rough.
FEW_FAILURES = 10
MODELS = ("exponential", "weibull")
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Exposure:
    """One component's observations, in hours: completed gaps and censored gaps (one per
    unit). A pooled exposure (failures of units the log cannot tell apart: switches, the
    job) has only a count and the total unit-hours: `failed` and `censored` are None."""

    count: int
    unit_hours: float
    failed: np.ndarray | None = None
    censored: np.ndarray | None = None

    @classmethod
    def of(cls, failed: np.ndarray, censored: np.ndarray) -> Exposure:
        failed, censored = np.asarray(failed, float), np.asarray(censored, float)
        return cls(len(failed), float(failed.sum() + censored.sum()), failed, censored)

    @property
    def per_unit(self) -> bool:
        return self.failed is not None


@dataclass(frozen=True)
class Fit:
    """A fitted lifetime: its parameters, each with its 95% interval (low, high)."""

    model: str
    mean_h: float
    mean_ci: tuple[float, float]
    loglik: float
    count: int
    shape: float = 1.0
    shape_ci: tuple[float, float] = (1.0, 1.0)
    scale_h: float = math.nan  # Weibull scale (the exponential's is its mean)
    scale_ci: tuple[float, float] = (math.nan, math.nan)

    @property
    def params(self) -> int:
        return 1 if self.model == "exponential" else 2

    @property
    def aic(self) -> float:
        return 2 * self.params - 2 * self.loglik

    @property
    def few(self) -> bool:
        return self.count < FEW_FAILURES

    def survival(self, t_h: np.ndarray) -> np.ndarray:
        t = np.asarray(t_h, float)
        if self.model == "exponential":
            return np.exp(-t / self.mean_h)
        return np.exp(-((t / self.scale_h) ** self.shape))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.model == "exponential":
            return rng.exponential(self.mean_h, size)
        return self.scale_h * rng.weibull(self.shape, size)


def _interval(log_value: float, var: float) -> tuple[float, float]:
    half = Z95 * math.sqrt(max(var, 0.0))
    return math.exp(log_value - half), math.exp(log_value + half)


def fit_exponential(data: Exposure) -> Fit:
    """The exponential MLE: mean = unit-hours / failures; var(log mean) = 1 / failures."""
    if data.count == 0:
        raise ValueError("no failures: the mean time between failures has no estimate")
    mean = data.unit_hours / data.count
    loglik = -data.count * math.log(mean) - data.unit_hours / mean
    return Fit("exponential", mean, _interval(math.log(mean), 1.0 / data.count), loglik,
               data.count, scale_h=mean, scale_ci=_interval(math.log(mean), 1.0 / data.count))


def fit_weibull(data: Exposure) -> Fit:
    """The Weibull MLE with right-censoring (profile in the shape), Wald intervals on the
    log-parameters from the analytic observed information."""
    if not data.per_unit:
        raise ValueError("a Weibull needs each unit's gaps, not a pooled count")
    if data.count < 2:
        raise ValueError("a Weibull needs at least 2 failures")
    assert data.failed is not None and data.censored is not None
    unit = float(max(data.failed.max(), data.censored.max()))  # rescale: no overflow
    x = data.failed / unit
    t = np.concatenate([x, data.censored / unit])
    t = t[t > 0]
    r, log_x, log_t = data.count, np.log(x), np.log(t)
    sum_log_x = float(log_x.sum())

    def score(log_k: float) -> float:  # d(profile log-likelihood) / dk, decreasing in k
        k = math.exp(log_k)
        w = np.exp(k * log_t)
        return r / k + sum_log_x - r * float((w * log_t).sum() / w.sum())

    low, high = math.log(1e-3), math.log(1e3)
    if score(low) <= 0 or score(high) >= 0:
        raise ValueError("the Weibull likelihood has no interior maximum for these data")
    k = math.exp(optimize.brentq(score, low, high, xtol=1e-12))
    scale = (float(np.exp(k * log_t).sum()) / r) ** (1 / k)
    wz = log_t - math.log(scale)  # log(t / scale)
    z = np.exp(k * wz)
    loglik = (r * math.log(k) + k * float(log_x.sum() - r * math.log(scale))
              - sum_log_x - float(z.sum())) - r * math.log(unit)
    # observed information in (log k, log scale), at the maximum (sum z = r)
    info = np.array([[r + k * k * float((z * wz * wz).sum()), -k * k * float((z * wz).sum())],
                     [-k * k * float((z * wz).sum()), k * k * r]])
    cov = np.linalg.inv(info)
    scale_h = scale * unit
    # log mean = log scale + lgamma(1 + 1/k); d/dlog k = -psi(1 + 1/k) / k
    grad = np.array([-special.digamma(1 + 1 / k) / k, 1.0])
    log_mean = math.log(scale_h) + math.lgamma(1 + 1 / k)
    return Fit("weibull", math.exp(log_mean), _interval(log_mean, float(grad @ cov @ grad)),
               loglik, r, k, _interval(math.log(k), float(cov[0, 0])), scale_h,
               _interval(math.log(scale_h), float(cov[1, 1])))


def fit(data: Exposure, model: str = "auto") -> tuple[Fit, dict[str, Fit]]:
    """The chosen fit and every fit tried (by model name). `model`: auto (lower AIC),
    exponential or weibull (a pooled or too-small exposure: exponential only)."""
    if model not in ("auto", *MODELS):
        raise ValueError(f"unknown model {model!r}; expected auto, {', '.join(MODELS)}")
    fits = {"exponential": fit_exponential(data)}
    if model != "exponential" and data.per_unit and data.count >= MIN_WEIBULL:
        fits["weibull"] = fit_weibull(data)
    if model in fits:
        return fits[model], fits
    return min(fits.values(), key=lambda f: f.aic), fits


# ---- goodness of fit -------------------------------------------------------------------


def ks_distance(data: Exposure, fitted: Fit) -> float:
    """sup |Kaplan-Meier survival - fitted survival| over the observed gaps (both sides
    of each step of the Kaplan-Meier curve)."""
    assert data.failed is not None and data.censored is not None
    times = np.concatenate([data.failed, data.censored])
    events = np.concatenate([np.ones(len(data.failed)), np.zeros(len(data.censored))])
    order = np.lexsort((1 - events, times))  # at ties, failures before censorings
    times, events = times[order], events[order]
    at_risk = len(times) - np.arange(len(times))
    km_after = np.cumprod(1 - events / at_risk)
    km_before = np.concatenate([[1.0], km_after[:-1]])
    fitted_s = fitted.survival(times)
    hit = events == 1
    return float(np.max(np.abs(np.concatenate([km_after[hit] - fitted_s[hit],
                                               km_before[hit] - fitted_s[hit]]))))


def renewals(draw, units: int, window_h: float, rng: np.random.Generator) -> Exposure:
    """The exposure of `units` units renewed on failure over `window_h`, lifetimes from
    `draw(rng, size)`: what a log of that fleet would show."""
    failed, censored = [], []
    age = np.zeros(units)  # time each open gap started
    open_units = np.arange(units)
    while open_units.size:
        life = draw(rng, open_units.size)
        ends = age[open_units] + life
        done = ends >= window_h
        censored.append(window_h - age[open_units[done]])
        failed.append(life[~done])
        age[open_units[~done]] = ends[~done]
        open_units = open_units[~done]
    return Exposure.of(np.concatenate(failed), np.concatenate(censored))


def ks_pvalue(data: Exposure, fitted: Fit, units: int, window_h: float,
              samples: int = 199, seed: int = 0) -> tuple[float, float]:
    """(distance, p-value): the share of `samples` logs simulated from `fitted` over the
    same fleet and window whose own refitted distance is at least this one (counting
    this log as one of them, so p >= 1 / (samples + 1))."""
    observed = ks_distance(data, fitted)
    rng = np.random.default_rng(seed)
    above = 0
    for _ in range(samples):
        sim = renewals(fitted.sample, units, window_h, rng)
        if sim.count < MIN_WEIBULL and fitted.model == "weibull":
            above += 1  # too few failures to refit: no evidence against the model
            continue
        if sim.count == 0:
            above += 1
            continue
        refit = fit(sim, fitted.model)[0]
        above += ks_distance(sim, refit) >= observed
    return observed, (above + 1) / (samples + 1)
