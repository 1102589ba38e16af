"""Restart policies: elastic running on fewer nodes, the repair pipeline, restart scaling.

Scripted timelines in minutes: T = 60 min compute, C = 5 min writes, recovery detect 2
+ restart 10 + load 3, one-minute steps, 4 nodes, no spares, repairs of 5 h.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import simpy

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, load_scenario
from simulator.experiments.runner import run_replicate
from simulator.reliability.cluster import Cluster
from simulator.reliability.failure_source import NullListener
from simulator.reliability.failures import FailureModel, TraceFailure
from simulator.streams import stream

MIN = 60.0


def elastic_run(horizon_min: float, elastic: bool) -> dict:
    scenario = Scenario(
        horizon_s=horizon_min * MIN, step_s=MIN,
        cluster=ClusterSpec(gpus=32, gpus_per_node=8, spare_nodes=0),
        failures=FailureModel(kind="trace", trace=(TraceFailure(30 * MIN, node=0),)),
        checkpoint=CheckpointSpec(interval_s=60 * MIN, write_s=5 * MIN, load_s=3 * MIN),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=300 * MIN,
                            policy="elastic" if elastic else "full_width"),
    )
    row = run_replicate(scenario).row
    return {k: (v * 60 if k.endswith("_h") else v) for k, v in row.items()}


def test_elastic_runs_on_three_nodes_then_grows_back():
    # failure at 30: 30 min rework; detect 30-32, restart at once on 3 of 4 nodes 32-45.
    # Each segment: 60 min of steps that take 4/3 as long (+20 degraded) + 5 write = 85:
    # checkpoints at 130, 215, 300, 385. The node is back at 330; at the 385 checkpoint
    # the job grows back (restart 13 min, to 398) and runs nominal 65-min segments.
    row = elastic_run(463, elastic=True)
    assert row["rework_h"] == pytest.approx(30)
    assert row["degraded_h"] == pytest.approx(4 * 20)
    assert row["useful_h"] == pytest.approx(5 * 60)
    assert row["checkpoint_h"] == pytest.approx(5 * 5)
    assert row["restart_h"] == pytest.approx(2 + 13 + 13)
    assert row["wait_h"] == 0.0


def test_without_elastic_the_job_waits_for_the_repair():
    # detect 30-32; the 300-min repair starts at the detection: back at 332; wait to 332,
    # restart 332-345, then 65-min segments: 463 - 345 = 118 = 65 + 53 (compute)
    row = elastic_run(463, elastic=False)
    assert row["wait_h"] == pytest.approx(332 - 32)
    assert row["degraded_h"] == 0.0
    assert row["useful_h"] == pytest.approx(60 + 53)


def test_repair_pipeline_mean_time_matches_its_closed_form():
    # Each attempt: 4 h, + 72 h with probability 0.2; it fails with probability 0.1 and
    # is redone. Time out of service = detection (the repair starts then: 5 min here)
    # + the sum of a geometric number of attempts: E = 5/60 + (4 + 0.2 x 72) / (1 - 0.1)
    # = 20.53 h.
    hour, n = 3600.0, 4000
    restart = RestartSpec(repair_s=4 * hour, manual_probability=0.2,
                          manual_repair_s=72 * hour, repair_failure_probability=0.1)
    env = simpy.Environment()
    failures = FailureModel(kind="trace", trace=tuple(TraceFailure(0.0, node=i)
                                                      for i in range(n)))
    cluster = Cluster(env, ClusterSpec(gpus=n, gpus_per_node=1, spare_nodes=0), failures,
                      restart, lambda source: stream(0, 0, source), NullListener())
    returned: list[float] = []

    class Recording(collections.deque):
        def append(self, node):
            returned.append(env.now)
            super().append(node)

    cluster.pool.idle = Recording(cluster.pool.idle)
    env.run(until=10_000 * hour)
    times = np.array(returned) / hour
    assert len(times) == n
    expected = restart.detect_s / hour + (4 + 0.2 * 72) / 0.9
    assert abs(times.mean() - expected) < 4 * times.std(ddof=1) / math.sqrt(n)


def test_detection_and_restart_time_grow_with_the_job():
    # hot_spares: restart 10 min + 2 s per 1,000 GPUs, detection 5 min + 6 s per 1,000
    scenario = load_scenario(["restart=hot_spares", "cluster.gpus=16384"])
    assert scenario.restart.restart_s == pytest.approx(600 + 2 * 16.384)
    assert scenario.restart.detect_s == pytest.approx(300 + 6 * 16.384)
