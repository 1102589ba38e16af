"""The storage model against hand derivations: input supply below demand, a prefetch
buffer with checkpoint writes sharing the storage, a restart's load; and every new key's
bad value named."""

from __future__ import annotations

import pytest

from simulator import load_scenario, simulate
from simulator.errors import ConfigError
from simulator.fabric.storage import input_share, restart_load_s, write_stretch
from simulator.units import DAY
from tests.clirun import describe, run_cli

#: 2 nodes of 8 GPUs, one-minute steps, nothing fails.
SMALL = ["cluster.gpus=16", "workload.step_seconds=60", "failures=none"]


def test_supply_below_demand_without_buffer_or_checkpoints_gives_supply_over_demand():
    """Demand: 10 GB a 10-s step = 1 GB/s. Supply: 2 nodes x 0.3 GB/s = 0.6 GB/s (the
    storage system's 7 TB/s is not the bound). No buffer, no checkpoint in the day: the
    GPUs run at 0.6 of their speed from the start, goodput = 0.6 exactly."""
    row = simulate(["cluster.gpus=16", "workload.step_seconds=10", "failures=none",
                    "horizon_days=1", "checkpoint.interval_minutes=10000",
                    "storage.node_gb_per_s=0.3", "storage.input.bytes_per_step=10e9"]).iloc[0]
    assert row["checkpoints"] == 0
    assert row["goodput"] == pytest.approx(0.6, abs=1e-12)
    assert row["input_stall_h"] == pytest.approx(0.4 * 24, abs=1e-9)


def test_a_buffer_and_checkpoint_writes_sharing_storage_stall_as_derived_by_hand():
    """Demand q = 60 GB per 60-s step = 1 GB/s. Storage reads 1 GB/s; the loaders take
    at most 2 nodes x 0.4 = 0.8 GB/s, a claim of 0.8 of the storage. During a write the
    input's share is min(0.8, 1/2) = 1/2: supply 0.5 GB/s, and the write gets the other
    half (s = 1/2), so the 5-min write takes 10 min. Buffer: 5 steps = 300 GB.

    Segment 1 starts with an empty buffer: 3600 s of work at 0.8 of full speed = 4500 s,
    900 s of stall. The write (4500-5100) refills the buffer at 0.5 GB/s x 600 s =
    300 GB: full. Every later segment: the buffer drains at q - 0.8 = 0.2 GB/s, lasting
    1500 s of full-speed work; the remaining 2100 s of work take 2100 / 0.8 = 2625 s
    (525 s stall); then the 600-s write refills it. Period 1500 + 2625 + 600 = 4725 s.

    Horizon 4500 + 600 + 2 x 4725 + 100 = 14650 s (the last 100 s from a full buffer):
    useful 3 x 3600 + 100, checkpoint 3 x 600, input stall 900 + 2 x 525."""
    horizon_s = 14650.0
    row = simulate([*SMALL, f"horizon_days={horizon_s / DAY!r}",
                    "checkpoint.interval_minutes=60", "checkpoint.write_minutes=5",
                    "storage.read_gb_per_s=1", "storage.node_gb_per_s=0.4",
                    "storage.input.bytes_per_step=60e9",
                    "storage.input.prefetch_steps=5"]).iloc[0]
    assert row["useful_h"] * 3600 == pytest.approx(3 * 3600 + 100, abs=1e-6)
    assert row["checkpoint_h"] * 3600 == pytest.approx(3 * 600, abs=1e-6)
    assert row["input_stall_h"] * 3600 == pytest.approx(900 + 2 * 525, abs=1e-6)
    assert row["checkpoints"] == 3


def test_the_sharing_rule():
    # the input claims 0.8 of the storage: alone it gets it, with one write 1/2 (the
    # write 1/2: twice as long), with two writes 1/3 (each write 1/3: 3x as long)
    assert input_share(0.8, 0) == 0.8
    assert input_share(0.8, 1) == 0.5 and write_stretch(0.8, 1) == 2.0
    assert input_share(0.8, 2) == pytest.approx(1 / 3)
    assert write_stretch(0.8, 2) == pytest.approx(3.0)
    # a small claim leaves the writes the rest: 0.1 of the system, each write 0.45
    assert write_stretch(0.1, 2) == pytest.approx(2 / 0.9)
    assert write_stretch(0.0, 2) == 2  # no input: today's processor sharing


