"""The storage system in a run: scripted outages during writes (exact timelines), the
input buffer across an outage, and unlimited storage changing nothing.

Scripted cases: one-minute steps, a checkpoint every 60 minutes of compute, a write of
10 minutes, 2 nodes of 8 GPUs. Times in seconds unless named.
"""

from __future__ import annotations

import math

import pytest

from simulator import (
    CheckpointSpec,
    ClusterSpec,
    RestartSpec,
    Scenario,
    load_scenario,
    simulate,
)
from simulator.experiments.budget import estimate_events
from simulator.experiments.runner import run_replicate
from simulator.fabric.storage import StorageSpec
from simulator.reliability.failures import FailureModel, TraceFailure
from simulator.reliability.metrics import CATEGORIES, SUMMARY_COLUMNS

MIN = 60.0
HOUR = 3600.0


def run(horizon_s: float, storage: StorageSpec, policy: str = "fixed",
        fail_at: tuple[float, ...] = (), interval_s: float = HOUR) -> dict:
    """One replicate; every *_h column in seconds."""
    scenario = Scenario(
        horizon_s=horizon_s, step_s=MIN,
        cluster=ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=4),
        failures=FailureModel(kind="trace", trace=tuple(
            TraceFailure(t, node=0) for t in fail_at)),
        checkpoint=CheckpointSpec(policy=policy, interval_s=interval_s, write_s=10 * MIN,
                                  load_s=3 * MIN,
                                  snapshot_s=MIN if policy == "async" else None),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=1e9),
        storage=storage,
    )
    row = run_replicate(scenario).row
    seconds = {k: v * HOUR for k, v in row.items() if k.endswith("_h")}
    assert sum(seconds[f"{c}_h"] for c in CATEGORIES) == pytest.approx(horizon_s)
    return {**row, **seconds}


def outage(at_s: float, minutes: float = 20.0, write: str = "retry") -> StorageSpec:
    return StorageSpec(outage_at_s=(at_s,), outage_s=minutes * MIN, outage_write=write)


def test_an_outage_during_a_write_fails_it_and_retries_it_when_storage_is_back():
    """Compute 0-3600; the write starts at 3600 and meets the outage at 3900 (300 s in);
    the job waits, blocked, until storage is back at 3900 + 1200 = 5100, writes again
    from the start, durable at 5700; compute 5700-9300, write 9300-9900, compute to the
    horizon at 9950."""
    row = run(9950, outage(3900))
    assert row["useful_h"] == pytest.approx(7250, abs=1e-9)
    assert row["checkpoint_h"] == pytest.approx(300 + 1200 + 600 + 600, abs=1e-9)
    assert row["checkpoints"] == 2 and row["failed_writes"] == 1
    assert row["storage_outages"] == 1 and row["skipped_checkpoints"] == 0
    assert row["storage_outage_h"] == pytest.approx(1200, abs=1e-9)


def test_an_outage_during_a_write_with_skip_gives_the_checkpoint_up():
    """The write broken at 3900 is given up: compute resumes at once, the 60 steps stay
    provisional; 60 steps later (7500) the next write, storage up since 5100, makes all
    120 durable at 8100; compute to the horizon at 8150. The 300 s of broken write
    count as checkpoint time."""
    row = run(8150, outage(3900, write="skip"))
    assert row["useful_h"] == pytest.approx(7250, abs=1e-9)
    assert row["checkpoint_h"] == pytest.approx(300 + 600, abs=1e-9)
    assert row["checkpoints"] == 1 and row["skipped_checkpoints"] == 1
    assert row["failed_writes"] == 1


def test_a_failure_after_a_skipped_checkpoint_rolls_back_to_the_start():
    """As above, and a node fails at 7000, before the next write: nothing is durable,
    the 7000 s are rework; recovery 2 + 10 + 3 min = 900 s, then compute."""
    row = run(8000, outage(3900, write="skip"), fail_at=(7000,))
    assert row["rework_h"] == pytest.approx(7000, abs=1e-9)
    assert row["restart_h"] == pytest.approx(900, abs=1e-9)
    assert row["useful_h"] == pytest.approx(8000 - 7900, abs=1e-9)


def test_an_outage_restarts_an_asynchronous_write_in_flight():
    """Async: snapshot 3600-3660, write in the background from 3660 (due 4260); the
    outage 3900-5100 fails it, it starts again at 5100, due 5700. A failure at 5500 finds
    nothing durable: all 5500 s are rework (without the outage: only 5500 - 3660)."""
    row = run(5600, outage(3900), policy="async", fail_at=(5500,))
    assert row["rework_h"] == pytest.approx(5500, abs=1e-9)
    assert row["failed_writes"] == 1 and row["lost_checkpoints"] == 1
    without = run(5600, StorageSpec(), policy="async", fail_at=(5500,))
    assert without["rework_h"] == pytest.approx(5500 - 3660, abs=1e-9)


