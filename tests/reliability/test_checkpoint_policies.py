"""Asynchronous checkpoints (scripted, exact), the adaptive interval, model-derived
checkpoint costs and in-memory checkpoints (Daly's interval against the exact optimum:
tests/validation/test_closed_forms.py).

Scripted cases: T = 60 min compute per checkpoint, a 1-min blocking snapshot, a
background write of W minutes, recovery detect 2 + restart 10 + load 3 = 15 min,
one-minute steps. Times in minutes.
"""

from __future__ import annotations

import math

import pytest

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, load_scenario
from simulator.experiments.runner import run_replicate
from simulator.fabric.domains import FailureDomains, rack_groups
from simulator.reliability.failures import Exponential, FailureModel, TraceFailure
from simulator.reliability.intervals import young_daly_interval

MIN = 60.0


def switch_pairs(total_nodes: int) -> FailureDomains:
    """Switches in front of consecutive pairs of physical nodes (0-1, 2-3, ...)."""
    return FailureDomains((("switch", tuple(rack_groups(total_nodes, 2))),))


def async_run(horizon_min: float, fail_at: list[float], write_min: float = 10.0,
              work_min: float | None = None) -> dict:
    scenario = Scenario(
        horizon_s=horizon_min * MIN, step_s=MIN,
        work_s=None if work_min is None else work_min * MIN,
        cluster=ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=4),
        failures=FailureModel(kind="trace", trace=tuple(
            TraceFailure(t * MIN, node=i % 2) for i, t in enumerate(fail_at))),
        checkpoint=CheckpointSpec(policy="async", interval_s=60 * MIN,
                                  write_s=write_min * MIN, load_s=3 * MIN,
                                  snapshot_s=1 * MIN),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=1e9),
    )
    row = run_replicate(scenario).row
    return {k: (v * 60 if k.endswith("_h") else v) for k, v in row.items()}


def test_failure_free_async_blocks_only_for_the_snapshot():
    # 0-60 compute, 60-61 snapshot, ...: goodput T / (T + s) = 60/61 over whole periods
    row = async_run(61 * 10, [])
    assert row["goodput"] == pytest.approx(60 / 61, abs=1e-12)
    assert row["checkpoint_h"] == pytest.approx(10)


def test_failure_before_the_first_write_is_durable_loses_everything():
    # snapshot 60-61, write 61-71; failure at 65: nothing durable, all 65 min are rework
    row = async_run(100, [65])
    assert row["rework_h"] == pytest.approx(65)
    assert row["lost_checkpoints"] == 1
    assert row["restart_h"] == pytest.approx(15)
    assert row["useful_h"] == pytest.approx(100 - 80)  # from 80, computing again


def test_failure_after_the_write_keeps_the_durable_checkpoint():
    # write done at 71: failure at 75 loses only 61-75
    row = async_run(100, [75])
    assert row["rework_h"] == pytest.approx(14)
    assert row["useful_h"] == pytest.approx(60 + (100 - 90))
    assert row["checkpoint_h"] == pytest.approx(1)
    assert row["lost_checkpoints"] == 0 and row["checkpoints"] == 1


def test_overlapping_writes_share_storage_and_a_failure_loses_the_unfinished_one():
    # W = 70 > T + s: write 1 runs alone 61-122 (61 of its 70 min done); snapshot 2 at
    # 121-122 starts write 2, and the two share the bandwidth (half speed each): write 1
    # needs 9 more minutes of full bandwidth, so it is durable at 122 + 2 x 9 = 140. A
    # failure at 145 keeps checkpoint 1 and loses 61-145 with write 2 (9 + 5 min done).
    # (A FIFO queue would have finished write 1 at 131 and written 2 alone from 131.)
    row = async_run(170, [145], write_min=70)
    assert row["rework_h"] == pytest.approx(145 - 61)
    assert row["checkpoint_h"] == pytest.approx(1)
    # restart 145-160; compute again 160-170
    assert row["useful_h"] == pytest.approx(60 + (170 - 160))
    assert row["lost_checkpoints"] == 1
    assert row["checkpoints"] == 1


def test_shared_bandwidth_delays_the_first_write_past_a_failure_fifo_would_survive():
    # Same writes, failure at 135: with FIFO write 1 would have been durable at 131;
    # sharing the bandwidth, it is still 2.5 min short at 135, so everything is lost.
    row = async_run(170, [135], write_min=70)
    assert row["rework_h"] == pytest.approx(135)
    assert row["lost_checkpoints"] == 2 and row["checkpoints"] == 0


