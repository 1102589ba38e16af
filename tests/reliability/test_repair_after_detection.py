"""A failed node's repair starts only once the failure is detected (`restart.detect_s`
after it): nobody repairs a node before anyone knows it failed. Without spares the job
waits for that repair, so detection adds to the time a failure costs.

Scripted timelines in minutes: one node of two fails at 25, no spares, repairs of 30,
detect 2 (or 0), restart 10, load 5; a fixed 60-min interval, one-minute steps.
"""

from __future__ import annotations

import pytest

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, simulate
from simulator.experiments.runner import run_replicate
from simulator.reliability.failures import FailureModel, TraceFailure

MIN = 60.0


def no_spares_run(detect_min: float, horizon_min: float = 100.0) -> dict:
    scenario = Scenario(
        horizon_s=horizon_min * MIN, step_s=MIN,
        cluster=ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=0),
        failures=FailureModel(kind="trace", trace=(TraceFailure(25 * MIN, node=0),)),
        checkpoint=CheckpointSpec(interval_s=60 * MIN, write_s=5 * MIN, load_s=5 * MIN),
        restart=RestartSpec(detect_s=detect_min * MIN, restart_s=10 * MIN,
                            repair_s=30 * MIN),
    )
    row = run_replicate(scenario).row
    return {k: (v * 60 if k.endswith("_h") else v) for k, v in row.items()}


def test_repair_starts_at_detection_exact_timeline():
    # failure at 25: detected at 27, the repair runs 27-57 (not 25-55); the job waits
    # 27-57 for it, restarts and loads 57-72, computes 72-100. The 25 min before the
    # failure are rework (no checkpoint yet).
    row = no_spares_run(detect_min=2)
    assert row["wait_h"] == pytest.approx(30)
    assert row["restart_h"] == pytest.approx(2 + 10 + 5)
    assert row["rework_h"] == pytest.approx(25)
    assert row["useful_h"] == pytest.approx(100 - 72)


def test_without_detection_the_repair_starts_at_the_failure():
    # detect 0: repair 25-55, wait 25-55, restart + load 55-70, compute 70-100
    row = no_spares_run(detect_min=0)
    assert row["wait_h"] == pytest.approx(30)
    assert row["restart_h"] == pytest.approx(10 + 5)
    assert row["useful_h"] == pytest.approx(100 - 70)


def test_detection_costs_goodput_without_spares():
    # the validation run: with no spares, detect 0..40 min used to give the same
    # goodput (the repair hid the detection); each failure now costs detect + repair
    # + restart + load, so goodput falls strictly as detection grows (same failures).
    goodput = [simulate(["cluster.spare_nodes=0", f"restart.detect_minutes={d}",
                         "replicates=2"], progress=False).goodput.mean()
               for d in (0, 20, 40)]
    assert goodput[0] > goodput[1] > goodput[2]
