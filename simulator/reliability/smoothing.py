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
  rise) and is billed for its round trip: each joule it delivers costs
  1/`efficiency` - 1 more from the grid (recharged slowly, which moves no swing).

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


@dataclass(frozen=True)
class Smoothing:
    """A ramp limit on the grid's draw and the storage that serves it."""

    ramp_w_per_s: float  # the grid's draw moves at most this fast (W/s)
    battery_j: float = 0.0  # usable energy
    battery_w: float = math.inf  # the battery's power limit
    efficiency: float = 0.85  # round trip: NREL Annual Technology Baseline, Li-ion 85%


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
    s = smoothing
    g, soc = load[0][1], s.battery_j / 2
    points = [(load[0][0], g)]
    out = 0.0
    for i, (t, level) in enumerate(load):
        until = load[i + 1][0] if i + 1 < len(load) else end_s
        while until - t > _EPS_S:
            d = level - g
            if d == 0:
                t = until
            elif d > 0:  # the load is above the grid: the battery delivers d - ramp x tau
                short = d - s.battery_w if soc > 0 else d
                if short > 0:  # the battery cannot: the grid takes the rest at once
                    g += short
                    points.append((t, g))
                    continue
                meet, empty = d / s.ramp_w_per_s, _time_to_move(soc, d, s.ramp_w_per_s)
                tau = min(until - t, meet, empty)
                used = d * tau - s.ramp_w_per_s * tau * tau / 2
                out += used
                soc = 0.0 if tau == empty else soc - used
                g = level if tau == meet else g + s.ramp_w_per_s * tau
                t += tau
            else:  # the load is below the grid: the battery absorbs, the rest burns
                a, room = -d, s.battery_j - soc
                meet = a / s.ramp_w_per_s
                if room <= 0 or s.battery_w <= 0:
                    tau = min(until - t, meet)
                elif a > s.battery_w:  # absorbs at its limit until the excess fits
                    full = room / s.battery_w
                    tau = min(until - t, (a - s.battery_w) / s.ramp_w_per_s, full)
                    soc = s.battery_j if tau == full else soc + s.battery_w * tau
                else:
                    full = _time_to_move(room, a, s.ramp_w_per_s)
                    tau = min(until - t, meet, full)
                    soc = s.battery_j if tau == full else \
                        soc + a * tau - s.ramp_w_per_s * tau * tau / 2
                g = level if tau == meet else g - s.ramp_w_per_s * tau
                t += tau
            points.append((t, g))
    return GridDraw(tuple(points), out, s.efficiency)


def _time_to_move(energy_j: float, rate_w: float, ramp_w_per_s: float) -> float:
    """When a flow starting at `rate_w` and falling at `ramp_w_per_s` has moved
    `energy_j` (inf if it stops first): the root of rate x tau - ramp x tau^2 / 2 = E."""
    disc = rate_w * rate_w - 2 * ramp_w_per_s * energy_j
    if disc < 0:
        return math.inf
    return 2 * energy_j / (rate_w + math.sqrt(disc))  # the smaller root, stably