def test_a_third_snapshot_waits_for_a_write_slot():
    # W = 130: write 1 runs alone 61-122 (61 done, 69 left), shares with write 2 from 122
    # (half speed): durable at 122 + 2 x 69 = 260. Segment 3's compute ends at 182 with
    # two writes in flight: the job blocks until 260, snapshots 260-261, computes on.
    # Blocked: snapshots 3 x 1 min + the 78-min wait; useful 60 + 60 + 60 + 4.
    row = async_run(265, [], write_min=130)
    assert row["checkpoint_h"] == pytest.approx(3 + (260 - 182))
    assert row["useful_h"] == pytest.approx(184)
    assert row["checkpoints"] == 1


def test_work_mode_waits_for_the_last_write():
    # 120 min of work: snapshots at 60-61 and 121-122; the last write (10 min) ends at
    # 132, and the job is done only once it is durable.
    row = async_run(10_000, [], work_min=120)
    assert row["horizon_h"] == pytest.approx(132)
    assert row["useful_h"] == pytest.approx(120)
    assert row["checkpoint_h"] == pytest.approx(12)  # 2 snapshots + 10 min blocked at the end
    assert row["completed"] and row["checkpoints"] == 2


def test_async_needs_its_snapshot_time():
    from simulator import ConfigError

    with pytest.raises(ConfigError) as info:
        load_scenario(["checkpoint=async", "checkpoint.snapshot_minutes=null"])
    assert info.value.key == "checkpoint.snapshot_minutes"
    with pytest.raises(ConfigError) as info:
        load_scenario(["checkpoint.snapshot_minutes=1"])
    assert info.value.key == "checkpoint.snapshot_minutes"


def exact_goodput(t: float, c: float, r: float, m: float) -> float:
    """T / E, E = M e^{R/M} (e^{(T+C)/M} - 1): exponential failures, also during writes
    and restarts (tests/validation/test_closed_forms.py)."""
    return t / (m * math.exp(r / m) * math.expm1((t + c) / m))


def test_adaptive_recovers_from_a_wrong_prior():
    # The job's true MTBI is 2 h (8 nodes of 16 h); the prior says 20 h. Young's interval
    # for the truth is sqrt(2 x 3 min x 2 h) = 26.8 min, for the prior 84.9 min. Over
    # 3,000 h (~1,500 failures) the estimate (20 + t) / (1 + n) -> 2 h, so the adaptive
    # job ends at ~26.8 min and its goodput approaches T/E at that interval, well above
    # T/E at the prior's interval (exact expressions, see exact_goodput).
    hour, c, r, m = 3600.0, 180.0, 360.0, 7200.0
    scenario = Scenario(
        horizon_s=3000 * hour, step_s=10.0,
        cluster=ClusterSpec(gpus=64, gpus_per_node=8, spare_nodes=16),
        failures=FailureModel(kind="test", node=Exponential(16 * hour)),
        checkpoint=CheckpointSpec(policy="adaptive", interval_s=young_daly_interval(
            None, c, 20 * hour), write_s=c, load_s=r, prior_mtbi_s=20 * hour),
        restart=RestartSpec(detect_s=0.0, restart_s=0.0, repair_s=60.0),
    )
    rows = [run_replicate(scenario, k).row for k in range(8)]
    right = math.sqrt(2 * c * m)  # Young by hand: 1,609.97 s = 26.8 min
    final = [row["interval_min"] * 60 for row in rows]
    assert all(abs(t - right) / right < 0.1 for t in final), final
    goodput = sum(row["goodput"] for row in rows) / len(rows)
    best = exact_goodput(right, c, r, m)
    wrong = exact_goodput(math.sqrt(2 * c * 20 * hour), c, r, m)  # 84.9 min
    # early on the job runs at longer intervals, so it may trail the best by a little
    assert best - 0.01 < goodput < best + 0.005, (goodput, best)
    assert goodput > wrong + 0.03, (goodput, wrong)


