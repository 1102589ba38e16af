"""Silent data corruption (simulator/reliability/sdc.py) and checkpoint retention
(simulator/reliability/retention.py): exact timelines worked out by hand.

Every case uses T = 60 min of compute per checkpoint, C = 5 min writes, and recovery of
detect 2 + restart 10 + load 3 = 15 min, with one-minute steps (as in
test_scripted_failures.py). Times in minutes. Without other failures the job runs

    compute 0-60, write 60-65 (checkpoint 1: its state complete at 60, durable at 65),
    compute 65-125, write 125-130 (checkpoint 2: complete at 125, durable at 130),
    compute 130-190, write 190-195 (checkpoint 3: complete at 190, durable at 195),
    compute 195-255, ...

A corruption at t is in every checkpoint whose state was complete after t; detected at
t + D, the job rolls back to the newest kept checkpoint complete at or before t, and
everything committed since that checkpoint became durable is rework.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import pytest
import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, run_replicate
from simulator.reliability.cluster import Cluster
from simulator.reliability.failures import SCOPES, FailureModel, SilentCorruption, TraceFailure
from simulator.reliability.metrics import CATEGORIES
from simulator.reliability.retention import START, Retention
from simulator.reliability.sdc import SDC_CAUSE
from simulator.streams import stream
from tests.listeners import Recorder
from tests.reliability.test_metrics import scenarios

MIN = 60.0
HOUR = 3600.0


def scripted(horizon_min: float, failures: list[TraceFailure], *, keep: int | None = None,
             keep_every: int | None = None, spares: int = 1, policy: str = "fixed",
             **checkpoint: float):
    scenario = Scenario(
        horizon_s=horizon_min * MIN,
        step_s=MIN,
        cluster=ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=spares),
        failures=FailureModel(kind="trace", trace=tuple(failures)),
        checkpoint=CheckpointSpec(policy=policy, interval_s=60 * MIN, write_s=5 * MIN,
                                  load_s=3 * MIN, keep=keep, keep_every=keep_every,
                                  **checkpoint),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=10_000 * MIN),
    )
    result = run_replicate(scenario)
    row = {k: (v * 60 if k.endswith("_h") else v) for k, v in result.row.items()}
    return row, result


def sdc(minute: float, detect_min: float, node: int = 0, gpu: int = 3) -> TraceFailure:
    return TraceFailure(time_s=minute * MIN, node=node, kind="sdc", gpu=gpu,
                        repair_s=detect_min * MIN)


def assert_books(row: dict, **minutes: float) -> None:
    for category in CATEGORIES:
        assert row[f"{category}_h"] == pytest.approx(minutes.get(category, 0.0)), category
    assert math.fsum(row[f"{c}_h"] for c in CATEGORIES) == pytest.approx(row["horizon_h"])


def test_a_clean_checkpoint_is_kept_the_job_rolls_back_to_it():
    # Corruption at 100 (in checkpoint 2 and 3, not 1), detected at 250 (compute).
    # Keep 3: checkpoint 1 is there; everything after its commit at 65 is rework:
    # 250 - 65 = 185. Recovery 250-265 (load 3); compute 265-325, write 325-330.
    row, result = scripted(330, [sdc(100, 150)], keep=3)
    assert_books(row, useful=60 + 60, checkpoint=5 + 5, rework=185, restart=15)
    assert row["sdc_events"] == 1
    assert row["sdc_rework_h"] == pytest.approx(185)
    assert row["failures"] == row["gpu_failures"] == 1
    assert row["checkpoints"] == 3  # written (the write ending at the horizon is not done)
    (record,) = result.records
    assert (record.time_s, record.node, record.component, record.index, record.scope) == \
        (250 * MIN, 0, SDC_CAUSE, 3, "gpu")
    assert result.job_log == [(265 * MIN, "recovered")]


def test_when_every_kept_checkpoint_is_corrupted_the_job_restarts_from_the_start():
    # Same corruption, keep 1: only checkpoint 3 (complete at 190 > 100) is kept, and it
    # holds the corruption: back to step 0, all 250 min are rework, nothing to load.
    # Recovery 250-262 (detect 2 + restart 10); compute 262-322, write 322-327.
    row, _ = scripted(327, [sdc(100, 150)], keep=1)
    assert_books(row, useful=60, checkpoint=5, rework=250, restart=12)
    assert row["sdc_events"] == 1 and row["sdc_rework_h"] == pytest.approx(250)


def test_a_checkpoint_kept_forever_stops_the_fall_back_to_the_start():
    # Corruption at 140 (after checkpoint 2's state at 125, before checkpoint 3's at
    # 190), detected at 250. keep 1 with keep_every 2: checkpoint 2 is kept forever;
    # rework 250 - 130 = 120; recovery 250-265; compute 265-325, write 325-330.
    row, _ = scripted(330, [sdc(140, 110)], keep=1, keep_every=2)
    assert_books(row, useful=3 * 60, checkpoint=3 * 5, rework=120, restart=15)
    # without it, checkpoint 2 was deleted when 3 was written: back to the start
    row, _ = scripted(327, [sdc(140, 110)], keep=1)
    assert_books(row, useful=60, checkpoint=5, rework=250, restart=12)


def test_keep_all_is_the_default():
    row, _ = scripted(330, [sdc(100, 150)])
    assert_books(row, useful=60 + 60, checkpoint=5 + 5, rework=185, restart=15)


def test_a_corruption_during_a_write_spares_that_checkpoint():
    # Corruption at 62, during checkpoint 1's write (its state was complete at 60): the
    # checkpoint is clean. Detected at 162 (compute): rework 162 - 65 = 97; recovery
    # 162-177; compute 177-237, write 237-242.
    row, _ = scripted(242, [sdc(62, 100)])
    assert_books(row, useful=60 + 60, checkpoint=5 + 5, rework=97, restart=15)


def test_a_detection_during_a_write_loses_that_write_too():
    # Corruption at 100, detected at 127 during checkpoint 2's write (125-130): the write
    # is lost (it would hold the corruption anyway); back to checkpoint 1:
    # rework 127 - 65 = 62; recovery 127-142; compute 142-202, write 202-207.
    row, _ = scripted(207, [sdc(100, 27)])
    assert_books(row, useful=60 + 60, checkpoint=5 + 5, rework=62, restart=15)
    assert row["lost_checkpoints"] == 1


def test_a_rollback_for_a_failure_to_before_the_corruption_erases_it():
    # Corruption at 70, a node failure at 100 rolls back to checkpoint 1 (state at 60):
    # the corruption is gone with the 35 min of work it tainted. Nothing is detected at
    # 270. Recovery 100-115; compute 115-175, write 175-180; compute 180-240, write
    # 240-245; compute 245-305, write 305-310.
    row, result = scripted(310, [sdc(70, 200), TraceFailure(100 * MIN, node=1)])
    assert_books(row, useful=4 * 60, checkpoint=4 * 5, rework=35, restart=15)
    assert row["sdc_events"] == 0 and row["sdc_rework_h"] == 0
    assert [r.component for r in result.records] == ["node"]


def test_a_failure_after_the_corrupted_checkpoint_keeps_the_corruption():
    # Corruption at 100 (detected at 300), a node failure at 150 rolls back to checkpoint
    # 2, which holds it: rework 150 - 130 = 20, recovery 150-165; compute 165-225,
    # write 225-230; compute 230-290, write 290-295; compute 295-300 when the corruption
    # is found: back to checkpoint 1 (durable at 65). Committed since: 60 + 5 (ckpt 2)
    # + 60 + 5 + 60 + 5, and 5 of compute: 200 more rework, restart time excluded.
    # Recovery 300-315 (on the second spare); compute 315-375, write 375-380.
    row, _ = scripted(380, [sdc(100, 200), TraceFailure(150 * MIN, node=1)], spares=2)
    assert_books(row, useful=2 * 60, checkpoint=2 * 5, rework=20 + 200, restart=30)
    assert row["sdc_events"] == 1 and row["sdc_rework_h"] == pytest.approx(200)
    assert row["failures"] == 2


def test_the_culprit_node_is_swapped_and_waits_for_repair_without_spares():
    # No spare: the swapped node's slot stays empty until its repair, so the job waits.
    row, result = scripted(330, [sdc(100, 150)], spares=0)
    assert row["wait_h"] > 0
    assert result.records[0].slots == (0,)


def test_a_corruption_of_a_node_out_of_service_changes_nothing():
    # Node 2 is the spare (16 GPUs = nodes 0 and 1 in the job): it computes nothing.
    row, _ = scripted(195, [sdc(100, 50, node=2)])
    assert_books(row, useful=3 * 60, checkpoint=3 * 5)
    assert row["sdc_events"] == 0


def test_in_memory_copies_are_not_rollback_targets():
    # in_memory, a memory copy (0.2 min) after every 60 min, durable every 2nd:
    # compute 0-60, copy 60-60.2, compute 60.2-120.2, durable write 120.2-125.2
    # (state at 120.2), compute 125.2-185.2, copy 185.2-185.4, compute 185.4-245.4...
    # Corruption at 130 (after the durable state), detected at 200: the memory copy at
    # 185.2 holds it, the durable checkpoint does not: rework 200 - 125.2 = 74.8.
    row, _ = scripted(400, [sdc(130, 70)], policy="in_memory", memory_write_s=0.2 * MIN,
                      memory_load_s=MIN, durable_every=2)
    assert row["sdc_rework_h"] == pytest.approx(74.8)
    # recovery 200-215 loads the durable checkpoint (3 min), then the cycle again:
    # 215-275 compute, 275-275.2 copy, 275.2-335.2 compute, 335.2-340.2 durable write,
    # 340.2-400 compute (59.8 min, uncheckpointed at the end: useful)
    assert_books(row, useful=120 + 120 + 59.8, checkpoint=0.2 + 5 + 0.2 + 5,
                 rework=74.8, restart=15)


# ---- retention by hand --------------------------------------------------------------


def test_retention_keeps_the_newest_k_and_every_nth_forever():
    kept = Retention(keep=2, keep_every=3)
    for n in range(1, 8):  # checkpoints 1..7, states complete at 10 n
        kept.saving(n, 10.0 * n)
        kept.durable(n, n, (float(n), 0.0, 0.0))
    # the start, 3 and 6 forever, and the newest two (6 is one of them, as in Orbax)
    assert [k.steps for k in kept.kept] == [0, 3, 6, 7]
    assert kept.target(65.0).steps == 6
    assert [k.steps for k in kept.kept] == [0, 3, 6]  # 7 held the corruption: deleted
    assert kept.target(29.0) is START


def test_retention_of_async_snapshots_uses_the_state_time_not_the_write():
    kept = Retention(keep=None, keep_every=None)
    kept.saving(5, 100.0)  # two snapshots in flight
    kept.saving(10, 200.0)
    kept.durable(5, 1, (1.0, 0.0, 0.0))
    assert kept.kept[-1].snapshot_s == 100.0
    assert kept.recovered(5) == 100.0  # a failure: the second write is lost
    kept.saving(10, 300.0)
    kept.durable(10, 2, (2.0, 0.0, 0.0))
    assert kept.kept[-1].snapshot_s == 300.0


# ---- the identity, on random scenarios with SDC --------------------------------------


@st.composite
def sdc_scenarios(draw) -> Scenario:
    base = draw(scenarios())
    corruption = SilentCorruption(
        draw(st.floats(5.0, 5000.0)) * HOUR,
        draw(st.floats(0.01, 20.0)) * HOUR,
        draw(st.sampled_from(["exponential", "weibull", "lognormal"])),
        draw(st.floats(0.5, 2.0)))
    keep = draw(st.one_of(st.none(), st.integers(1, 4)))
    keep_every = draw(st.one_of(st.none(), st.integers(1, 5)))
    return replace(base, failures=replace(base.failures, sdc=corruption),
                   checkpoint=replace(base.checkpoint, keep=keep, keep_every=keep_every))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sdc_scenarios())
def test_categories_sum_to_the_horizon_with_sdc(scenario: Scenario):
    row = run_replicate(scenario).row
    parts = [row[f"{c}_h"] for c in CATEGORIES]
    assert all(p >= -1e-9 for p in parts), row
    assert math.fsum(parts) == pytest.approx(row["horizon_h"], rel=1e-9, abs=1e-9)
    assert row["failures"] == sum(row[f"{scope}_failures"] for scope in SCOPES)
    assert row["sdc_events"] <= row["gpu_failures"]
    assert 0.0 <= row["sdc_rework_h"] <= row["rework_h"] * (1 + 1e-9) + 1e-9
    if scenario.work_s is not None and row["completed"]:
        steps = math.ceil(scenario.work_s / scenario.step_s - 1e-9)
        assert row["useful_h"] == pytest.approx(steps * scenario.step_s / HOUR, rel=1e-9)


# ---- the source, against a stub job ------------------------------------------------


class StubBook:
    """Holds every corruption until detected; records what the source told it."""

    def __init__(self) -> None:
        self.corruptions = []

    def corrupt(self, corruption) -> bool:
        self.corruptions.append(corruption)
        return True

    def holds(self, corruption) -> bool:
        return True


class StubJob(Recorder):
    def __init__(self, env) -> None:
        super().__init__(env)
        self.sdc = StubBook()


def test_the_source_corrupts_serving_gpus_and_swaps_each_culprit_at_detection():
    env = simpy.Environment()
    job = StubJob(env)
    spec = ClusterSpec(gpus=32, gpus_per_node=8, spare_nodes=400)
    model = FailureModel(kind="exponential",
                         sdc=SilentCorruption(32 * 10 * HOUR, 2 * HOUR, "weibull", 2.0))
    cluster = Cluster(env, spec, model, RestartSpec(repair_s=1e9),
                      partial(stream, 5, 0), listener=job)
    env.run(until=1000 * HOUR)
    corruptions = job.sdc.corruptions
    # one corruption per 10 h over the job's 32 GPUs: ~100 in 1,000 h (4 sigma: +-40)
    assert abs(len(corruptions) - 100) <= 40
    assert all(0 <= c.slot < 4 and 0 <= c.gpu < 8 for c in corruptions)
    assert {c.slot for c in corruptions} == {0, 1, 2, 3}
    detected = sorted((c for c in corruptions if c.time_s + c.detect_s < env.now),
                      key=lambda c: c.time_s + c.detect_s)
    # the stub holds every corruption, so a node corrupted twice before its first
    # detection is swapped at the first and is out of the job (no slot) at the second
    expected, swapped = [], set()
    for c in detected:
        slots = () if c.node in swapped else (c.slot,)
        swapped.add(c.node)
        expected.append((c.time_s + c.detect_s, c.node, c.gpu, SDC_CAUSE, "gpu", slots))
    assert [(r.time_s, r.node, r.index, r.component, r.scope, r.slots)
            for r in job.failures] == expected
    # each culprit left the job for repair (a spare took its slot) and stays out
    assert all(not cluster.nodes[n].serving for n in swapped)
    assert all(c.node not in swapped or c.time_s < min(
        d.time_s + d.detect_s for d in detected if d.node == c.node) for c in corruptions)
