"""The facility's draw over a run (simulator/reliability/power.py): per-state draws,
energy, peak and swings, against hand sums of component powers x PUE.

The figures are typed here (not the accelerator presets), so the arithmetic is checked
on numbers that cannot move with the catalog: per GPU 600 W in compute, 400 W when
communication-bound, 80 W idle; per node 3,000 W busy and 1,000 W idle besides the
GPUs; 1,000 W per switch; PUE 1.3; 4 nodes of 8 GPUs, 1 spare node, 3 switches.
"""

from __future__ import annotations

import itertools
import math

import pytest

from simulator.experiments.runner import run_replicate
from simulator.fabric.power import PowerModel
from simulator.reliability.failures import NO_FAILURES, FailureModel, TraceFailure
from simulator.reliability.metrics import Phase
from simulator.reliability.power import FacilityPower, PowerMeter
from simulator.reliability.scenario import CheckpointSpec, ClusterSpec, RestartSpec, Scenario

MODEL = PowerModel("H100", gpu_compute_w=600.0, gpu_comm_w=400.0, gpu_idle_w=80.0,
                   host_busy_w=3000.0, host_idle_w=1000.0, switch_w=1000.0, sources="test")
PUE = 1.3
SPARE_W = 1000.0 + 8 * 80.0  # the spare node, idle: host and 8 idle GPUs
ALWAYS_W = 3 * 1000.0 + SPARE_W  # switches and the spare
FULL_W = PUE * (32 * 600.0 + 4 * 3000.0 + ALWAYS_W)
CHECKPOINT_W = PUE * (32 * 80.0 + 4 * 3000.0 + ALWAYS_W)
STOPPED_W = PUE * (32 * 80.0 + 4 * 1000.0 + ALWAYS_W)


def facility(compute_share: float = 1.0, threshold_w: float = 1e3) -> FacilityPower:
    return FacilityPower(MODEL, gpus=32, gpus_per_node=8, spare_nodes=1, switches=3,
                         pue=PUE, compute_share=compute_share, swing_threshold_w=threshold_w)


def scenario(trace: tuple[TraceFailure, ...] = (), *, write_s: float = 0.0,
             horizon_s: float = 4000.0, series: bool = True) -> Scenario:
    return Scenario(horizon_s=horizon_s, step_s=10.0,
                    cluster=ClusterSpec(gpus=32, gpus_per_node=8, spare_nodes=1, pue=PUE),
                    failures=FailureModel(kind="trace", trace=trace) if trace else NO_FAILURES,
                    checkpoint=CheckpointSpec(interval_s=1000.0, write_s=write_s, load_s=0.0),
                    restart=RestartSpec(detect_s=300.0, restart_s=600.0, repair_s=1e6),
                    power=facility(), power_series=series)


def test_each_state_draws_its_hand_sum():
    f = facility()
    assert f.draw_w(Phase.COMPUTE) == pytest.approx(FULL_W, rel=1e-12)
    assert f.draw_w(Phase.CHECKPOINT) == pytest.approx(CHECKPOINT_W, rel=1e-12)
    assert f.draw_w(Phase.RESTART) == f.draw_w(Phase.WAIT) == pytest.approx(STOPPED_W)
    # a step 75% compute, 25% communication-bound: 0.75 x 600 + 0.25 x 400 = 550 W a GPU
    assert facility(0.75).draw_w(Phase.COMPUTE) == pytest.approx(
        PUE * (32 * 550.0 + 4 * 3000.0 + ALWAYS_W))
    # slowdown 2 (a straggler): busy half the time at 600 W, waiting at 400 W: 500 W
    assert f.draw_w(Phase.COMPUTE, slowdown=2.0) == pytest.approx(
        PUE * (32 * 500.0 + 4 * 3000.0 + ALWAYS_W))
    # 3 of 4 replicas training: a quarter of the GPUs idle
    assert f.draw_w(Phase.COMPUTE, capacity=0.75) == pytest.approx(
        PUE * (24 * 600.0 + 8 * 80.0 + 4 * 3000.0 + ALWAYS_W))


def test_failure_free_full_load_mean_is_the_hand_sum():
    row = run_replicate(scenario()).row  # checkpoints take no time: always computing
    assert row["facility_mean_mw"] * 1e6 == pytest.approx(FULL_W, rel=1e-9)
    assert row["facility_peak_mw"] * 1e6 == pytest.approx(FULL_W, rel=1e-9)
    assert row["energy_mwh"] == pytest.approx(FULL_W * 4000.0 / 3.6e9, rel=1e-9)
    assert row["power_swing_mw"] == 0.0 and row["power_swings"] == 0
    assert row["lost_mwh"] == pytest.approx(0.0, abs=1e-12)


def test_a_failure_swings_by_the_drop_from_compute_to_stopped():
    """Node 0 fails at 1,500 s: every GPU of the job stops (compute -> idle) and the
    hosts go idle: the drop is PUE x (32 x (600 - 80) + 4 x (3,000 - 1,000)), and the
    restart 900 s later is the same jump back: two swings."""
    result = run_replicate(scenario((TraceFailure(1500.0, node=0),)))
    row = result.row
    drop = PUE * (32 * (600.0 - 80.0) + 4 * (3000.0 - 1000.0))
    assert pytest.approx(drop) == FULL_W - STOPPED_W
    assert row["power_swing_mw"] * 1e6 == pytest.approx(drop, rel=1e-12)
    assert row["power_swings"] == 2
    assert result.power == [(0.0, pytest.approx(FULL_W)), (1500.0, pytest.approx(STOPPED_W)),
                            (2400.0, pytest.approx(FULL_W))]


def test_energy_integrates_the_series_and_lost_energy_is_outside_useful_compute():
    trace = (TraceFailure(1500.0, node=0), TraceFailure(2600.0, node=1))
    result = run_replicate(scenario(trace, write_s=120.0, horizon_s=6000.0))
    steps = [*result.power, (6000.0, math.nan)]
    integral = math.fsum(w * (t1 - t0) for (t0, w), (t1, _) in itertools.pairwise(steps))
    row = result.row
    assert row["energy_mwh"] * 3.6e9 == pytest.approx(integral, rel=1e-9)
    useful_s = row["useful_h"] * 3600
    assert row["lost_mwh"] * 3.6e9 == pytest.approx(integral - useful_s * FULL_W, rel=1e-9)
    assert row["facility_mean_mw"] * 1e6 == pytest.approx(integral / 6000.0, rel=1e-9)


def test_the_swing_is_the_largest_change_within_one_minute():
    """Compute -> checkpoint (GPUs idle) -> stopped (hosts idle too): two jumps; when
    they come 20 s apart the one-minute swing is their sum, 100 s apart the larger."""
    for gap_s, expected in ((20.0, FULL_W - STOPPED_W),
                            (100.0, max(FULL_W - CHECKPOINT_W, CHECKPOINT_W - STOPPED_W))):
        meter = PowerMeter(facility())
        meter.change(1000.0, Phase.CHECKPOINT, 1.0, 1.0)
        meter.change(1000.0 + gap_s, Phase.RESTART, 1.0, 1.0)
        meter.change(2000.0, Phase.WAIT, 1.0, 1.0)  # the same draw: no jump
        meter.finish(3000.0)
        assert meter.swing_w == pytest.approx(expected, rel=1e-12), gap_s
        assert meter.swings == 2  # two jumps of at least 1 kW
