"""The facility's electrical draw over a run, from the job's state, at event resolution.

The draw is a function of what the job is doing (simulator/reliability/metrics.py
`Phase`, with the slowdown and the share of replicas training while it computes), so
the ledger tells a `PowerMeter` every phase change and the meter integrates the draw
piecewise: no per-step events, memory bounded by the swing window. What each state
draws (`FacilityPower.draw_w`), in watts at the facility (IT power x PUE):

- computing: each training accelerator at its step's mean draw, dense compute for the
  step's compute share and communication-bound for the rest (bubble, exposed
  collectives; a fixed-step workload is all compute); at a slowdown f (a straggler, a
  cable down, an elastic job on fewer nodes) the healthy ones wait at a collective for
  1 - 1/f of the time (communication-bound draw); with only a share c of the
  data-parallel replicas training, the others' accelerators are idle. Hosts busy.
- checkpoint (blocking write): accelerators idle, hosts busy (they write).
- restart, wait: accelerators idle, hosts idle.
- always: the scale-out switches of the topology graph, and the spare nodes, idle.

Nodes in repair are counted in their job slot (the pool refills it; while the job waits
for one, the empty slot's draw is an overestimate of at most one node). The figures per
component and state are `simulator/fabric/power.py`'s, with their sources.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from simulator.fabric.power import PowerModel
from simulator.reliability.metrics import Phase
from simulator.reliability.smoothing import GridDraw, Smoothing, grid_draw
from simulator.units import HOUR

#: Joules in one megawatt-hour.
MWH_J = 1e6 * HOUR

#: The window of `power_swing_mw`: the largest change of the draw within one minute.
SWING_WINDOW_S = 60.0
#: states whose draws a meter keeps (stragglers can make every slowdown distinct)
_MAX_STATES = 4096


@dataclass(frozen=True)
class FacilityPower:
    """The facility behind one job: what it draws in each state of the job (watts)."""

    model: PowerModel
    gpus: int
    gpus_per_node: int
    spare_nodes: int
    switches: int
    pue: float
    compute_share: float = 1.0  # of a step in dense compute; the rest communication-bound
    swing_threshold_w: float = 1e6  # a jump at least this large counts in power_swings
    floor_share: float = 0.0  # a training GPU draws at least this share of step_gpu_w
    smoothing: Smoothing | None = None  # the grid's ramp limit and battery

    @property
    def nodes(self) -> int:
        return self.gpus // self.gpus_per_node

    @property
    def step_gpu_w(self) -> float:
        """One accelerator's mean draw over a healthy step."""
        m = self.model
        return self.compute_share * m.gpu_compute_w + (1 - self.compute_share) * m.gpu_comm_w

    @property
    def always_w(self) -> float:
        """IT draw that does not follow the job: switches and idle spare nodes."""
        m = self.model
        return (self.switches * m.switch_w
                + self.spare_nodes * (m.host_idle_w + self.gpus_per_node * m.gpu_idle_w))

    def draw_w(self, phase: Phase, slowdown: float = 1.0, capacity: float = 1.0,
               floor: bool = True) -> float:
        """The facility's draw while the job is in `phase` (compute at `slowdown`, with
        a share `capacity` of its replicas training); with `floor`, no training GPU
        below the power floor (it burns the difference: NVIDIA GB300's power floor)."""
        m = self.model
        low = self.floor_share * self.step_gpu_w if floor else 0.0
        idle = max(m.gpu_idle_w, low)
        if phase is Phase.COMPUTE:
            busy = max(low, self.step_gpu_w / slowdown + m.gpu_comm_w * (1 - 1 / slowdown))
            gpu = capacity * busy + (1 - capacity) * idle
            it = self.gpus * gpu + self.nodes * m.host_busy_w
        elif phase is Phase.CHECKPOINT:
            it = self.gpus * idle + self.nodes * m.host_busy_w
        else:  # restart, wait
            it = self.gpus * idle + self.nodes * m.host_idle_w
        return (it + self.always_w) * self.pue

    @property
    def full_w(self) -> float:
        """The draw of healthy full-speed training (the draw of useful time), the
        largest of any state."""
        return self.draw_w(Phase.COMPUTE)

    def gpus_within(self, budget_w: float) -> int:
        """How many GPUs of this system, in whole nodes, train at full load within
        `budget_w` (switches and spares scaled with the GPUs, as a fabric of the same
        design and a spare pool of the same share would be)."""
        per_node = self.full_w / self.nodes
        return int(budget_w // per_node) * self.gpus_per_node


class PowerMeter:
    """Integrates the facility's draw over the job's phases (the ledger calls `change`
    at every phase change and `finish` at the end): energy, peak, the largest change
    within SWING_WINDOW_S, and the jumps of at least the threshold; with smoothing, of
    the grid's draw (simulator/reliability/smoothing.py) over the kept steps. `series`
    keeps every (start_s, draw_w) step of the load when asked (one replicate's figure)."""

    def __init__(self, facility: FacilityPower, keep_series: bool = False) -> None:
        self.facility = facility
        self.energy_j = 0.0
        self.raw_energy_j = 0.0  # without the power floor: what the job itself drew
        self.peak_w = 0.0
        self.swing_w = 0.0
        self.swings = 0
        self._keep_series = keep_series
        self._steps: list[tuple[float, float]] | None = \
            [] if keep_series or facility.smoothing is not None else None
        self._draw = facility.draw_w(Phase.COMPUTE)  # the ledger's first phase
        self._raw = facility.draw_w(Phase.COMPUTE, floor=False)
        self._since = 0.0
        self._last: float | None = None  # the draw of the last segment closed
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        #: (draw, draw without the floor) by (phase, slowdown, capacity): `draw_w` is a
        #: pure function of them, so a kept pair is the very same floats
        self._draws: dict[tuple[Phase, float, float], tuple[float, float]] = {}

    @property
    def series(self) -> list[tuple[float, float]] | None:
        """The load's (start_s, draw_w) steps, when kept for a figure."""
        return self._steps if self._keep_series else None

    def change(self, now: float, phase: Phase, slowdown: float, capacity: float) -> None:
        """The job entered `phase` at `now`."""
        self._close(now)
        key = (phase, slowdown, capacity)
        draws = self._draws.get(key)
        if draws is None:  # a run visits a handful of states thousands of times each
            draws = (self.facility.draw_w(phase, slowdown, capacity),
                     self.facility.draw_w(phase, slowdown, capacity, floor=False))
            if len(self._draws) < _MAX_STATES:
                self._draws[key] = draws
        self._draw, self._raw = draws

    def finish(self, now: float) -> None:
        self._close(now)

    def _close(self, now: float) -> None:
        """The segment [since, now) at the current draw ends (a zero-length one is not a
        segment: the draw changed twice at one instant)."""
        if now <= self._since:
            return
        start, draw = self._since, self._draw
        self.energy_j += draw * (now - start)
        self.raw_energy_j += self._raw * (now - start)
        self.peak_w = max(self.peak_w, draw)
        if self._last is not None and abs(draw - self._last) >= self.facility.swing_threshold_w:
            self.swings += 1
        recent = self._recent  # (end, draw) of segments ending within the window of start
        while recent and recent[0][0] < start - SWING_WINDOW_S:
            recent.popleft()
        for _, other in recent:
            self.swing_w = max(self.swing_w, abs(draw - other))
        recent.append((now, draw))
        if self._steps is not None and draw != self._last:
            self._steps.append((start, draw))
        self._last, self._since = draw, now

    def grid(self, horizon_s: float) -> GridDraw | None:
        """The grid's draw under the facility's smoothing (None without smoothing)."""
        if self.facility.smoothing is None or not self._steps:
            return None
        return grid_draw(self._steps, horizon_s, self.facility.smoothing)

    def columns(self, horizon_s: float, useful_s: float) -> dict[str, float]:
        """The summary columns of the run's power (MW, MWh): the grid's side of the
        facility's meter (the load's, without smoothing)."""
        energy_j, peak_w, swing_w, swings = self.energy_j, self.peak_w, self.swing_w, \
            self.swings
        grid = self.grid(horizon_s)
        if grid is not None:
            changes = [t for t, _ in self._steps[1:]]
            energy_j, peak_w = grid.energy_j, grid.peak_w
            swing_w = grid.swing_w(SWING_WINDOW_S)
            swings = grid.swings(changes, SWING_WINDOW_S, self.facility.swing_threshold_w)
        energy_mwh = energy_j / MWH_J
        useful_mwh = useful_s * self.facility.full_w / MWH_J
        return {
            "facility_peak_mw": peak_w / 1e6,
            "facility_mean_mw": energy_mwh / (horizon_s / HOUR) if horizon_s > 0 else math.nan,
            "power_swing_mw": swing_w / 1e6,
            "power_swings": swings,
            "energy_mwh": energy_mwh,
            "lost_mwh": max(0.0, energy_mwh - useful_mwh),
            "smoothing_mwh": (energy_j - self.raw_energy_j) / MWH_J,
        }
