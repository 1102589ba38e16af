"""The frozen specs the model consumes (simulator/reliability/scenario.py): the step rounding, the
cluster's node count and spare note, and the job's MTBI, worked out by hand."""

from __future__ import annotations

import dataclasses
import math

import pytest

from simulator.reliability.failures import NO_FAILURES, Exponential, FailureModel
from simulator.reliability.scenario import CheckpointSpec, ClusterSpec, Scenario, whole_steps


@pytest.mark.parametrize(("interval_s", "step_s", "steps"), [
    (3600.0, 10.0, 360),   # exact
    (3604.0, 10.0, 360),   # 360.4 -> 360
    (3605.0, 10.0, 361),   # 360.5: ties go up
    (3606.0, 10.0, 361),   # 360.6 -> 361
    (1.0, 10.0, 1),        # 0.1 -> 0, but never fewer than one step
    (0.0, 10.0, 1),
    (25.0, 10.0, 3),       # 2.5 -> 3 (ties up, not to even)
])
def test_whole_steps(interval_s, step_s, steps):
    assert whole_steps(interval_s, step_s) == steps


def test_scenario_interval_steps_uses_the_checkpoint_interval_and_the_step():
    # 55 min / 7 s = 471.43 -> 471 steps
    s = Scenario(step_s=7.0, checkpoint=CheckpointSpec(interval_s=55 * 60.0))
    assert s.interval_steps == 471


def test_cluster_nodes_and_the_note_on_spares():
    spec = ClusterSpec(gpus=1024, gpus_per_node=8, spare_nodes=4)
    assert spec.nodes == 128
    assert spec.spares_note() == "4 spares by cluster.spare_nodes"
    # 3.125% of 128 nodes = 4 (the note says where the count came from)
    derived = dataclasses.replace(spec, spare_fraction=0.03125)
    assert derived.spares_note() == "4 spares by cluster.spare_fraction=0.03125"


def test_job_mtbi_from_node_and_gpu_lifetimes():
    # 16 nodes of 8 GPUs: rate = 16 / 1,000 h + 128 / 8,000 h = 0.016 + 0.016 = 0.032 / h
    # -> MTBI 31.25 h
    hour = 3600.0
    failures = FailureModel(kind="test", node=Exponential(1000 * hour),
                            gpu=Exponential(8000 * hour))
    s = Scenario(cluster=ClusterSpec(gpus=128, gpus_per_node=8), failures=failures)
    assert s.job_mtbi_s == pytest.approx(31.25 * hour, rel=1e-12)
    assert math.isinf(Scenario(failures=NO_FAILURES).job_mtbi_s)


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ClusterSpec().gpus = 8  # type: ignore[misc]
