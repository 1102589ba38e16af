"""What the grid sees when the facility smooths its draw: a ramp limit with a battery.

Generators take one to 90 minutes to follow a change of load, so a site that drops or
adds tens of MW at once strains the grid (NVIDIA, "How New GB300 NVL72 Features Provide
Steady Power for AI", developer blog, 2025; Llama 3 sec. 3.3.4). Facilities bound the
swing by letting the grid's draw move at most `ramp_w_per_s` and covering the difference
from energy storage (the GB300's power supplies, a site battery). The model, exact on
the piecewise-constant load of simulator/reliability/power.py (no time steps):

- the grid's draw g follows the load L at most at the ramp rate;
- while L > g the battery supplies L - g (at most `battery_w`); when it is empty, or
  its power is short, the grid takes the rest at once (a jump: energy cannot be made);
- while L < g the battery absorbs g - L (at most `battery_w`) until full; what it
  cannot take is burned (the GB300's "power floor": GPUs kept busy, or a load bank), so
  the grid's draw never falls faster than the ramp;
- the battery starts half full (it must absorb the first drop and cover the first
  rise); below half it recharges from the grid at `recharge_w` (the grid ramps up to
  the load plus that, never above the run's peak load, and back once it is half
  full): staged drops store less than
  one rise of the same size takes ((a + b)^2 > a^2 + b^2), so without recharging it
  would drain. Its round trip is billed: each joule it delivers costs
  1/`efficiency` - 1 more from the grid.

Without a ramp limit the grid's draw is the load. `GridDraw` holds the grid's draw as
points of a piecewise-linear function (a jump is two points at one instant).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

#: A sub-step shorter than this (seconds) is a rounding residue, not a segment.
_EPS_S = 1e-9
#: Sub-steps in one load step: each ends at an event (the grid meets its goal, the
#: battery runs dry, fills, reaches its limit or half full), a handful at most.
_MAX_SUBSTEPS = 64


@dataclass(frozen=True)
class Smoothing:
    """A ramp limit on the grid's draw and the storage that serves it."""

    ramp_w_per_s: float  # the grid's draw moves at most this fast (W/s)
    battery_j: float = 0.0  # usable energy
    battery_w: float = math.inf  # the battery's power limit
    efficiency: float = 0.85  # round trip: NREL Annual Technology Baseline, Li-ion 85%
    recharge_w: float = 0.0  # back toward half full at this rate while below it


@dataclass(frozen=True)
class GridDraw:
    """The grid's draw over a run: (time_s, watts) points, linear between them."""

    points: tuple[tuple[float, float], ...]
    battery_out_j: float  # energy the battery delivered (billed at 1/efficiency)
    efficiency: float = 1.0

    @property
    def energy_j(self) -> float:
        """Energy from the grid: the integral of its draw plus the battery's losses."""
        p = self.points
        area = sum((t1 - t0) * (g0 + g1) / 2 for (t0, g0), (t1, g1) in itertools.pairwise(p))
        return area + self.battery_out_j * (1 / self.efficiency - 1)

    @property
    def peak_w(self) -> float:
        return max(g for _, g in self.points)

    @functools.cached_property
    def _times(self) -> list[float]:
        return [t for t, _ in self.points]

    def at(self, t: float) -> tuple[float, float]:
        """The draw just before and just after `t` (equal unless the grid jumps at t)."""
        p, times = self.points, self._times
        lo, hi = bisect.bisect_left(times, t), bisect.bisect_right(times, t)
        if lo < hi:  # t is a point (two at a jump)
            return p[lo][1], p[hi - 1][1]
        if lo == 0 or lo == len(p):
            g = p[0][1] if lo == 0 else p[-1][1]
            return g, g
        (t0, g0), (t1, g1) = p[lo - 1], p[lo]
        g = g0 + (g1 - g0) * (t - t0) / (t1 - t0)
        return g, g

    def swing_w(self, window_s: float) -> float:
        """The largest change of the draw within `window_s`: max |g(u) - g(s)| over
        0 <= u - s <= window. On a piecewise-linear function it is reached with both
        ends at points, or one at a point and the other a window away."""
        p = self.points
        best, start = 0.0, 0
        for i, (t, g) in enumerate(p):
            while p[start][0] < t - window_s:
                start += 1
            for _, other in p[start:i]:
                best = max(best, abs(g - other))
            for other in (*self.at(t - window_s), *self.at(t + window_s)):
                best = max(best, abs(g - other))
        return best

    def swings(self, changes: Sequence[float], window_s: float, threshold_w: float) -> int:
        """The load changes at `changes` after which the grid's draw moved by at least
        `threshold_w` before the earlier of `window_s` later and the next change."""
        count = 0
        for i, t in enumerate(changes):
            until = t + window_s if i + 1 == len(changes) else min(t + window_s,
                                                                   changes[i + 1])
            before = self.at(t)[0]
            after = self.at(until)[0] if until > t else self.at(t)[1]
            if abs(after - before) >= threshold_w:
                count += 1
        return count


