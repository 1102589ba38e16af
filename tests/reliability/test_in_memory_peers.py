"""In-memory checkpoints as Gemini places them (Wang et al., SOSP 2023, group placement):
the job's slots in groups of `memory_group` consecutive ones, each machine's checkpoint
in the CPU memory of every machine of its group. A failed machine's memory is wiped; the
copy is lost only once every machine of some group was wiped since the last in-memory
checkpoint. A durable checkpoint makes no memory copy, so a failure after it loads from
storage.

Scripted runs in minutes: T = 10 min, copy 0.5 min (load 1), every 3rd checkpoint
durable (write 5, load 5), detect 2 + restart 10, one-minute steps, 4 nodes of 8 GPUs
(slots 0-3), 4 spares, no repairs back within the run.
"""

from __future__ import annotations

import pandas as pd
import pytest

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, simulate
from simulator.experiments.runner import run_replicate
from simulator.fabric.domains import FailureDomains
from simulator.reliability.failures import FailureModel, TraceFailure
from simulator.reliability.metrics import SUMMARY_COLUMNS
from simulator.reliability.peer_copies import PeerCopies

MIN = 60.0


def run(horizon_min: float, failures: list[TraceFailure], memory_group: int = 2,
        switches: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3))) -> dict:
    scenario = Scenario(
        horizon_s=horizon_min * MIN, step_s=MIN,
        cluster=ClusterSpec(gpus=32, gpus_per_node=8, spare_nodes=4),
        failures=FailureModel(kind="trace", trace=tuple(failures),
                              domains=FailureDomains((("switch", switches),))),
        checkpoint=CheckpointSpec(policy="in_memory", interval_s=10 * MIN, write_s=5 * MIN,
                                  load_s=5 * MIN, memory_write_s=0.5 * MIN,
                                  memory_load_s=1 * MIN, durable_every=3,
                                  memory_group=memory_group),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=1e9),
    )
    row = run_replicate(scenario).row
    return {k: (v * 60 if k.endswith("_h") else v) for k, v in row.items()}


# ---- fix: a second failure in another group keeps the copy ---------------------------------


def test_a_second_failure_in_another_group_keeps_the_copy():
    # copies 10-10.5 and 20.5-21; slot 0 fails at 25 (group {0, 1}): 21-25 lost, recovery
    # from memory; slot 2 (group {2, 3}) fails at 27, during that recovery: no group is
    # wiped whole, so the copy still holds: nothing more is lost. Restart 25-27
    # (interrupted detection) + 27-40 (2 + 10 + 1); compute 40-50, durable write 50-55.
    row = run(55, [TraceFailure(25 * MIN, node=0), TraceFailure(27 * MIN, node=2)])
    assert row["failures"] == 2
    assert row["rework_h"] == pytest.approx(4)
    assert row["restart_h"] == pytest.approx(2 + 2 + 10 + 1)
    assert row["useful_h"] == pytest.approx(30)
    assert row["checkpoint_h"] == pytest.approx(0.5 + 0.5 + 5)


def test_both_machines_of_a_group_lose_the_copy():
    # slot 0 at 25, slot 1 (its group peer) at 27: group {0, 1} is wiped whole: back to
    # the start (nothing durable yet), both copies' 21 min are rework too; the load is
    # from storage: restart 2 + 2 + 10 + 5.
    row = run(44, [TraceFailure(25 * MIN, node=0), TraceFailure(27 * MIN, node=1)])
    assert row["rework_h"] == pytest.approx(25)
    assert row["restart_h"] == pytest.approx(19)
    assert row["useful_h"] == pytest.approx(0)


def test_a_new_copy_clears_the_wiped_machines():
    # slot 0 fails at 25 (4 min lost, memory load; running again at 38); 38-48 compute,
    # the third checkpoint durable 48-53, 53-63 compute, a new copy 63-63.5 (on every
    # machine, the replacement in slot 0 included). Slot 1 fails at 65: since that copy
    # only slot 1 was wiped, so group {0, 1} still holds it: only 63.5-65 is lost.
    row = run(80, [TraceFailure(25 * MIN, node=0), TraceFailure(65 * MIN, node=1)])
    assert row["rework_h"] == pytest.approx(4 + 1.5)
    assert row["restart_h"] == pytest.approx(13 + 13)


