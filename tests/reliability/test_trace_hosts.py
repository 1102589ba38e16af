"""Traces with ISO timestamps and host names, and `failures.resample`: a bootstrap of the
trace by host, so that replicates differ (simulator/reliability/trace.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from simulator import ConfigError, load_scenario, simulate
from simulator.errors import TrainsimWarning
from simulator.experiments.feasibility import scenario_warnings
from simulator.reliability.failures import TraceFailure
from simulator.reliability.trace import resample_by_host
from tests.clirun import describe, run_cli

START = "failures.trace_start=2025-01-01T00:00:00Z"
NAMED = """timestamp,host,component,scope,gpu
2025-01-01T06:00:00Z,gpu-b,psu,node,
2025-01-01T12:00:00+02:00,gpu-a,hbm,gpu,3
2025-01-02T00:00:00,,nccl,job,
2025-01-02T01:30:00Z,gpu-b,hbm,gpu,7
"""


def trace(tmp_path, text: str, *overrides: str):
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return load_scenario(["cluster.gpus=64", "failures=trace",
                          f"failures.trace_path={path}", *overrides])


def test_timestamps_become_hours_after_the_start_and_hosts_node_indices(tmp_path):
    """06:00Z is 6 h; 12:00+02:00 is 10:00Z, 10 h; a time without an offset is UTC (24 h);
    hosts take node indices in order of first appearance: gpu-b 0, gpu-a 1; a job row
    names no node."""
    failures = trace(tmp_path, NAMED, START).failures
    assert failures.trace == (TraceFailure(6 * 3600.0, 0, "node", 0, None, "psu"),
                              TraceFailure(10 * 3600.0, 1, "gpu", 3, None, "hbm"),
                              TraceFailure(24 * 3600.0, 0, "job", 0, None, "nccl"),
                              TraceFailure(25.5 * 3600.0, 0, "gpu", 7, None, "hbm"))
    assert failures.trace_hosts == ("gpu-b", "gpu-a")


def test_a_run_writes_the_host_map(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text(NAMED)
    proc = run_cli(["cluster.gpus=64", "failures=trace", f"failures.trace_path={path}",
                    START, "horizon_days=3", "name=named"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    hosts = pd.read_csv(tmp_path / "results" / "named" / "trace_hosts.csv")
    assert hosts.to_dict("list") == {"host": ["gpu-b", "gpu-a"], "node": [0, 1]}


@pytest.mark.parametrize(("text", "overrides", "key", "words"), [
    (NAMED, [], "failures.trace_start", "has timestamps: set the time of hour 0"),
    ("time_hours,kind,node\n1,node,0\n", [START], "failures.trace_start",
     "gives time_hours, not timestamps"),
    (NAMED, ["failures.trace_start=2025-01-01T08:00:00Z"], "failures.trace_path",
     "line 2: timestamp 2025-01-01T06:00:00Z is before failures.trace_start"),
    (NAMED, ["failures.trace_start=tomorrow"], "failures.trace_start", "ISO 8601"),
    ("timestamp,host,kind\n2025-01-01T06:00:00Z,a,node\nlater,a,node\n", [START],
     "failures.trace_path", "line 3: timestamp='later' is not an ISO 8601 time"),
    ("time_hours,host,node,kind\n1,a,0,node\n", [], "failures.trace_path",
     "line 1: the header has both node and host"),
    ("time_hours,host,kind\n" + "".join(f"{i},h{i},node\n" for i in range(10)), [],
     "failures.trace_path", "line 11: host 'h9' is host number 10 of the trace, beyond the "
     "cluster's 9 nodes"),
    ("time_hours,kind,node\n1,job,0\n", ["failures.resample=true"], "failures.resample",
     "no rows tied to a node"),
])
def test_bad_timestamps_hosts_and_keys_name_their_key_and_line(tmp_path, text, overrides,
                                                               key, words):
    with pytest.raises(ConfigError) as info:
        trace(tmp_path, text, *overrides)
    assert info.value.key == key
    assert words in str(info.value)


def test_resample_is_only_read_with_a_trace():
    with pytest.raises(ConfigError, match=r"failures\.resample=True: is only read with "
                       "failures=trace"):
        load_scenario(["failures.resample=true"])


def test_a_bootstrap_by_host_gives_each_node_a_whole_host_history():
    """Node i replays a drawn host's rows: the first copy of a host at its own times,
    each further copy rotated by one offset modulo the span (5 h, the last row): the
    same count and the same gaps around the circle. The job row stays."""
    rows = (TraceFailure(1.0, 0), TraceFailure(2.0, 0, "job"), TraceFailure(3.0, 2),
            TraceFailure(4.0, 0), TraceFailure(5.0, 1, "gpu", 4))
    histories = {0: [1.0, 4.0], 1: [5.0], 2: [3.0], 3: []}
    rotated = 0
    for seed in range(20):
        drawn = resample_by_host(rows, 4, np.random.default_rng(seed))
        assert drawn == resample_by_host(rows, 4, np.random.default_rng(seed))
        assert [f.time_s for f in drawn if f.kind == "job"] == [2.0]  # kept as is
        assert [f.time_s for f in drawn] == sorted(f.time_s for f in drawn)
        picks = np.random.default_rng(seed).integers(4, size=4).tolist()
        for node, source in enumerate(picks):
            mine = sorted(f.time_s for f in drawn if f.node == node and f.kind != "job")
            if source not in picks[:node]:
                assert mine == histories[source]
                continue
            assert len(mine) == len(histories[source])
            rotated += bool(mine) and mine != histories[source]
            if len(mine) == 2:  # 1 and 4 h: 3 h apart one way, 2 h the other (span 5)
                assert sorted([mine[1] - mine[0], 5 - (mine[1] - mine[0])]) == \
                    pytest.approx([2.0, 3.0])
    assert rotated > 0


#: 8 nodes (64 GPUs, no spares) over 10 days: per-host failure counts 0, 0, 1, 1, 2, 3,
#: 5 and 0 (a lemon: host 6), 12 in all, at least 5 h apart on a host
COUNTS = (0, 0, 1, 1, 2, 3, 5, 0)
SETUP = ["cluster.gpus=64", "cluster.spare_nodes=0", "restart.repair_hours=0.001",
         "horizon_days=10", "failures=trace"]


def per_host_trace(tmp_path):
    lines = ["time_hours,kind,host"]
    for host, count in enumerate(COUNTS):
        lines += [f"{10.0 + 40 * k + host:.1f},node,host-{host}" for k in range(count)]
    rows = sorted(lines[1:], key=lambda line: float(line.split(",")[0]))
    path = tmp_path / "trace.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    return path


def test_a_resampled_traces_replicate_mean_agrees_with_the_traces_own_rate(tmp_path):
    """Every node serves the whole horizon (no spares, a 3.6 s repair), so the trace
    itself replays all 12 failures in every replicate. Resampled by host, the count of a
    replicate is the sum of 8 host counts drawn with replacement: mean 8 x 12/8 = 12,
    variance 8 x the population variance of COUNTS (by hand: mean 1.5, squares 40/8 =
    5, variance 2.75; 22 per replicate), so the mean of 60 replicates is 12 within 4
    standard errors of sqrt(22 / 60)."""
    path = per_host_trace(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainsimWarning)
        fixed = simulate([*SETUP, f"failures.trace_path={path}", "replicates=3"])
        drawn = simulate([*SETUP, f"failures.trace_path={path}", "failures.resample=true",
                          "replicates=60"])
    assert fixed["node_failures"].tolist() == [12, 12, 12]
    variance = len(COUNTS) * float(np.var(COUNTS))
    assert variance == pytest.approx(22.0)
    se = math.sqrt(variance / len(drawn))
    assert abs(drawn["node_failures"].mean() - 12) <= 4 * se, drawn["node_failures"].mean()
    assert drawn["node_failures"].std() > 0  # replicates differ: the CI means something
    # the spread is the bootstrap's, not a different one (sample variance of 60 draws:
    # within 50% of 22 by a wide margin)
    assert drawn["node_failures"].std() ** 2 == pytest.approx(variance, rel=0.5)


def test_without_resampling_the_identical_replicates_warning_fires_and_with_it_not(tmp_path):
    path = per_host_trace(tmp_path)
    fixed = load_scenario([*SETUP, f"failures.trace_path={path}", "replicates=3"])
    found = [w for w in scenario_warnings(fixed) if "are identical" in w]
    assert len(found) == 1 and "failures.resample=true" in found[0]
    drawn = load_scenario([*SETUP, f"failures.trace_path={path}", "replicates=3",
                           "failures.resample=true"])
    assert not [w for w in scenario_warnings(drawn) if "are identical" in w]
