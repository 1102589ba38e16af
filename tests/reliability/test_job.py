"""The training job (simulator/reliability/job.py), driven by hand-scripted failures on a real
Cluster, without the runner: segments, checkpoints, rollback, recovery, waiting for a
repair, a planned drain and a work budget.

Every case: one-minute steps, T = 60 min of compute per checkpoint, C = 5 min blocking
writes (policy fixed), recovery detect 2 + restart 10 + load 3 = 15 min, two nodes of
one GPU. The timelines are worked out in the comments, in minutes; the ledger's totals
and the job's counters must match them exactly.
"""

from __future__ import annotations

from functools import partial

import pytest
import simpy

from simulator.reliability.cluster import Cluster
from simulator.reliability.failures import FailureModel, TraceFailure
from simulator.reliability.job import JobPlan, TrainingJob
from simulator.reliability.metrics import CATEGORIES, Ledger
from simulator.reliability.scenario import CheckpointSpec, ClusterSpec, RestartSpec
from simulator.streams import stream

MIN = 60.0


def start_job(trace: list[tuple[float, int]], *, spares: int = 1, repair_min: float = 1e6,
              work_steps: int | None = None) -> tuple[simpy.Environment, TrainingJob, Ledger]:
    """A job on two nodes; `trace` lists (minute, node) failures."""
    env = simpy.Environment()
    ledger = Ledger()
    restart = RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=repair_min * MIN)
    plan = JobPlan(step_s=MIN, nodes=2, work_steps=work_steps, restart=restart,
                   checkpoint=CheckpointSpec(policy="fixed", interval_s=60 * MIN,
                                             write_s=5 * MIN, load_s=3 * MIN))
    job = TrainingJob(env, ledger, plan)
    failures = FailureModel(kind="trace", trace=tuple(
        TraceFailure(t * MIN, node=n) for t, n in trace))
    cluster = Cluster(env, ClusterSpec(gpus=2, gpus_per_node=1, spare_nodes=spares),
                      failures, restart, partial(stream, 0, 0), listener=job)
    job.start(cluster)
    return env, job, ledger


def run_until(env: simpy.Environment, ledger: Ledger, minutes: float) -> dict[str, float]:
    env.run(until=minutes * MIN)
    ledger.finish(env.now)
    return {c: ledger.totals[c] / MIN for c in CATEGORIES}


def expected(**minutes: float) -> dict[str, float]:
    return {c: pytest.approx(minutes.get(c, 0.0), abs=1e-9) for c in CATEGORIES}


def test_failure_free_segments():
    # 0-60 compute, 60-65 write, 65-125, 125-130, 130-190, 190-195, 195-200 open:
    # three durable checkpoints (180 steps); the open 5 min count as useful at the end
    env, job, ledger = start_job([])
    totals = run_until(env, ledger, 200)
    assert totals == expected(useful=185, checkpoint=15)
    assert (job.checkpoints, job.committed_steps, job.failures) == (3, 180, 0)


def test_a_failure_in_compute_rolls_back_to_the_last_checkpoint():
    # durable at 65 (60 steps); 65-100 compute lost: rework 35. A spare is in at once:
    # restart 100-115 (2 + 10 + 3). Then 115-175, write 175-180, 180-240, write
    # 240-245, 245-250 open. useful 60 + 60 + 60 + 5 = 185, checkpoint 3 x 5 = 15.
    env, job, ledger = start_job([(100, 0)])
    totals = run_until(env, ledger, 250)
    assert totals == expected(useful=185, checkpoint=15, rework=35, restart=15)
    assert (job.checkpoints, job.committed_steps, job.failures) == (3, 180, 1)
    assert job.log == [(115 * MIN, "recovered")]
    assert job.failures_by_scope["node"] == 1


def test_a_failure_during_the_write_loses_that_checkpoint():
    # the write 60-65 is cut at 62: the 60 min of compute and 2 min of writing are
    # rework, the checkpoint is lost. Restart 62-77, then 77-137, write 137-142,
    # 142-150 open: useful 60 + 8 = 68, checkpoint 5.
    env, job, ledger = start_job([(62, 1)])
    totals = run_until(env, ledger, 150)
    assert totals == expected(useful=68, checkpoint=5, rework=62, restart=15)
    assert (job.checkpoints, job.lost_checkpoints, job.committed_steps) == (1, 1, 60)


def test_without_a_spare_the_job_waits_for_the_repair():
    # no spare, repairs of 30 min: failure at 100 (rework 35 since the checkpoint at
    # 65); detect 100-102, the repair starts at the detection: wait for node 0 until
    # 102 + 30 = 132, restart and load 132-145; 145-205, write 205-210, 210-250 open
    # (40). restart 2 + 13 = 15, wait 30.
    env, job, ledger = start_job([(100, 0)], spares=0, repair_min=30)
    totals = run_until(env, ledger, 250)
    assert totals == expected(useful=60 + 60 + 40, checkpoint=10, rework=35, restart=15,
                              wait=30)
    assert job.log == [(145 * MIN, "recovered")]


def test_planned_maintenance_drains_at_the_next_checkpoint():
    # maintenance announced at 30: the job finishes its segment and write (65), then
    # restarts and loads without rework: 65-78 (10 + 3); 78-138, write 138-143,
    # 143-150 open: useful 60 + 60 + 7 = 127, checkpoint 10, restart 13.
    env, job, ledger = start_job([])

    def announce():
        yield env.timeout(30 * MIN)
        job.on_planned()

    env.process(announce())
    totals = run_until(env, ledger, 150)
    assert totals == expected(useful=127, checkpoint=10, restart=13)
    assert job.planned == 1 and job.failures == 0
    assert job.log == [(65 * MIN, "planned")]


def test_a_work_budget_ends_with_a_checkpoint():
    # 90 steps: 0-60, write 60-65, the last 30 steps 65-95, write 95-100, done at 100
    env, job, ledger = start_job([], work_steps=90)
    env.run(until=job.process)
    assert env.now == 100 * MIN
    assert job.finished and (job.checkpoints, job.committed_steps) == (2, 90)
    ledger.finish(env.now)
    assert ledger.totals["useful"] == 90 * MIN and ledger.totals["checkpoint"] == 10 * MIN


def test_a_failure_during_recovery_starts_it_over():
    # failure at 100 (rework 35), recovery 100-115; a second failure at 110 restarts
    # it: the 10 min already spent are restart time, then 110-125 again. Compute
    # 125-185, write 185-190, 190-200 open. restart 10 + 15 = 25, useful 60 + 60 + 10.
    env, job, ledger = start_job([(100, 0), (110, 1)], spares=2)
    totals = run_until(env, ledger, 200)
    assert totals == expected(useful=130, checkpoint=10, rework=35, restart=25)
    assert job.failures == 2 and job.log == [(125 * MIN, "recovered")]