def test_a_switch_over_one_machine_of_each_of_two_groups_keeps_the_copy():
    # the switch in front of slots 1 and 2 (groups {0, 1} and {2, 3}, one machine of
    # each): both copies survive on slots 0 and 3. At 25: 4 min lost, memory load.
    row = run(40, [TraceFailure(25 * MIN, node=1, kind="switch")],
              switches=((0,), (1, 2), (3,)))
    assert row["switch_failures"] == 1
    assert row["rework_h"] == pytest.approx(4)
    assert row["restart_h"] == pytest.approx(13)


def test_a_switch_over_a_whole_group_loses_the_copy():
    row = run(45, [TraceFailure(25 * MIN, node=0, kind="switch")])
    assert row["rework_h"] == pytest.approx(25)
    assert row["restart_h"] == pytest.approx(17)


def test_job_scope_faults_keep_the_copies():
    # two software faults (no machine wiped: the copies live in an agent process)
    row = run(60, [TraceFailure(25 * MIN, kind="job"), TraceFailure(27 * MIN, kind="job")])
    assert row["job_failures"] == 2
    assert row["rework_h"] == pytest.approx(4)
    assert row["restart_h"] == pytest.approx(2 + 13)


def test_a_group_of_one_loses_the_copy_with_its_machine():
    row = run(45, [TraceFailure(25 * MIN, node=0)], memory_group=1)
    assert row["rework_h"] == pytest.approx(25)
    assert row["restart_h"] == pytest.approx(17)


def test_groups_are_consecutive_slots_and_the_last_takes_the_remainder():
    # 5 slots, groups of 2: {0, 1}, {2, 3, 4} (the remainder joins the last group, so
    # no machine's copy lives on itself alone)
    copies = PeerCopies(nodes=5, group=2)
    assert [copies.group_of(s) for s in range(5)] == [0, 0, 1, 1, 1]
    assert not copies.wipe((2, 3))
    assert copies.wipe((4,))
    copies.renewed()
    assert not copies.wipe((0,)) and copies.wipe((1,))
    assert PeerCopies(nodes=3, group=8).group_of(2) == 0  # one group of all


# ---- fix: every checkpoint durable is the fixed policy ------------------------------------


def test_in_memory_with_every_checkpoint_durable_equals_fixed():
    # durable_every=1: no memory copy is ever made or paid for, so every failure loads
    # from storage, as `fixed` at the same interval and costs (same seed, same failures)
    same = ["checkpoint.interval_minutes=10", "checkpoint.write_minutes=5",
            "checkpoint.load_minutes=5", "replicates=2"]
    fixed = simulate(["checkpoint=fixed", *same], progress=False)
    memory = simulate(["checkpoint=in_memory", "checkpoint.durable_every=1", *same],
                      progress=False)
    assert fixed.failures.sum() > 10  # failures to recover from
    columns = list(SUMMARY_COLUMNS)
    pd.testing.assert_frame_equal(memory[columns], fixed[columns], check_exact=True)


def test_a_failure_right_after_a_durable_checkpoint_loads_from_storage():
    # copies at 10 and 20.5, the third checkpoint durable 31-36; a failure at 40 loses
    # 36-40 and loads the durable checkpoint (5 min, no memory copy was made of it)
    row = run(60, [TraceFailure(40 * MIN, node=0)])
    assert row["rework_h"] == pytest.approx(4)
    assert row["restart_h"] == pytest.approx(2 + 10 + 5)


# ---- the key ------------------------------------------------------------------------------


def test_memory_group_comes_from_the_option_and_must_be_positive():
    from simulator import ConfigError, load_scenario

    spec = load_scenario(["checkpoint=in_memory"]).checkpoint
    assert spec.memory_group == 2  # scenarios/checkpoint/in_memory.yaml: Gemini's m
    assert load_scenario(["checkpoint=in_memory",
                          "checkpoint.memory_group=4"]).checkpoint.memory_group == 4
    with pytest.raises(ConfigError) as info:
        load_scenario(["checkpoint=in_memory", "checkpoint.memory_group=0"])
    assert (info.value.key, info.value.value) == ("checkpoint.memory_group", 0)
    with pytest.raises(ConfigError) as info:  # another policy's key names its owner
        load_scenario(["checkpoint.memory_group=4"])
    assert info.value.key == "checkpoint.memory_group"
    assert "checkpoint=in_memory" in str(info.value)