def grid_draw(load: Sequence[tuple[float, float]], end_s: float,
              smoothing: Smoothing | None) -> GridDraw:
    """The grid's draw under `smoothing` for a load given as (start_s, watts) steps
    (each holding until the next, the last until `end_s`)."""
    if smoothing is None or math.isinf(smoothing.ramp_w_per_s):
        points: list[tuple[float, float]] = []
        for i, (t, w) in enumerate(load):
            until = load[i + 1][0] if i + 1 < len(load) else end_s
            points += [(t, w), (until, w)]
        return GridDraw(tuple(points), 0.0)
    s, r = smoothing, smoothing.ramp_w_per_s
    g, soc, half = load[0][1], smoothing.battery_j / 2, smoothing.battery_j / 2
    top = max(w for _, w in load)  # recharging never lifts the grid above the peak load
    points = [(load[0][0], g)]
    out = 0.0
    for i, (t, level) in enumerate(load):
        until = load[i + 1][0] if i + 1 < len(load) else end_s
        for _ in range(_MAX_SUBSTEPS):
            if until - t <= _EPS_S:
                break
            recharge = s.recharge_w > 0 and soc < half and level < top
            goal = min(level + s.recharge_w, top) if recharge else level
            b = level - g  # > 0: the battery delivers; < 0: it absorbs (or the rest burns)
            if b > 0 and (soc <= 0 or b > s.battery_w):  # it cannot: the grid jumps
                g = level - (min(s.battery_w, b) if soc > 0 else 0.0)
                points.append((t, g))
                continue
            slope = r if goal > g else -r if goal < g else 0.0
            meet = abs(goal - g) / r if slope else math.inf
            step = _Step(until - t, meet)
            if b > 0:  # delivering b - r tau (the grid rises): until it meets the load
                step.add("load", b / r)
                step.add("empty", _time_to_move(soc, b, -r))
            absorbing = b < 0 or (b == 0 and slope > 0)
            if absorbing and soc < s.battery_j and s.battery_w > 0:
                x = -b  # what the grid feeds beyond the load: x + slope tau
                stop = half if recharge else s.battery_j
                if x > s.battery_w:  # takes its limit, the rest burns
                    if slope < 0:
                        step.add("limit", (x - s.battery_w) / r)
                    step.add("stored", (stop - soc) / s.battery_w)
                else:
                    step.add("stored", _time_to_move(stop - soc, x, slope))
            tau = step.tau
            if b > 0:
                used = b * tau - r * tau * tau / 2
                out += used
                soc = 0.0 if step.hit("empty") else soc - used
            elif absorbing and soc < s.battery_j and s.battery_w > 0:
                x = -b
                taken = s.battery_w * tau if x > s.battery_w else x * tau + slope * tau * tau / 2
                soc = min(s.battery_j, (half if recharge else s.battery_j)
                          if step.hit("stored") else soc + taken)
            g = goal if step.hit("meet") else g + slope * tau
            t += tau
            points.append((t, g))
        else:
            raise RuntimeError(f"grid_draw: no progress in the load step at {t} s")
    return GridDraw(tuple(points), out, s.efficiency)


class _Step:
    """The next sub-step of grid_draw: the earliest of the events that end it."""

    def __init__(self, rest_s: float, meet_s: float) -> None:
        self.times = {"rest": rest_s, "meet": meet_s}

    def add(self, event: str, seconds: float) -> None:
        self.times[event] = max(0.0, seconds)

    @functools.cached_property
    def tau(self) -> float:
        return min(self.times.values())

    def hit(self, event: str) -> bool:
        return self.times.get(event, math.inf) == self.tau


def _time_to_move(energy_j: float, rate_w: float, slope_w_per_s: float) -> float:
    """When a flow starting at `rate_w` and changing at `slope_w_per_s` has moved
    `energy_j` (inf if it stops first): the smallest root of
    rate x tau + slope x tau^2 / 2 = E."""
    if energy_j <= 0:
        return 0.0
    disc = rate_w * rate_w + 2 * slope_w_per_s * energy_j
    if disc < 0:
        return math.inf
    root = rate_w + math.sqrt(disc)
    return 2 * energy_j / root if root > 0 else math.inf  # stably
