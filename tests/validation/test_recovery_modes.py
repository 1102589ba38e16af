"""Per-replica fault tolerance and in-process restart against closed forms and hand
timelines (issue: recovery as frontier teams run it).

Per-replica closed form (derived here). R replicas, each of n nodes failing at rate
lambda = n / node MTBF while in service (a failed node is swapped for a spare at once,
so a replica's nodes serve while it is out, too). A failure of an *up* replica takes it
out for D = detect + restart + catch-up; a failure while out starts D over. The down
time is then the time to go D without a failure, mean (e^{lambda D} - 1) / lambda, and
the up time is exponential with mean 1 / lambda: each replica is up with probability

    A = (1 / lambda) / (1 / lambda + (e^{lambda D} - 1) / lambda) = e^{-lambda D}

(alternating renewal), and up replicas fail at rate lambda A. Every failure of an up
replica stalls the whole job for S (stalls overlapping: the union of the windows). At a
time t the job trains with the replicas up, unless some up replica failed in (t - S, t].
With D > S a replica fails up at most once in a window of length S, so replica j had no
such failure with probability 1 - lambda A S, and replica r being up at t implies it
had none. The replicas are independent, so the expected share of the job training is

    goodput = A (1 - lambda A S)^(R - 1)

with free checkpoints (write 0) and no sync fallback (min_replicas 1, R large enough
that all R are never out at once).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.experiments.runner import run_replicate
from simulator.reliability.failures import (
    Component,
    Exponential,
    FailureModel,
    TraceFailure,
)
from simulator.reliability.metrics import CATEGORIES
from simulator.reliability.scenario import CheckpointSpec, ClusterSpec, RestartSpec, Scenario

HOUR = 3600.0
MINUTE = 60.0
Z = 4.0  # standard errors allowed for a statistical comparison


def per_replica_goodput(lam: float, d: float, s: float, replicas: int) -> float:
    """A (1 - lambda A S)^(R - 1), A = e^{-lambda D} (module docstring)."""
    a = math.exp(-lam * d)
    return a * (1.0 - lam * a * s) ** (replicas - 1)


def mean_and_se(values) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def per_replica(replica_nodes: int, stall_s: float, min_replicas: int = 1,
                catch_up_s: float = 60.0, **times: float) -> RestartSpec:
    return RestartSpec(detect_s=times.get("detect_s", 300.0),
                       restart_s=times.get("restart_s", 600.0),
                       repair_s=times.get("repair_s", HOUR), policy="per_replica",
                       replica_nodes=replica_nodes, replica_stall_s=stall_s,
                       min_replicas=min_replicas, catch_up_s=catch_up_s)


@pytest.mark.slow
@pytest.mark.parametrize(("replicas", "replica_nodes", "node_mtbf_h", "stall_min", "seed"), [
    (16, 2, 200.0, 3.0, 11),   # FT-HSDP's 3-minute stall, small replicas
    (8, 4, 100.0, 10.0, 12),   # a 10-minute stall (their synchronous figure), lambda D 0.11
])
def test_per_replica_goodput_matches_the_alternating_renewal_form(
        replicas, replica_nodes, node_mtbf_h, stall_min, seed):
    nodes = replicas * replica_nodes
    restart = per_replica(replica_nodes, stall_min * MINUTE)
    d = restart.detect_s + restart.restart_s + restart.catch_up_s
    lam = replica_nodes / (node_mtbf_h * HOUR)
    assert d > restart.replica_stall_s  # the derivation's condition
    horizon_s = 120 * 24 * HOUR
    scenario = Scenario(seed=seed, horizon_s=horizon_s, step_s=10.0,
                        cluster=ClusterSpec(gpus=nodes * 8, spare_nodes=nodes),
                        failures=FailureModel(kind="exponential",
                                              node=Exponential(node_mtbf_h * HOUR)),
                        checkpoint=CheckpointSpec(interval_s=HOUR, write_s=0.0, load_s=0.0),
                        restart=restart)
    rows = [run_replicate(scenario, r).row for r in range(6)]
    assert all(row["wait_h"] == 0.0 for row in rows)  # never short of spares
    assert all(row["replica_failures"] == row["failures"] for row in rows)  # no fallback
    mean, se = mean_and_se([row["goodput"] for row in rows])
    expected = per_replica_goodput(lam, d, restart.replica_stall_s, replicas)
    naive = math.exp(-lam * d) - replicas * lam * restart.replica_stall_s  # a cruder form
    assert abs(mean - expected) < Z * se + 1e-4, (mean, se, expected, naive)


def fixed_step(failures: FailureModel, restart: RestartSpec, nodes: int = 4,
               horizon_s: float = 4000.0, spares: int = 2, interval_s: float = 10_000.0,
               seed: int = 0) -> Scenario:
    return Scenario(seed=seed, horizon_s=horizon_s, step_s=10.0,
                    cluster=ClusterSpec(gpus=nodes * 8, spare_nodes=spares),
                    failures=failures,
                    checkpoint=CheckpointSpec(interval_s=interval_s, write_s=0.0,
                                              load_s=0.0),
                    restart=restart)


def hours(row: dict) -> dict[str, float]:
    return {c: row[f"{c}_h"] * HOUR for c in CATEGORIES}


def test_per_replica_timeline_by_hand():
    """Four replicas of one node; stall 60 s, detect 60, restart 120, catch-up 60 (a
    replica is out 240 s). t=1000: node 2 fails (spare 4 takes slot 2, replica 2 out
    until 1240, the job stalls to 1060). t=1100: node 4 (replica 2 again) fails: its
    return starts over (out until 1340), no new stall. t=1500: node 0 fails: stall to
    1560, replica 0 out until 1740."""
    trace = (TraceFailure(1000.0, node=2), TraceFailure(1100.0, node=4),
             TraceFailure(1500.0, node=0))
    restart = per_replica(1, 60.0, detect_s=60.0, restart_s=120.0, catch_up_s=60.0,
                          repair_s=10 * HOUR)
    row = run_replicate(fixed_step(FailureModel(kind="trace", trace=trace), restart,
                                   spares=3)).row
    useful = 1000 + (1340 - 1060) * 3 / 4 + (1500 - 1340) + (1740 - 1560) * 3 / 4 + (4000 - 1740)
    out = (1340 - 1060) / 4 + (1740 - 1560) / 4
    assert hours(row) == pytest.approx({"useful": useful, "checkpoint": 0.0, "rework": 0.0,
                                        "restart": 120.0, "wait": 0.0, "degraded": 0.0,
                                        "replicas_out": out, "input_stall": 0.0},
                                       abs=1e-6)
    assert (row["failures"], row["replica_failures"]) == (3, 3)


def test_a_replica_short_of_nodes_waits_for_a_repaired_one():
    """No spares: node 1 fails at 1000 and is repaired at 1000 + 500 s; its replica
    returns after the repair (slot filled at 1500, then restart 120 + catch-up 60).
    Detection 0, so the repair starts at the failure either way."""
    trace = (TraceFailure(1000.0, node=1),)
    restart = per_replica(1, 60.0, detect_s=0.0, restart_s=120.0, catch_up_s=60.0,
                          repair_s=500.0)
    row = run_replicate(fixed_step(FailureModel(kind="trace", trace=trace), restart,
                                   spares=0)).row
    back = 1000 + 500 + 180  # repair (from the failure), restart, catch-up
    assert hours(row)["replicas_out"] == pytest.approx((back - 1060) / 4, abs=1e-6)
    assert hours(row)["restart"] == pytest.approx(60.0, abs=1e-6)


def test_a_job_scope_fault_takes_the_synchronous_path():
    """A job-scope fault has no replica: the whole job rolls back (to the start: no
    checkpoint yet) and recovers with detect + restart."""
    trace = (TraceFailure(1000.0, kind="job"),)
    restart = per_replica(1, 60.0, detect_s=60.0, restart_s=120.0)
    row = run_replicate(fixed_step(FailureModel(kind="trace", trace=trace), restart)).row
    assert hours(row) == pytest.approx({"useful": 4000 - 1000 - 180, "checkpoint": 0.0,
                                        "rework": 1000.0, "restart": 180.0, "wait": 0.0,
                                        "degraded": 0.0, "replicas_out": 0.0,
                                        "input_stall": 0.0}, abs=1e-6)
    assert row["replica_failures"] == 0


def random_failures(node_mtbf_h: float = 30.0) -> FailureModel:
    return FailureModel(kind="exponential", node=Exponential(node_mtbf_h * HOUR),
                        gpu=Exponential(500 * HOUR))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_replica_is_the_synchronous_policy(seed):
    """With one replica every failure leaves fewer than min_replicas: the synchronous
    path, exactly."""
    common = {"detect_s": 300.0, "restart_s": 600.0, "repair_s": 5 * HOUR}
    sync = fixed_step(random_failures(), RestartSpec(**common), nodes=8,
                      horizon_s=20 * 24 * HOUR, interval_s=HOUR, seed=seed)
    ft = fixed_step(random_failures(), per_replica(8, 180.0, **common), nodes=8,
                    horizon_s=20 * 24 * HOUR, interval_s=HOUR, seed=seed)
    a, b = run_replicate(sync).row, run_replicate(ft).row
    assert a["failures"] > 10
    assert same_summary(a, b)


def test_min_replicas_equal_to_all_is_the_synchronous_policy():
    common = {"detect_s": 300.0, "restart_s": 600.0, "repair_s": 5 * HOUR}
    sync = fixed_step(random_failures(), RestartSpec(**common), nodes=8,
                      horizon_s=20 * 24 * HOUR, interval_s=HOUR)
    ft = fixed_step(random_failures(), per_replica(2, 180.0, min_replicas=4, **common),
                    nodes=8, horizon_s=20 * 24 * HOUR, interval_s=HOUR)
    a, b = run_replicate(sync).row, run_replicate(ft).row
    assert same_summary(a, b)


def same_summary(a: dict, b: dict) -> bool:
    """Every summary column equal (nan equal to nan); the restart_* configuration
    columns differ by design."""
    columns = [c for c in a if not c.startswith("restart_")]
    return all(a[c] == b[c] or (a[c] != a[c] and b[c] != b[c]) for c in columns)


# ---- in-process restart ------------------------------------------------------------------


def exact_goodput(t: float, c: float, r: float, m: float) -> float:
    """T / (M e^{R/M} (e^{(T+C)/M} - 1)): the renewal form of the synchronous policy
    (tests/validation/test_closed_forms.py), here with R the in-process recovery."""
    return t / (m * math.exp(r / m) * math.expm1((t + c) / m))


@pytest.mark.slow
def test_in_process_goodput_is_the_renewal_form_with_the_in_process_recovery():
    """Job-scope faults that all recover in process (share 1): each costs
    in_process_s + the load, no detection and no restart."""
    m, t, c, load, fast = 2 * HOUR, 1800.0, 60.0, 120.0, 90.0
    gpus = 32
    failures = FailureModel(kind="exponential", catalog=(
        Component("nccl", "job", Exponential(m * gpus), in_process_share=1.0),))
    scenario = Scenario(seed=5, horizon_s=300 * m, step_s=10.0,
                        cluster=ClusterSpec(gpus=gpus, spare_nodes=0), failures=failures,
                        checkpoint=CheckpointSpec(interval_s=t, write_s=c, load_s=load),
                        restart=RestartSpec(detect_s=600.0, restart_s=1200.0,
                                            in_process_s=fast))
    rows = [run_replicate(scenario, r).row for r in range(12)]
    assert all(row["in_process_restarts"] == row["failures"] > 0 for row in rows)
    mean, se = mean_and_se([row["goodput"] for row in rows])
    expected = exact_goodput(t, c, fast + load, m)
    slow = exact_goodput(t, c, 600.0 + 1200.0 + load, m)
    assert abs(mean - expected) < Z * se + t / scenario.horizon_s, (mean, se, expected)
    assert expected - slow > 10 * se  # the test tells the two recoveries apart


def test_in_process_share_splits_the_failures_and_keeps_the_nodes():
    """Half of a GPU cause recovers in process: about half the failures, and those take
    no node out (no repair, no spare used)."""
    failures = FailureModel(kind="exponential", catalog=(
        Component("xid", "gpu", Exponential(40 * HOUR * 32), in_process_share=0.5),))
    base = {"detect_s": 300.0, "restart_s": 600.0, "repair_s": 100 * HOUR}
    row = run_replicate(fixed_step(failures, RestartSpec(**base, in_process_s=60.0),
                                   horizon_s=200 * 24 * HOUR, interval_s=HOUR,
                                   spares=200)).row
    n, k = row["failures"], row["in_process_restarts"]
    assert n > 100 and abs(k - n / 2) < 4 * math.sqrt(n / 4)  # binomial(n, 1/2)
    off = run_replicate(fixed_step(failures, RestartSpec(**base), horizon_s=200 * 24 * HOUR,
                                   interval_s=HOUR, spares=200)).row
    assert off["in_process_restarts"] == 0  # no in_process_s: every failure the full path


def test_a_detected_corruption_takes_the_synchronous_path_under_per_replica():
    """Every replica holds the corrupted state: a detected silent corruption rolls the
    whole job back (the same row as the synchronous policy), while a node failure in
    the same run is taken by its replica alone."""
    corruption = TraceFailure(6000.0, node=0, kind="sdc", gpu=3, repair_s=9000.0)
    common = {"detect_s": 120.0, "restart_s": 600.0, "repair_s": 100 * HOUR}

    def run(restart: RestartSpec, trace: tuple[TraceFailure, ...]) -> dict:
        return run_replicate(Scenario(
            horizon_s=20 * HOUR, step_s=60.0,
            cluster=ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=2),
            failures=FailureModel(kind="trace", trace=trace),
            checkpoint=CheckpointSpec(interval_s=HOUR, write_s=300.0, load_s=180.0),
            restart=restart)).row

    sync = run(RestartSpec(**common), (corruption,))
    ft = run(per_replica(1, 60.0, **common), (corruption,))
    assert sync["sdc_events"] == 1 and sync["rework_h"] > 0
    assert ft["replica_failures"] == 0 and same_summary(sync, ft)
    crash = run(per_replica(1, 60.0, **common), (TraceFailure(6000.0, node=1),))
    assert crash["replica_failures"] == 1 and crash["rework_h"] == 0


@pytest.mark.parametrize(("second", "copy_kept"), [(1, False), (2, True)])
def test_replica_failures_wipe_in_memory_copies(second, copy_kept):
    """In-memory copies in groups of 2 slots (Gemini): replicas 0 and 1 both failing
    while the job trains on wipe group {0, 1} whole, so a later job-scope fault rolls
    back to the durable checkpoint (loaded from storage, 600 s); replicas 0 and 2
    leave every group a copy (the memory reload, 60 s). The job fault comes at 1150,
    inside the second stall (1100-1160) and before the next in-memory checkpoint (which
    would write new copies everywhere): restart time = stalls 60 + 50, then detect 60 +
    restart 120 + the load."""
    trace = (TraceFailure(1000.0, node=0), TraceFailure(1100.0, node=second),
             TraceFailure(1150.0, kind="job"))
    checkpoint = CheckpointSpec(policy="in_memory", interval_s=600.0, write_s=30.0,
                                load_s=600.0, memory_write_s=10.0, memory_load_s=60.0,
                                durable_every=100, memory_group=2)
    restart = per_replica(1, 60.0, detect_s=60.0, restart_s=120.0, catch_up_s=60.0,
                          repair_s=10 * HOUR)
    row = run_replicate(Scenario(horizon_s=3 * HOUR, step_s=10.0,
                                 cluster=ClusterSpec(gpus=32, spare_nodes=2),
                                 failures=FailureModel(kind="trace", trace=trace),
                                 checkpoint=checkpoint, restart=restart)).row
    assert row["replica_failures"] == 2 and row["job_failures"] == 1
    stalls = 60.0 + 50.0
    load = 60.0 if copy_kept else 600.0
    assert row["restart_h"] * HOUR == pytest.approx(stalls + 60.0 + 120.0 + load)
