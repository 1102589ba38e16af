"""Trace replay and the event table: a run's own failures, replayed, give its ledger."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator import ConfigError, load_scenario, run_replicate
from simulator.errors import TrainsimWarning

COMMON = ["cluster.gpus=64", "cluster.spare_nodes=1", "horizon_days=20",
          "restart.repair_hours=30", "failures.planned_per_day=0.5"]
CATALOG = ["failures=exponential", "failures.node_mtbf_hours=400",
           "failures.gpu_mtbf_hours=3000",
           "+failures.components.tor={scope: switch, mtbf_hours: 800}",
           "+failures.components.bug={scope: job, mtbf_hours: 4000}"]
LEDGER = ("horizon_h", "useful_h", "checkpoint_h", "rework_h", "restart_h", "wait_h",
          "failures", "gpu_failures", "node_failures", "switch_failures", "job_failures",
          "planned", "checkpoints", "lost_checkpoints")


def test_replaying_a_runs_events_reproduces_its_ledger(tmp_path):
    # Sampled failures of every scope, spares short enough that the job waits: the
    # exported failures, replayed at the same times on the same nodes, must give the
    # same timeline (the planned-maintenance stream is the same seed's in both).
    sampled = run_replicate(load_scenario([*COMMON, *CATALOG, "seed=5"]), 0)
    assert {"gpu", "node", "switch", "job"} <= set(sampled.failure_log.scope)
    assert sampled.row["wait_h"] > 0
    path = tmp_path / "events.csv"
    sampled.events(0).to_csv(path, index=False)
    replay = run_replicate(load_scenario([*COMMON, "failures=trace", "seed=5",
                                          f"failures.trace_path={path}"]), 0)
    for column in LEDGER:
        assert replay.row[column] == pytest.approx(sampled.row[column], abs=1e-9), column


def write(tmp_path, text: str):
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("body", "words"), [
    ("time_hours,kind,node\n1,node,0\nabc,node,1\n", ["line 3", "time_hours", "not a number"]),
    ("time_hours,kind,node\n1,pdu,0\n", ["line 2", "kind='pdu'",
                                           "gpu, node, switch, rack, scaleup, job, link"]),
    ("time_hours,kind,node\n1,node,99\n", ["line 2", "node=99", "0..8"]),
    ("time_hours,kind,node,gpu\n1,gpu,0,9\n", ["line 2", "gpu=9", "0..7"]),
    ("time_hours,kind,node\n-1,node,0\n", ["line 2", "time_hours=-1"]),
    ("time_hours,node\n1,0\n", ["line 1", "kind"]),
])
def test_bad_rows_are_reported_with_their_line(tmp_path, body, words):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_scenario(["cluster.gpus=64", "cluster.spare_nodes=1", "failures=trace",
                       f"failures.trace_path={path}"])
    assert info.value.key == "failures.trace_path"
    for word in words:
        assert word in str(info.value), str(info.value)


def test_a_trace_failure_with_its_own_repair_time(tmp_path):
    # node 0 fails at 2 h and is repaired for 1 h from its detection 5 min later; no
    # spares: detect 2:00-2:05, wait to 3:05.
    path = write(tmp_path, "time_hours,kind,node,repair_hours\n2,node,0,1\n")
    row = run_replicate(load_scenario(["cluster.gpus=16", "cluster.spare_nodes=0",
                                       "horizon_days=1", "failures=trace",
                                       f"failures.trace_path={path}"]), 0).row
    assert row["wait_h"] == pytest.approx(1)


def test_cli_trace_error_is_one_line(tmp_path):
    path = write(tmp_path, "time_hours,kind,node\n1,node,x\n")
    proc = subprocess.run([sys.executable, "-m", "simulator", "failures=trace",
                           f"failures.trace_path={path}", "name=t"], cwd=tmp_path,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 2" in lines[0] and "node='x'" in lines[0], proc.stderr


# ---- malformed files, order, repeats, replicates (issue #12) --------------------------------

SMALL = ["cluster.gpus=64", "cluster.spare_nodes=1", "failures=trace"]


def load_trace(path, *extra):
    return load_scenario([*SMALL, f"failures.trace_path={path}", *extra])


@pytest.mark.parametrize(("data", "words"), [
    (b"time_hours,kind,node\n1,node,0\n2,node,\xff\n", ["line 3", "not UTF-8", "0xff"]),
    (b"time_hours,kind,node\n1,node,0," + b"9" * 200_000 + b"\n",
     ["line 2", "200,009 characters", "at most 131,072"]),  # 9 + 200,000
    (b"time_hours,kind,node\n1,node,0,7\n", ["line 2", "more fields than the header's 3"]),
    (b"time_hours,kind,node\n1,node,\"0\x00\"\n", ["line 2", "node='0\\x00' is not a number"]),
    (b"time_hours,kind,node\n1,node,\"0\n", ["line 2", "not a CSV row"]),
    (b"time_hours,kind,node\n1,node,0\n1,node,0\n3,gpu,1\n",
     ["line 3 repeats line 2", "same time_hours, kind, node and gpu"]),
], ids=["latin-1", "long-field", "extra-field", "nul", "open-quote", "repeat"])
def test_malformed_files_are_reported_with_their_line(tmp_path, data, words):
    path = tmp_path / "trace.csv"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_trace(path)
    assert info.value.key == "failures.trace_path"
    for word in words:
        assert word in str(info.value), str(info.value)


def test_a_utf8_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_bytes(b"\xef\xbb\xbftime_hours,kind,node\n1,node,0\n")
    assert len(load_trace(path).failures.trace) == 1


def test_a_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    from simulator.reliability import trace
    monkeypatch.setattr(trace, "MAX_BYTES", 30)
    path = write(tmp_path, "time_hours,kind,node\n1,node,0\n2,node,1\n")  # 21 + 9 + 9 bytes
    with pytest.raises(ConfigError, match="is 39 bytes; a trace is at most 30"):
        load_trace(path)


def test_unsorted_rows_replay_sorted_with_a_warning(tmp_path):
    # The same failures in file order and in time order: one warning naming the first
    # row out of order, then the very same run.
    ordered = write(tmp_path, "time_hours,kind,node\n2,node,0\n5,node,1\n9,gpu,2\n")
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("time_hours,kind,node\n5,node,1\n9,gpu,2\n2,node,0\n")
    with pytest.warns(TrainsimWarning, match=r"1 row\(s\) out of time order \(first: line 4\)"):
        replay = run_replicate(load_trace(shuffled, "horizon_days=1"), 0).row
    expected = run_replicate(load_trace(ordered, "horizon_days=1"), 0).row
    for column in LEDGER:
        assert replay[column] == expected[column], column
    assert replay["failures"] == 3


def test_a_header_only_trace_runs_with_a_warning(tmp_path):
    from simulator.experiments.feasibility import scenario_warnings

    path = write(tmp_path, "time_hours,kind,node\n")
    scenario = load_trace(path, "horizon_days=1")  # a quiet log is legal...
    assert run_replicate(scenario, 0).row["failures"] == 0
    # ... and the run says it has no failures at all (simulate() and the CLI warn with it)
    assert any("the trace has no rows" in w for w in scenario_warnings(scenario))


def test_rows_beyond_the_horizon_are_counted_in_a_warning(tmp_path):
    # horizon 1 day = 24 h: the rows at 24 h and 30 h never replay, the one at 2 h does
    path = write(tmp_path, "time_hours,kind,node\n2,node,0\n24,node,1\n30,node,2\n")
    with pytest.warns(TrainsimWarning, match=r"2 of 3 trace row\(s\) at or after the run's "
                                             r"end \(horizon_days: 24 h\)"):
        scenario = load_trace(path, "horizon_days=1")
    assert run_replicate(scenario, 0).row["failures"] == 1


@pytest.mark.parametrize(("body", "extra", "key", "words"), [
    ("time_hours,kind,node\n2,node,0\n", ["failures.trace_replicate=-1"],
     "failures.trace_replicate", "zero or a positive integer"),
    ("time_hours,kind,node\n2,node,0\n", ["failures.trace_replicate=2"],
     "failures.trace_replicate", "no replicate column"),
    ("time_hours,kind,node,replicate\n2,node,0,0\n3,node,1,1\n",
     ["failures.trace_replicate=2"], "failures.trace_replicate", "it has 0, 1"),
    ("time_hours,kind,node\n2,node,0\n", ["failures.lemon_fraction=0.5"],
     "failures.lemon_fraction", "no effect with failures=trace"),
    ("time_hours,kind,node\n2,node,0\n", ["failures.lemon_retire_after=2"],
     "failures.lemon_retire_after", "no effect with failures=trace"),
    ("time_hours,kind,node\n2,node,0\n", ["failures.straggler_mtbf_hours=100"],
     "failures.straggler_mtbf_hours", "no effect with failures=trace"),
    ("time_hours,kind,node\n2,node,0\n", ["failures.infant_factor=3"],
     "failures.infant_factor", "no effect with failures=trace"),
    ("time_hours,kind,node\n2,node,0\n", ["failures.node_mtbf_hours=100"],
     "failures.node_mtbf_hours", "no effect with failures=trace"),
])
def test_trace_keys_are_checked(tmp_path, body, extra, key, words):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_trace(path, *extra)
    assert info.value.key == key and words in info.value.allowed, str(info.value)


def test_the_trace_replicate_chooses_its_rows(tmp_path):
    path = write(tmp_path, "time_hours,kind,node,replicate\n2,node,0,0\n3,node,1,1\n"
                 "4,node,2,1\n")
    assert len(load_trace(path, "failures.trace_replicate=1").failures.trace) == 2


def test_a_switch_row_on_a_torus_names_the_trace(tmp_path):
    # TPU v5p chips forward over ICI: the torus has no switch to take nodes down
    path = write(tmp_path, "time_hours,kind,node\n2,switch,0\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(["cluster=tpu_v5p_8k", "cluster.gpus=64", "cluster.spare_nodes=0",
                       "failures=trace", f"failures.trace_path={path}"])
    assert info.value.key == "failures.trace_path"
    assert "behind no switch" in str(info.value) and "time_hours=2" in str(info.value)
