"""The time accounting (simulator/reliability/metrics.py, the Ledger): every second of the
horizon is
in exactly one category."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, run_replicate
from simulator.fabric.domains import FailureDomains, rack_groups
from simulator.reliability.failures import (
    SCOPES,
    Component,
    Exponential,
    FailureModel,
    LogNormal,
    Stragglers,
    Weibull,
)
from simulator.reliability.metrics import CATEGORIES, Ledger, Phase

HOUR = 3600.0


def lifetimes(mean_hours: float | None, shape: float | None, lognormal: bool = False):
    if mean_hours is None:
        return None
    if shape is None:
        return Exponential(mean_hours * HOUR)
    if lognormal:
        return LogNormal(mean_hours * HOUR, shape)
    return Weibull(mean_hours * HOUR, shape)


@st.composite
def scenarios(draw) -> Scenario:
    gpus_per_node = draw(st.sampled_from([1, 2, 4, 8]))
    nodes = draw(st.integers(1, 24))
    shape = draw(st.one_of(st.none(), st.floats(0.5, 3.0)))
    node_mtbf = draw(st.one_of(st.none(), st.floats(2.0, 500.0)))
    gpu_mtbf = draw(st.one_of(st.none(), st.floats(5.0, 2000.0)))
    step_s = draw(st.floats(0.5, 120.0))
    work = draw(st.one_of(st.none(), st.floats(1.0, 100.0)))
    lognormal = draw(st.booleans())
    in_process = draw(st.booleans())
    catalog = tuple(
        Component(f"{scope}_extra", scope, lifetimes(mean, shape, lognormal),
                  in_process_share=draw(st.floats(0.0, 1.0)) if in_process and scope != "link"
                  else 0.0)
        for scope, mean in (("switch", draw(st.one_of(st.none(), st.floats(5.0, 500.0)))),
                            ("rack", draw(st.one_of(st.none(), st.floats(5.0, 500.0)))),
                            ("scaleup", draw(st.one_of(st.none(), st.floats(5.0, 500.0)))),
                            ("link", draw(st.one_of(st.none(), st.floats(5.0, 500.0)))),
                            ("job", draw(st.one_of(st.none(), st.floats(50.0, 5000.0)))),
                            ("gpu", draw(st.one_of(st.none(), st.floats(5.0, 2000.0)))))
        if mean is not None)
    spares = draw(st.integers(0, 4))
    total = nodes + spares
    domains = FailureDomains(
        (("switch", tuple(rack_groups(total, draw(st.integers(1, 4))))),
         ("rack", tuple(rack_groups(total, draw(st.integers(1, 6))))),
         ("scaleup", tuple(rack_groups(total, draw(st.integers(1, 3)))))),
        link_cables=draw(st.integers(1, 64)), link_slowdown=draw(st.floats(1.0, 3.0)))
    stragglers = draw(st.one_of(st.none(), st.builds(
        Stragglers, st.floats(5.0, 5000.0).map(lambda h: h * HOUR), st.floats(1.0, 4.0),
        st.floats(0.1, 50.0).map(lambda h: h * HOUR))))
    planned = draw(st.one_of(st.none(), st.floats(2.0, 100.0)))
    restart = draw(st.sampled_from(["full_width", "elastic", "per_replica"]))
    replica_nodes = draw(st.sampled_from([d for d in range(1, nodes + 1) if nodes % d == 0]))
    per_replica = {} if restart != "per_replica" else {
        "replica_nodes": replica_nodes,
        "replica_stall_s": draw(st.floats(0.0, 20.0)) * 60,
        "min_replicas": draw(st.integers(1, nodes // replica_nodes)),
        "catch_up_s": draw(st.floats(0.0, 10.0)) * 60}
    policy = draw(st.sampled_from(["fixed", "async", "in_memory"]))
    snapshot_s = draw(st.floats(0.0, 120.0)) if policy == "async" else None
    in_memory = policy == "in_memory"
    memory_write_s = draw(st.floats(0.0, 60.0)) if in_memory else None
    return Scenario(
        seed=draw(st.integers(0, 2**32 - 1)),
        horizon_s=draw(st.floats(0.5, 200.0)) * HOUR,
        work_s=None if work is None else work * HOUR,
        max_horizon_s=400 * HOUR,
        step_s=step_s,
        cluster=ClusterSpec(gpus=nodes * gpus_per_node, gpus_per_node=gpus_per_node,
                            spare_nodes=spares),
        failures=FailureModel(kind="random", node=lifetimes(node_mtbf, shape, lognormal),
                              gpu=lifetimes(gpu_mtbf, shape, lognormal), catalog=catalog,
                              domains=domains, stragglers=stragglers,
                              planned_gap_s=None if planned is None else planned * HOUR),
        checkpoint=CheckpointSpec(policy=policy,
                                  interval_s=draw(st.floats(1.0, 600.0)) * 60,
                                  write_s=draw(st.floats(0.0, 30.0)) * 60,
                                  load_s=draw(st.floats(0.0, 30.0)) * 60,
                                  snapshot_s=snapshot_s, memory_write_s=memory_write_s,
                                  memory_load_s=draw(st.floats(0.0, 120.0)) if in_memory else 0.0,
                                  durable_every=draw(st.integers(1, 6)) if in_memory else 1,
                                  memory_group=draw(st.integers(1, 4)) if in_memory else 2),
        restart=RestartSpec(detect_s=draw(st.floats(0.0, 30.0)) * 60,
                            restart_s=draw(st.floats(0.0, 60.0)) * 60,
                            repair_s=draw(st.floats(0.0, 100.0)) * HOUR,
                            manual_probability=draw(st.floats(0.0, 0.5)),
                            manual_repair_s=draw(st.floats(0.0, 50.0)) * HOUR,
                            repair_failure_probability=draw(st.floats(0.0, 0.5)),
                            policy=restart,
                            in_process_s=draw(st.floats(0.0, 300.0)) if in_process else None,
                            diagnosis_accuracy=draw(st.sampled_from([1.0, 0.9, 0.5, 0.2])),
                            repeat_failure_s=draw(st.floats(1.0, 120.0)) * 60,
                            **per_replica),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_categories_sum_to_the_horizon(scenario: Scenario):
    row = run_replicate(scenario).row
    parts = [row[f"{c}_h"] for c in CATEGORIES]
    assert all(p >= 0 for p in parts), row
    assert math.fsum(parts) == pytest.approx(row["horizon_h"], rel=1e-9, abs=1e-9)
    assert 0.0 <= row["goodput"] <= 1.0
    assert row["lost_gpu_h"] >= -1e-6
    assert row["failures"] == sum(row[f"{scope}_failures"] for scope in SCOPES)
    assert 0 <= row["repeat_failures"] <= row["misdiagnoses"]  # a repeat follows one
    if scenario.work_s is None:
        assert row["horizon_h"] == pytest.approx(scenario.horizon_s / HOUR)
    elif row["completed"]:
        steps = math.ceil(scenario.work_s / scenario.step_s - 1e-9)
        assert row["useful_h"] == pytest.approx(steps * scenario.step_s / HOUR, rel=1e-9)


def test_ledger_commit_and_rollback_by_hand():
    ledger = Ledger()
    ledger.enter(Phase.CHECKPOINT, 10.0)   # 10 s compute
    ledger.commit(12.0)                    # 2 s write -> committed
    ledger.enter(Phase.COMPUTE, 12.0)
    ledger.enter(Phase.CHECKPOINT, 20.0)   # 8 s compute, then 1 s of a write...
    ledger.rollback(21.0)                  # ...lost: 9 s rework
    ledger.enter(Phase.RESTART, 21.0)
    ledger.enter(Phase.WAIT, 24.0)         # 3 s restart
    ledger.enter(Phase.RESTART, 30.0)      # 6 s wait
    ledger.enter(Phase.COMPUTE, 31.0)      # 1 s restart
    ledger.finish(35.0)                    # 4 s tail compute counts as useful
    assert ledger.totals == {"useful": 14.0, "checkpoint": 2.0, "rework": 9.0,
                             "restart": 4.0, "wait": 6.0, "degraded": 0.0,
                             "replicas_out": 0.0, "input_stall": 0.0}


def test_ledger_async_segments_commit_oldest_first_and_a_failure_loses_the_rest():
    # Two asynchronous checkpoints in flight: each segment is sealed when its snapshot
    # is taken and kept only when its write becomes durable, oldest first.
    ledger = Ledger()
    ledger.enter(Phase.CHECKPOINT, 10.0)   # segment A: 10 s compute
    ledger.seal(11.0)                      # 1 s snapshot; A waits for its write
    ledger.enter(Phase.COMPUTE, 11.0)
    ledger.enter(Phase.CHECKPOINT, 20.0)   # segment B: 9 s compute
    ledger.seal(21.0)                      # 1 s snapshot; B waits too
    ledger.enter(Phase.COMPUTE, 21.0)
    ledger.commit_oldest()                 # A durable: 10 + 1 kept
    assert ledger.totals["useful"] == 10.0 and ledger.totals["checkpoint"] == 1.0
    ledger.rollback(25.0)                  # B (9 + 1) and the open 4 s are lost
    ledger.enter(Phase.RESTART, 25.0)
    ledger.finish(30.0)                    # 5 s restart
    assert ledger.totals == {"useful": 10.0, "checkpoint": 1.0, "rework": 14.0,
                             "restart": 5.0, "wait": 0.0, "degraded": 0.0,
                             "replicas_out": 0.0, "input_stall": 0.0}


def test_ledger_in_memory_rollback_keeps_sealed_segments():
    # rollback_open (a peer's in-memory copy) loses only the open segment; a sealed
    # segment still becomes useful when its durable write lands.
    ledger = Ledger()
    ledger.enter(Phase.CHECKPOINT, 6.0)    # 6 s compute
    ledger.seal(7.0)                       # 1 s copy
    ledger.enter(Phase.COMPUTE, 7.0)
    ledger.rollback_open(10.0)             # 3 s open compute lost
    ledger.enter(Phase.RESTART, 10.0)
    ledger.enter(Phase.COMPUTE, 12.0)      # 2 s restart
    ledger.commit_oldest()                 # the sealed segment is durable: 6 + 1 kept
    ledger.finish(15.0)                    # 3 s tail compute
    assert ledger.totals == {"useful": 9.0, "checkpoint": 1.0, "rework": 3.0,
                             "restart": 2.0, "wait": 0.0, "degraded": 0.0,
                             "replicas_out": 0.0, "input_stall": 0.0}


def test_ledger_slow_compute_splits_into_useful_and_degraded():
    # 12 s of compute at slowdown 1.5 did 12 / 1.5 = 8 s of nominal work: 8 s useful and
    # 4 s degraded once committed; lost to a failure, all 12 s are rework.
    ledger = Ledger()
    ledger.enter(Phase.COMPUTE, 0.0, slowdown=1.5)
    ledger.commit(12.0)
    ledger.enter(Phase.COMPUTE, 12.0, slowdown=1.5)
    ledger.rollback(24.0)
    ledger.enter(Phase.RESTART, 24.0)
    ledger.finish(24.0)
    assert ledger.totals == {"useful": 8.0, "checkpoint": 0.0, "rework": 12.0,
                             "restart": 0.0, "wait": 0.0, "degraded": 4.0,
                             "replicas_out": 0.0, "input_stall": 0.0}
    assert math.fsum(ledger.totals.values()) == 24.0  # every second once
