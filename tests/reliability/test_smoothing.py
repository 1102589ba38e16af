"""Smoothing the grid's draw (simulator/reliability/smoothing.py and the power floor of
simulator/reliability/power.py), against closed forms worked out by hand.

A load step of D watts under a ramp limit R (W/s) is a triangle: the grid takes D / R
seconds to follow, and the energy between the load and the grid is D^2 / (2R). Going
down, that energy is absorbed by the battery or burned; going up, the battery supplies
it, and where the battery runs dry the grid jumps by what is left.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from simulator.experiments.runner import run_replicate
from simulator.reliability.failures import TraceFailure
from simulator.reliability.metrics import Phase
from simulator.reliability.smoothing import Smoothing, grid_draw
from tests.reliability.test_power import FULL_W, MODEL, PUE, STOPPED_W, facility, scenario

MW = 1e6
R = 1 * MW / 60  # 1 MW per minute
#: A 20 MW load that drops to 10 MW at 100 s and comes back at 1,900 s, until 4,000 s.
DROP = [(0.0, 20 * MW), (100.0, 10 * MW), (1900.0, 20 * MW)]
LOAD_J = 20 * MW * 100 + 10 * MW * 1800 + 20 * MW * 2100
TRIANGLE_J = (10 * MW) ** 2 / (2 * R)  # 3,000 MJ: 50 MW-minutes


def test_without_a_ramp_limit_the_grid_sees_the_load():
    grid = grid_draw(DROP, 4000.0, None)
    assert grid.energy_j == pytest.approx(LOAD_J, rel=1e-12)
    assert grid.swing_w(60.0) == 10 * MW
    assert grid.swings([100.0, 1900.0], 60.0, 1 * MW) == 2


def test_a_ramp_limit_alone_burns_the_triangle_on_the_way_down_and_jumps_up():
    grid = grid_draw(DROP, 4000.0, Smoothing(ramp_w_per_s=R))
    assert grid.points[2] == (pytest.approx(700.0), pytest.approx(10 * MW))  # 10 minutes
    assert grid.energy_j == pytest.approx(LOAD_J + TRIANGLE_J, rel=1e-12)
    assert grid.swing_w(60.0) == pytest.approx(10 * MW)  # the way up cannot be made
    assert grid.at(1900.0) == (pytest.approx(10 * MW), pytest.approx(20 * MW))


def test_a_battery_large_enough_bounds_the_swing_at_the_ramp_and_costs_its_losses():
    """It absorbs the triangle going down and gives it back going up: 1 MW in any
    minute, and the grid pays the round trip on what it delivered."""
    s = Smoothing(ramp_w_per_s=R, battery_j=4 * TRIANGLE_J, efficiency=0.8)
    grid = grid_draw(DROP, 4000.0, s)
    assert grid.swing_w(60.0) == pytest.approx(1 * MW, rel=1e-12)
    assert grid.battery_out_j == pytest.approx(TRIANGLE_J, rel=1e-12)
    assert grid.energy_j == pytest.approx(LOAD_J + TRIANGLE_J * (1 / 0.8 - 1), rel=1e-12)
    assert grid.peak_w == 20 * MW
    # a swing counts when the grid moves the threshold before a minute has passed
    assert grid.swings([100.0, 1900.0], 60.0, 1 * MW) == 2
    assert grid.swings([100.0, 1900.0], 60.0, 1.01 * MW) == 0


def test_a_battery_holding_half_the_triangle_leaves_a_jump_of_d_over_root_two():
    """Up first, with the battery (half full at the start) holding E = D^2/(4R): it runs
    dry when what is left of the triangle, d^2 / (2R), is E, so d = D / sqrt(2)."""
    s = Smoothing(ramp_w_per_s=R, battery_j=TRIANGLE_J)  # half of it at the start
    up = [(0.0, 10 * MW), (100.0, 20 * MW)]
    grid = grid_draw(up, 2000.0, s)
    jump = 10 * MW / math.sqrt(2)
    before, after = grid.at(grid.points[2][0])
    assert after - before == pytest.approx(jump, rel=1e-9)
    # it ran dry when 10 MW x tau - R tau^2 / 2 = 1,500 MJ: tau^2 - 1,200 tau + 180,000
    # = 0, tau = 600 - sqrt(180,000) = 300 (2 - sqrt 2) s
    assert grid.points[2][0] - 100.0 == pytest.approx(300 * (2 - math.sqrt(2)), rel=1e-9)
    assert grid.battery_out_j == pytest.approx(TRIANGLE_J / 2, rel=1e-9)


def test_a_battery_short_of_power_lets_the_grid_jump_by_the_rest():
    s = Smoothing(ramp_w_per_s=R, battery_j=10 * TRIANGLE_J, battery_w=4 * MW)
    grid = grid_draw([(0.0, 10 * MW), (100.0, 20 * MW)], 2000.0, s)
    assert grid.at(100.0) == (10 * MW, pytest.approx(16 * MW))  # 6 MW now, 4 ramped
    assert grid.swing_w(60.0) == pytest.approx(7 * MW)
    assert grid.battery_out_j == pytest.approx((4 * MW) ** 2 / (2 * R), rel=1e-12)


def test_the_meter_through_an_unlimited_ramp_equals_the_unsmoothed_meter():
    """The grid path with an infinite ramp is the load: every column agrees (1e-9)."""
    trace = (TraceFailure(1500.0, node=0), TraceFailure(2600.0, node=1))
    plain = scenario(trace, write_s=120.0, horizon_s=6000.0, series=False)
    smooth = dataclasses.replace(plain, power=dataclasses.replace(
        facility(), smoothing=Smoothing(ramp_w_per_s=math.inf)))
    a, b = run_replicate(plain).row, run_replicate(smooth).row
    for column in ("facility_peak_mw", "facility_mean_mw", "power_swing_mw",
                   "power_swings", "energy_mwh", "lost_mwh", "smoothing_mwh"):
        assert b[column] == pytest.approx(a[column], rel=1e-9, abs=1e-12), column


def test_a_scripted_failure_under_a_ramp_limit_burns_the_triangle():
    """The failure at 1,500 s drops FULL_W - STOPPED_W for 900 s (detection 300 s and
    restart 600 s); with a ramp of a tenth of the drop per minute the grid follows in
    600 s, and the extra energy is the triangle."""
    trace = (TraceFailure(1500.0, node=0),)
    base = scenario(trace, series=False)
    drop = FULL_W - STOPPED_W
    ramp = drop / 600.0
    smooth = dataclasses.replace(base, power=dataclasses.replace(
        facility(), smoothing=Smoothing(ramp_w_per_s=ramp)))
    row, plain = run_replicate(smooth).row, run_replicate(base).row
    assert row["smoothing_mwh"] * 3.6e9 == pytest.approx(drop ** 2 / (2 * ramp), rel=1e-9)
    assert row["energy_mwh"] - plain["energy_mwh"] == pytest.approx(row["smoothing_mwh"])
    assert row["power_swing_mw"] * 1e6 == pytest.approx(drop, rel=1e-9)  # the way up


def test_a_power_floor_keeps_training_gpus_at_a_share_of_their_draw():
    """A floor of 0.5: an idle GPU of the job burns 0.5 x 600 W instead of 80 W, so the
    drop at a failure is PUE x (32 x (600 - 300) + 4 x (3,000 - 1,000)); the spare
    node's GPUs are not the job's and stay at 80 W."""
    f = dataclasses.replace(facility(), floor_share=0.5)
    stopped = f.draw_w(Phase.RESTART)
    assert FULL_W - stopped == pytest.approx(PUE * (32 * 300.0 + 4 * 2000.0), rel=1e-12)
    assert f.draw_w(Phase.RESTART, floor=False) == pytest.approx(STOPPED_W, rel=1e-12)
    assert f.draw_w(Phase.COMPUTE) == pytest.approx(FULL_W, rel=1e-12)  # above the floor
    trace = (TraceFailure(1500.0, node=0),)
    row = run_replicate(dataclasses.replace(scenario(trace, series=False), power=f)).row
    assert row["power_swing_mw"] * 1e6 == pytest.approx(FULL_W - stopped, rel=1e-12)
    assert row["smoothing_mwh"] * 3.6e9 == pytest.approx(
        900.0 * PUE * 32 * (300.0 - MODEL.gpu_idle_w), rel=1e-9)


def test_below_half_full_the_battery_recharges_at_its_rate():
    """A 10 MW rise at 100 s with the battery half full of two triangles: the ramp takes
    600 s and one triangle (3,000 MJ). Recharging at 1 MW, the grid ramps on to the load
    + 1 MW (60 s, storing r x 60^2 / 2 = 30 MJ), holds while the battery takes the
    remaining 2,970 MJ at 1 MW (2,970 s), and ramps back in 60 s (30 MJ more)."""
    s = Smoothing(ramp_w_per_s=R, battery_j=4 * TRIANGLE_J, recharge_w=1 * MW)
    peak = [(0.0, 10 * MW), (100.0, 20 * MW), (5000.0, 30 * MW)]  # 30 MW: room above
    grid = grid_draw(peak, 5000.0, s)
    assert [(round(t, 6), round(g)) for t, g in grid.points] == [
        (0.0, 10 * MW), (100.0, 10 * MW), (700.0, 20 * MW), (760.0, 21 * MW),
        (3730.0, 21 * MW), (3790.0, 20 * MW), (5000.0, 20 * MW)]
    assert grid.battery_out_j == pytest.approx(TRIANGLE_J, rel=1e-12)
    load_j = 10 * MW * 100 + 20 * MW * 4900
    assert grid.energy_j == pytest.approx(load_j - TRIANGLE_J + 3030e6
                                          + TRIANGLE_J * (1 / 0.85 - 1), rel=1e-12)
    assert grid.swing_w(60.0) == pytest.approx(1 * MW, rel=1e-9)
    # at the run's peak load the grid does not go higher to recharge
    at_peak = grid_draw(peak[:2], 5000.0, s)
    assert at_peak.peak_w == 20 * MW and at_peak.points[-1] == (5000.0, 20 * MW)