def test_checkpoint_cost_from_the_model_and_storage():
    # 405e9 parameters x 14 bytes = 5.67 TB; storage 2 TB/s write, 7 TB/s read, and
    # 2,048 nodes x 50 GB/s is no limit: 2.835 s to write, 0.81 s to load.
    derived = ["checkpoint.write_minutes=null", "checkpoint.load_minutes=null"]
    ckpt = load_scenario(["workload=llama3_405b", *derived]).checkpoint
    assert ckpt.size_bytes == pytest.approx(405e9 * 14)
    assert ckpt.write_s == pytest.approx(5.67e12 / 2e12)
    assert ckpt.load_s == pytest.approx(5.67e12 / 7e12)
    # 8 nodes x 50 GB/s = 400 GB/s is slower than the storage: the nodes' paths limit
    small = load_scenario(["workload=llama3_70b", "cluster.gpus=64", *derived]).checkpoint
    assert small.write_s == pytest.approx(70.6e9 * 14 / 400e9)
    assert small.load_s == pytest.approx(70.6e9 * 14 / 400e9)
    # and Young's interval uses the derived write time: 1,024 GPUs = 128 nodes, whose
    # 6.4 TB/s of paths do not limit 2 TB/s storage: C = 70.6e9 x 14 / 2e12 = 0.4942 s;
    # RSC-1's 3,692.3 h per node (failures/exponential.yaml) over 128 nodes: M =
    # 103,845.94 s; sqrt(2 C M) = 320.38 s. (Before: sqrt(2 x write_s x job_mtbi_s) of
    # the scenario itself, which could not catch a wrong C or M.)
    yd = load_scenario(["workload=llama3_70b", "checkpoint=young_daly", *derived])
    assert yd.checkpoint.write_s == pytest.approx(0.4942, rel=1e-12)
    assert yd.checkpoint.interval_s == pytest.approx(
        math.sqrt(2 * 0.4942 * 3692.3 * 3600 / 128), rel=1e-12)
    assert yd.checkpoint.interval_s == pytest.approx(320.377, rel=1e-5)


def test_derived_checkpoint_cost_needs_a_model():
    from simulator import ConfigError

    with pytest.raises(ConfigError) as info:
        load_scenario(["checkpoint.write_minutes=null"])
    assert info.value.key == "checkpoint.write_minutes"


def in_memory_run(horizon_min: float, failures: list[TraceFailure]) -> dict:
    """T = 10 min; in-memory copy 0.5 min (load 1); every 3rd durable: write 5 (load 5);
    detect 2 + restart 10."""
    scenario = Scenario(
        horizon_s=horizon_min * MIN, step_s=MIN,
        cluster=ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=4),
        failures=FailureModel(kind="trace", trace=tuple(failures), domains=switch_pairs(6)),
        checkpoint=CheckpointSpec(policy="in_memory", interval_s=10 * MIN, write_s=5 * MIN,
                                  load_s=5 * MIN, memory_write_s=0.5 * MIN,
                                  memory_load_s=1 * MIN, durable_every=3),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=1e9),
    )
    row = run_replicate(scenario).row
    return {k: (v * 60 if k.endswith("_h") else v) for k, v in row.items()}


def test_in_memory_node_failure_reloads_the_peer_copy():
    # copies at 10-10.5 and 20.5-21; failure of node 0 at 25 loses 21-25 only; recovery
    # 2 + 10 + 1 (memory load) = 13 -> 38; the third checkpoint (durable) 48-53.
    row = in_memory_run(53, [TraceFailure(25 * MIN, node=0)])
    assert row["rework_h"] == pytest.approx(4)
    assert row["restart_h"] == pytest.approx(13)
    assert row["useful_h"] == pytest.approx(30)
    assert row["checkpoint_h"] == pytest.approx(0.5 + 0.5 + 5)


def test_in_memory_switch_failure_falls_back_to_durable():
    # the switch takes node 0 and its peer 1: both copies gone, nothing durable yet:
    # all 25 min are rework; recovery loads storage: 2 + 10 + 5 = 17 -> 42.
    row = in_memory_run(52.5, [TraceFailure(25 * MIN, node=0, kind="switch")])
    assert row["rework_h"] == pytest.approx(25)
    assert row["restart_h"] == pytest.approx(17)
    assert row["useful_h"] == pytest.approx(10)
    assert row["switch_failures"] == 1


def test_in_memory_second_failure_before_recheckpoint_falls_back_to_durable():
    # node 0 at 25 (memory: 4 min lost), node 1 at 27 during that recovery: the peer
    # copy may be gone, so back to durable: the two sealed copies (21 min) are lost too.
    # restart: 2 (interrupted detect) + 2 + 10 + 5.
    row = in_memory_run(44, [TraceFailure(25 * MIN, node=0), TraceFailure(27 * MIN, node=1)])
    assert row["rework_h"] == pytest.approx(25)
    assert row["restart_h"] == pytest.approx(19)
    assert row["useful_h"] == pytest.approx(0)
    assert row["failures"] == 2