def test_the_prefetch_buffer_carries_the_job_into_an_outage_then_it_stalls():
    """Demand 1 GB/s (60 GB a 60-s step), supply 2 GB/s, a buffer of 5 steps (300 GB),
    no checkpoint in the window. The buffer fills by 300 s; the outage at 1000 s stops
    supply; the buffer lasts 300 s more (to 1300), then the GPUs wait until storage is
    back at 2200: 900 s of input stall, the rest useful."""
    storage = StorageSpec(loader_bps=2e9, input_bytes_per_step=60e9, prefetch_steps=5,
                          outage_at_s=(1000.0,), outage_s=1200.0)
    row = run(3000, storage, interval_s=10 * HOUR)
    assert row["input_stall_h"] == pytest.approx(900, abs=1e-9)
    assert row["useful_h"] == pytest.approx(2100, abs=1e-9)


#: Configurations run with input free and then with an input stream storage can always
#: serve (every bandwidth unlimited) and an outage after the horizon: the same numbers.
UNLIMITED = ["storage.read_gb_per_s=null", "storage.write_gb_per_s=null",
             "storage.node_gb_per_s=null", "storage.input.bytes_per_step=1e9",
             "storage.input.prefetch_steps=4", "storage.outage_at_hours=[10000]"]
SHORT = ["cluster.gpus=256", "horizon_days=10", "replicates=2"]


@pytest.mark.filterwarnings("ignore:spare pool expected to run dry")
@pytest.mark.parametrize("case", [
    [*SHORT],
    [*SHORT, "failures=meta_rsc1", "checkpoint=async"],
    [*SHORT, "checkpoint=in_memory", "restart=hot_spares"],
    [*SHORT, "restart=elastic", "cluster.spare_nodes=0", "failures.node_mtbf_hours=500"],
    [*SHORT, "failures.straggler_mtbf_hours=20000", "checkpoint=young_daly"],
    ["workload=llama3_70b", "horizon_days=5", "replicates=2"],
])
def test_unlimited_storage_changes_nothing(case):
    today = simulate(case)
    unlimited = simulate([*case, *UNLIMITED])
    assert unlimited["input_stall_h"].eq(0).all()
    for column in SUMMARY_COLUMNS:
        for a, b in zip(today[column], unlimited[column], strict=True):
            if isinstance(a, float) and math.isnan(a):
                assert math.isnan(b), column
            elif isinstance(a, float):
                assert b == pytest.approx(a, rel=1e-12, abs=1e-12), column
            else:
                assert a == b, column


def test_random_outages_take_their_share_of_the_time():
    """Up times exponential with mean 100 h, outages 10 h on average: an alternating
    renewal process, down 10 / 110 of the time in the long run. Fixed durations: every
    outage lasts exactly 10 h (the last may be cut by the horizon)."""
    common = ["failures=none", "cluster.gpus=16", "horizon_days=3650", "replicates=3",
              "checkpoint.interval_minutes=100000",
              "storage.outage_mtbf_hours=100", "storage.outage_minutes=600"]
    rows = simulate(common)
    share = rows["storage_outage_h"].sum() / rows["horizon_h"].sum()
    assert share == pytest.approx(10 / 110, rel=0.1)
    assert (rows["storage_outages"] > 500).all()
    fixed = simulate([*common, "storage.outage_kind=fixed"])
    for _, row in fixed.iterrows():
        assert row["storage_outage_h"] <= row["storage_outages"] * 10 + 1e-9
        assert row["storage_outage_h"] > (row["storage_outages"] - 1) * 10 - 1e-9
    assert simulate(common)["storage_outage_h"].tolist() == rows["storage_outage_h"].tolist()


def test_a_restart_load_waits_for_storage_and_starts_again_after_an_outage():
    """Storage is down 1000-2800 s. A node fails at 150: detection to 270, restart to
    870, the 3-min load 870-1050 is broken at 1000; it starts again when storage is back
    at 2800, done at 2980. The job lost 150 s of compute and spent 2830 s restarting."""
    row = run(3000, StorageSpec(outage_at_s=(1000.0,), outage_s=1800.0), fail_at=(150,))
    assert row["rework_h"] == pytest.approx(150, abs=1e-9)
    assert row["restart_h"] == pytest.approx(2980 - 150, abs=1e-9)
    assert row["useful_h"] == pytest.approx(20, abs=1e-9)


FED = ["storage.input.bytes_per_step=20e9", "storage.read_gb_per_s=3",
       "storage.input.prefetch_steps=8"]
OUTAGES = ["storage.outage_mtbf_hours=5", "storage.outage_minutes=30"]


@pytest.mark.parametrize("overrides", [FED, ["checkpoint=async", *FED], OUTAGES,
                                       ["checkpoint=async", *OUTAGES, *FED]], ids=" ".join)
def test_the_work_budget_counts_the_storage_events(overrides):
    """The estimate (simulator/experiments/budget.py) stays an upper estimate within
    the factor its own test allows (0.9 to 2.5 x the SimPy events counted)."""
    scenario = load_scenario(["failures=none", *overrides])
    counted = run_replicate(scenario).sim_events
    assert 0.9 <= estimate_events(scenario).per_replicate / counted <= 2.5
