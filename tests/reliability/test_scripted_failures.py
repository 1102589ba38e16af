"""Scripted failures with exact, hand-computed timelines.

Every case uses T = 60 min of compute per checkpoint, C = 5 min writes, and recovery of
detect 2 + restart 10 + load 3 = 15 min, with one-minute steps. Times in minutes.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, run_replicate
from simulator.reliability.failures import FailureModel, TraceFailure

MIN = 60.0


def scripted(horizon_min: float, failures: list[TraceFailure], *, spares: int = 1,
             repair_min: float = 10_000.0) -> dict:
    scenario = Scenario(
        horizon_s=horizon_min * MIN,
        step_s=MIN,
        cluster=ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=spares),
        failures=FailureModel(kind="trace", trace=tuple(failures)),
        checkpoint=CheckpointSpec(interval_s=60 * MIN, write_s=5 * MIN, load_s=3 * MIN),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=repair_min * MIN),
    )
    row = run_replicate(scenario).row
    return {k: (v * 60 if k.endswith("_h") else v) for k, v in row.items()}  # hours -> min


def at(minute: float, node: int = 0, kind: str = "node") -> TraceFailure:
    return TraceFailure(time_s=minute * MIN, node=node, kind=kind)


def test_failure_during_checkpoint_write_loses_that_checkpoint():
    # 0-60 compute, 60-62 writing: failure at 62 loses 60 + 2 min; recovery 62-77;
    # then from 77 two clean segments (65 min each) end at 207.
    row = scripted(207, [at(62)])
    assert row["rework_h"] == pytest.approx(62)
    assert row["restart_h"] == pytest.approx(15)
    assert row["useful_h"] == pytest.approx(120)
    assert row["checkpoint_h"] == pytest.approx(10)
    assert row["lost_checkpoints"] == 1
    assert row["failures"] == 1
    assert row["horizon_h"] == pytest.approx(207)


def test_failure_during_restart_restarts_the_restart():
    # Failure at 30 (compute): 30 min rework, recovery from 30 would end at 45; a second
    # failure at 40 restarts it: 10 min spent + 15 more, the job resumes at 55.
    # 55-115 compute, 115-120 write; horizon 125 leaves 5 min of uncheckpointed compute.
    row = scripted(125, [at(30, node=0), at(40, node=1)], spares=2)
    assert row["rework_h"] == pytest.approx(30)
    assert row["restart_h"] == pytest.approx(25)
    assert row["useful_h"] == pytest.approx(60 + 5)
    assert row["checkpoint_h"] == pytest.approx(5)
    assert row["failures"] == 2
    assert row["checkpoints"] == 1


def test_no_spare_means_waiting_for_repair():
    # No spares, repair 120 min, started once the failure is detected. Failure at 30:
    # detect 30-32, wait until the node is back at 32 + 120 = 152, restart + load
    # 152-165, then compute.
    row = scripted(200, [at(30)], spares=0, repair_min=120)
    assert row["restart_h"] == pytest.approx(2 + 13)
    assert row["wait_h"] == pytest.approx(152 - 32)
    assert row["rework_h"] == pytest.approx(30)
    assert row["useful_h"] == pytest.approx(200 - 165)


def test_failure_while_waiting_restarts_detection_and_extends_the_wait():
    # No spares, repair 120: failures at 30 (node 0) and 100 (node 1, while waiting).
    # Repairs start at detection: node 0 back at 32 + 120 = 152, node 1 at 102 + 120 =
    # 222. Recovery restarts at 100: detect 100-102, wait 102-222, restart + load
    # 222-235. Time: restart 2 + 2 + 13, wait (100-32) + (222-102).
    row = scripted(240, [at(30, node=0), at(100, node=1)], spares=0, repair_min=120)
    assert row["restart_h"] == pytest.approx(17)
    assert row["wait_h"] == pytest.approx(68 + 120)
    assert row["useful_h"] == pytest.approx(240 - 235)
    assert row["failures"] == 2


def test_gpu_failure_takes_its_node_out():
    row = scripted(100, [at(10, node=1, kind="gpu")])
    assert row["gpu_failures"] == 1 and row["node_failures"] == 0
    assert row["rework_h"] == pytest.approx(10)


def test_failure_of_a_node_outside_the_job_is_ignored():
    # Node 2 is the spare: in the pool, not in service, so it cannot fail the job.
    row = scripted(130, [at(10, node=2)])
    assert row["failures"] == 0
    assert row["useful_h"] == pytest.approx(120)
    assert row["checkpoint_h"] == pytest.approx(10)


class Fixed:
    """A lifetime that is always `mean_s` (test-only Lifetime)."""

    def __init__(self, hours: float) -> None:
        self.mean_s = hours * 3600.0

    def sample(self, rng, size):
        return np.full(size, self.mean_s)

    def cdf(self, t_s):
        return (np.asarray(t_s) >= self.mean_s).astype(float)


def test_a_gpu_keeps_its_age_while_its_node_is_repaired_for_another_part():
    # One job node, one spare, one GPU per node; hosts live 10 h, GPUs 25 h, repair 5 h.
    # Node 0: host fails at 10 (GPU age 10). Node 1 serves 10-20. Node 0 (repaired at 15)
    # serves 20-30 (new host; GPU age 10 -> 20), node 1 serves 30-40, node 0 serves again
    # from 40 and its GPU, at age 20, fails 5 h later: at 45. A GPU that lost its age
    # would never fail, since hosts always fail first.
    hours = 3600.0
    scenario = Scenario(
        horizon_s=46 * hours, step_s=60.0,
        cluster=ClusterSpec(gpus=1, gpus_per_node=1, spare_nodes=1),
        failures=FailureModel(kind="fixed", node=Fixed(10), gpu=Fixed(25)),
        restart=RestartSpec(repair_s=5 * hours),
    )
    log = run_replicate(scenario).failure_log
    assert log[["node", "component"]].values.tolist() == [
        [0, "node"], [1, "node"], [0, "node"], [1, "node"], [0, "gpu"]]
    assert (log.time_s / hours).tolist() == pytest.approx([10, 20, 30, 40, 45])
    assert log.age_s.iloc[-1] / hours == pytest.approx(25)
