"""Trace replay and the event table: a run's own failures, replayed, give its ledger."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator import ConfigError, load_scenario, run_replicate

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
    # node 0 fails at 2 h and is out for 1 h; no spares: detect 5 min, wait to 3 h.
    path = write(tmp_path, "time_hours,kind,node,repair_hours\n2,node,0,1\n")
    row = run_replicate(load_scenario(["cluster.gpus=16", "cluster.spare_nodes=0",
                                       "horizon_days=1", "failures=trace",
                                       f"failures.trace_path={path}"]), 0).row
    assert row["wait_h"] == pytest.approx(1 - 5 / 60)


def test_cli_trace_error_is_one_line(tmp_path):
    path = write(tmp_path, "time_hours,kind,node\n1,node,x\n")
    proc = subprocess.run([sys.executable, "-m", "simulator", "failures=trace",
                           f"failures.trace_path={path}", "name=t"], cwd=tmp_path,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 2" in lines[0] and "node='x'" in lines[0], proc.stderr