def test_a_restart_load_by_hand():
    """Llama 3 70B: 70.6e9 parameters x 14 bytes = 988.4 GB, 1,024 GPUs of 965.234375 MB
    shards on 128 nodes. Clients at 10 GB/s: 1,280 GB/s < 7,000 GB/s aggregate, so
    988.4 / 1280 = 0.7721875 s, plus a 2-minute loader restore = 120.7721875 s. With the
    aggregate at 500 GB/s (< 128 x 50): 988.4 / 500 = 1.9768 s."""
    base = ["workload=llama3_70b", "checkpoint.load_minutes=null"]
    client_bound = load_scenario([*base, "storage.node_gb_per_s=10",
                                  "storage.loader_restore_minutes=2"]).checkpoint
    assert client_bound.load_s == pytest.approx(120.7721875, rel=1e-15)
    aggregate_bound = load_scenario([*base, "storage.read_gb_per_s=500"]).checkpoint
    assert aggregate_bound.load_s == pytest.approx(1.9768, rel=1e-15)
    shard = 70.6e9 * 14 / 1024
    assert restart_load_s(shard, 1024, 128, 7000, 10, 120) == pytest.approx(120.7721875)
    scenario = load_scenario([*base, "storage.node_gb_per_s=10",
                              "storage.loader_restore_minutes=2"])
    assert scenario.storage.load_s(988.4e9, 128) == client_bound.load_s


def test_presets_load_and_keys_override():
    lustre = load_scenario(["storage=lustre_orion"]).storage
    assert lustre.read_gb_per_s == 10000 and lustre.write_gb_per_s == 10000
    s3 = load_scenario(["storage=object_store", "storage.node_gb_per_s=4"]).storage
    assert s3.read_gb_per_s == float("inf") and s3.node_gb_per_s == 4
    # the default reproduces the checkpoint costs derived before the storage group
    llama = load_scenario(["workload=llama3_70b", "checkpoint.write_minutes=null"])
    assert llama.checkpoint.write_s == 988.4e9 / (2000 * 1e9)


@pytest.mark.parametrize(("overrides", "key", "words"), [
    (["storage.read_gb_per_s=0"], "storage.read_gb_per_s", "null (unlimited)"),
    (["storage.write_gb_per_s=-5"], "storage.write_gb_per_s", "positive"),
    (["storage.node_gb_per_s=nan"], "storage.node_gb_per_s", "finite"),
    (["storage.bytes_per_param=0"], "storage.bytes_per_param", "positive"),
    (["storage.loader_restore_minutes=-1"], "storage.loader_restore_minutes", "zero or"),
    (["storage.input.bytes_per_token=2"], "storage.input.bytes_per_token", "model"),
    (["storage.input.bytes_per_step=-1"], "storage.input.bytes_per_step", "zero or"),
    (["workload=llama3_70b", "storage.input.bytes_per_token=2",
      "storage.input.bytes_per_step=1"], "storage.input.bytes_per_step", "not both"),
    (["storage.input.node_gb_per_s=1"], "storage.input.node_gb_per_s", "input stream"),
    (["storage.input.bytes_per_step=1", "storage.input.node_gb_per_s=0"],
     "storage.input.node_gb_per_s", "positive"),
    (["storage.input.prefetch_steps=2"], "storage.input.prefetch_steps", "input stream"),
    (["storage.input.bytes_per_step=1", "storage.input.prefetch_steps=-2"],
     "storage.input.prefetch_steps", "zero or"),
    (["storage.input.bytes_per_step=1", "mode=steps"], "mode", "segments"),
    (["storage.outage_mtbf_hours=0"], "storage.outage_mtbf_hours", "positive"),
    (["storage.outage_mtbf_hours=100", "storage.outage_minutes=0"],
     "storage.outage_minutes", "positive"),
    (["storage.outage_mtbf_hours=100", "storage.outage_kind=weibull"],
     "storage.outage_kind", "exponential, fixed"),
    (["storage.outage_mtbf_hours=100", "storage.outage_write=drop"],
     "storage.outage_write", "retry, skip"),
    (["storage.outage_at_hours=[5,1]"], "storage.outage_at_hours", "must increase"),
    (["storage.outage_at_hours=[-1]"], "storage.outage_at_hours", "zero or"),
    (["storage.outage_at_hours=[5]", "storage.outage_mtbf_hours=9"],
     "storage.outage_at_hours", "replace random"),
    (["storage.outage_minutes=10"], "storage.outage_minutes", "without outages"),
    (["storage.outage_write=skip"], "storage.outage_write", "without outages"),
    (["storage.outage_mtbf_hours=100", "storage.outage_write=skip", "checkpoint=async"],
     "storage.outage_write", "retries"),
    (["storage.typo=1"], "storage.typo", "unknown key"),
    (["storage.read_gb_per_s=null", "storage.node_gb_per_s=null", "workload=llama3_70b",
      "checkpoint.load_minutes=null"], "checkpoint.load_minutes", "unlimited"),
])
def test_bad_storage_input_names_the_key(overrides, key, words):
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    assert info.value.key == key
    assert words in info.value.allowed


def test_a_bad_storage_key_is_one_line_and_exit_2(tmp_path):
    proc = run_cli(["horizon_days=0.5", "storage.input.prefetch_steps=4"], tmp_path)
    info = describe(proc)
    assert proc.returncode == 2, info
    assert "Traceback" not in proc.stderr + proc.stdout, info
    (line,) = proc.stderr.splitlines()
    assert "storage.input.prefetch_steps=4" in line and "input stream" in line
    proc = run_cli(["storage=nfs"], tmp_path)
    assert proc.returncode == 2 and "lustre_orion" in proc.stderr, describe(proc)
