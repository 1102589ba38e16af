"""Imperfect diagnosis (simulator/reliability/diagnosis.py): a healthy node is taken out
instead of the faulty one, which stays in service and fails again.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import simpy

from simulator import ConfigError, load_scenario, simulate
from simulator.reliability.cluster import Cluster
from simulator.reliability.failures import Component, FailureModel
from simulator.reliability.scenario import ClusterSpec, RestartSpec
from simulator.streams import stream
from tests.listeners import Recorder

HOUR = 3600.0


class FirstNodeAt:
    """A test lifetime: node 0's part fails after `hours`, every other part never."""

    def __init__(self, hours: float) -> None:
        self.mean_s = 1e15
        self.hours = hours
        self.draws = 0

    def sample(self, rng, size):
        self.draws += 1
        lives = np.full(size, 1e15)
        if self.draws == 1:
            lives[0] = self.hours * HOUR
        return lives


class ScriptedRng:
    """The diagnosis draws, chosen by the test: `random()` then, if blamed, `integers`."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def random(self) -> float:
        assert self.values, "the diagnosis drew more numbers than scripted"
        return self.values.pop(0)

    def integers(self, n: int) -> int:
        assert self.values, "the diagnosis drew more numbers than scripted"
        return int(self.values.pop(0))


def test_a_misdiagnosed_node_stays_and_fails_again_exact():
    # 4 job nodes (slots 0-3), one spare (node 4), repairs 5 h starting at once (detect 0).
    # Node 0's host fails at 10 h. Diagnosis draw 0.9 >= accuracy 0.5: wrong; the blamed
    # node is the 2nd of the others in service (1, 2, 3): node 2 goes to repair, spare 4
    # takes slot 2, node 0 stays. It fails again after 30 min more in service (10.5 h):
    # draw 0.1 < 0.5, right: node 0 goes to repair, slot 0 stays empty (no spare left).
    env = simpy.Environment()
    listener = Recorder(env)
    restart = RestartSpec(detect_s=0.0, repair_s=5 * HOUR, diagnosis_accuracy=0.5,
                          repeat_failure_s=1800.0)
    failures = FailureModel(kind="test", catalog=(Component("host", "node", FirstNodeAt(10)),))
    cluster = Cluster(env, ClusterSpec(gpus=4, gpus_per_node=1, spare_nodes=1), failures,
                      restart, partial(stream, 0, 0), listener)
    cluster.diagnosis.rng = ScriptedRng(0.9, 1, 0.1)
    env.run(until=10.25 * HOUR)
    assert {n.index: n.slot for n in cluster.nodes if n.serving} == {0: 0, 1: 1, 3: 3, 4: 2}
    assert (cluster.diagnosis.misdiagnoses, cluster.diagnosis.repeat_failures) == (1, 0)
    env.run(until=12 * HOUR)
    records = [(r.time_s / HOUR, r.node, r.component, r.slots) for r in listener.failures]
    assert records == [(10.0, 0, "host", (0, 2)), (10.5, 0, "host", (0,))]
    assert listener.failures[1].age_s == pytest.approx(10.5 * HOUR)  # it kept ageing
    assert {n.index for n in cluster.nodes if n.serving} == {1, 3, 4}
    assert cluster.short == 1
    assert (cluster.diagnosis.misdiagnoses, cluster.diagnosis.repeat_failures) == (1, 1)
    env.run(until=15.5 * HOUR)  # node 2 (healthy) back from repair at 15 h: fills slot 0
    assert cluster.nodes[2].serving and cluster.nodes[2].slot == 0


def test_repeat_failures_per_first_failure_match_the_geometric_mean():
    # Each part failure is misdiagnosed with q = 1 - a, independently; a misdiagnosed
    # part fails again (a repeat), itself diagnosed again. The repeats K after a first
    # failure: P(K >= k) = q^k, so E[K] = q / (1 - q) = (1 - a) / a and
    # Var[K] = q / (1 - q)^2. With a = 0.7: E = 0.4286, Var = 0.612 per first failure.
    a = 0.7
    q = 1 - a
    frame = simulate(["failures.node_mtbf_hours=400", "failures.gpu_mtbf_hours=null",
                      f"restart.diagnosis_accuracy={a}", "cluster.spare_nodes=40",
                      "restart.repair_hours=4", "replicates=8", "horizon_days=20"],
                     progress=False)
    repeats = frame.repeat_failures.sum()
    first = frame.failures.sum() - repeats  # every failure here is a node part's
    assert first > 1000
    expected, var = q / (1 - q), q / (1 - q) ** 2
    assert abs(repeats / first - expected) < 4 * math.sqrt(var / first)
    # every misdiagnosis leaves a part that fails again within the horizon but for the
    # last few (the 30-min repeat cut off by the end): one repeat per misdiagnosis
    assert 0 <= frame.misdiagnoses.sum() - repeats <= len(frame)


def test_accuracy_one_blames_no_one_and_changes_nothing():
    # the draws come from their own stream: perfect diagnosis runs exactly as before the
    # diagnosis existed (tests/test_golden.py holds those numbers); any repeat time
    base = simulate(["replicates=2"], progress=False)
    other = simulate(["replicates=2", "restart.repeat_failure_minutes=5"], progress=False)
    assert (base.misdiagnoses == 0).all() and (base.repeat_failures == 0).all()
    columns = [c for c in base.columns if not c.startswith("restart_")]
    assert base[columns].equals(other[columns])


def test_misdiagnosis_costs_goodput_on_the_same_failures():
    # same seeds: the first failures are the same; misdiagnoses add repeat failures
    perfect = simulate(["replicates=4"], progress=False)
    poor = simulate(["replicates=4", "restart.diagnosis_accuracy=0.5"], progress=False)
    assert poor.failures.sum() > perfect.failures.sum()
    assert poor.goodput.mean() < perfect.goodput.mean()


@pytest.mark.parametrize(("key", "value"), [
    ("restart.diagnosis_accuracy", 0), ("restart.diagnosis_accuracy", 1.5),
    ("restart.diagnosis_accuracy", -0.1), ("restart.repeat_failure_minutes", 0),
    ("restart.repeat_failure_minutes", -5),
])
def test_bad_diagnosis_keys(key, value):
    with pytest.raises(ConfigError) as info:
        load_scenario([f"{key}={value}"])
    assert (info.value.key, info.value.value) == (key, value)


def test_keys_reach_the_spec_and_the_row():
    spec = load_scenario(["restart.diagnosis_accuracy=0.9",
                          "restart.repeat_failure_minutes=12"]).restart
    assert (spec.diagnosis_accuracy, spec.repeat_failure_s) == (0.9, 720.0)
    row = simulate(["restart.diagnosis_accuracy=0.9", "horizon_days=1"],
                   progress=False).iloc[0]
    assert row["restart_diagnosis_accuracy"] == 0.9
    assert row["restart_repeat_failure_min"] == 30.0  # scenarios/restart/spare_swap.yaml


def test_the_work_budget_counts_the_repeat_failures():
    # 1/a failures per first one: at a = 0.5 the part failures' events double
    from simulator.experiments.budget import estimate_events

    perfect = estimate_events(load_scenario([])).terms["part failures"]
    half = estimate_events(load_scenario(["restart.diagnosis_accuracy=0.5"]))
    assert half.terms["part failures"] == pytest.approx(2 * perfect, rel=1e-12)
