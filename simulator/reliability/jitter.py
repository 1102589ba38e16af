"""Per-GPU step-time jitter: a synchronous step lasts as long as its slowest GPU.

Each GPU's time for one step is the nominal time times an independent lognormal factor
of mean 1 and coefficient of variation `cv` (kernel timing noise, OS jitter, thermal
throttling). The step waits for all `gpus` of them, so it takes the nominal time times
the *maximum* of `gpus` factors, whose mean grows with the job size (about
1 + cv * sqrt(2 ln gpus) for small cv).

The maximum is sampled exactly, one draw per step, from its order-statistic CDF
F(x)^gpus: with U uniform, max = F^-1(U^(1/gpus)). That keeps the step-level mode at
one random draw and one SimPy event per step whatever the GPU count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class StepJitter:
    """Lognormal per-GPU step factors (mean 1, coefficient of variation `cv`)."""

    cv: float
    gpus: int

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def mu(self) -> float:
        return -self.sigma**2 / 2

    @cached_property
    def expected_max(self) -> float:
        """E[max of `gpus` factors] = integral of 1 - F(x)^gpus over x >= 0."""
        if self.cv == 0:
            return 1.0
        from scipy import integrate, stats  # only when a scenario has jitter

        dist = stats.lognorm(self.sigma, scale=math.exp(self.mu))
        hi = float(dist.ppf(1 - 1e-12 / self.gpus))

        def survival_of_max(x: float) -> float:
            return -math.expm1(self.gpus * math.log(max(dist.cdf(x), 1e-300)))

        # Below `lo`, P(max <= x) <= 1e-15: the integrand is 1 to double precision.
        lo = float(dist.ppf(math.exp(math.log(1e-15) / self.gpus)))
        tail, _ = integrate.quad(survival_of_max, lo, hi, limit=200, epsabs=1e-13)
        return lo + tail

    def sample_max(self, rng: np.random.Generator, steps: int) -> np.ndarray:
        """`steps` draws of the slowest GPU's factor, one uniform each."""
        if self.cv == 0:
            return np.ones(steps)
        from scipy import special

        u = rng.random(steps)
        return np.exp(self.mu + self.sigma * special.ndtri(u ** (1.0 / self.gpus)))


class StepDurations:
    """Step-level mode's step durations at full speed, drawn in blocks of BLOCK: mean
    `step_s`, each the slowest GPU's under `jitter` (all equal without jitter)."""

    BLOCK = 4096

    def __init__(self, step_s: float, jitter: StepJitter | None,
                 rng: np.random.Generator) -> None:
        self.step_s, self.jitter, self._rng = step_s, jitter, rng
        self._times: list[float] = []

    def next(self) -> float:
        """The next step's duration (seconds)."""
        if not self._times:
            self._times.extend(self._draw(self.BLOCK))
        return self._times.pop()

    def _draw(self, count: int) -> list[float]:
        if self.jitter is None:
            return [self.step_s] * count
        scale = self.step_s / self.jitter.expected_max
        return (scale * self.jitter.sample_max(self._rng, count)).tolist()
