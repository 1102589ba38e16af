"""Feasibility warnings and the spare pool as a share of the job's nodes.

Every expected number is computed here by hand from the scenario's inputs (RSC-1's
per-node MTBF of 3,692.3 h, the default 5 + 10 + 5 min recovery, 24-h repairs), not
read from the simulator.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
import pytest

from simulator import ConfigError, TrainsimWarning, load_scenario, simulate
from simulator.experiments.feasibility import (
    check_goodput,
    nodes_in_repair,
    result_warnings,
    scenario_warnings,
    short_share,
    spares_needed,
    surely_below,
)
from tests.clirun import describe, run_cli

NODE_MTBF_H = 3692.3  # scenarios/failures/exponential.yaml (RSC-1)
RECOVERY_MIN = 5 + 10 + 5  # detect + restart + load, scenarios/restart/spare_swap.yaml
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def warnings_of(overrides: list[str]) -> list[str]:
    return scenario_warnings(load_scenario(overrides))


def poisson_tail(mean: float, k: int) -> float:
    """P(N > k) for N ~ Poisson(mean), summed term by term."""
    term, cdf = math.exp(-mean), 0.0
    for i in range(k + 1):
        cdf += term
        term *= mean / (i + 1)
    return 1.0 - cdf


# ---- silent where nothing is wrong -------------------------------------------------------


def test_default_scenario_is_silent_from_python():
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainsimWarning)
        frame = simulate([])
    assert frame.goodput.mean() > 0.2  # the run was checked after, too


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (SCENARIOS / group).glob("*.yaml"))


PRESETS = [
    *[[f"cluster={o}"] for o in options("cluster")],
    *[[f"checkpoint={o}"] for o in options("checkpoint")],
    *[[f"restart={o}", *(["restart.replica_gpus=64"] if o == "per_replica" else [])]
      for o in options("restart")],  # per_replica on a fixed step needs the replica size
    *[[f"failures={o}"] for o in options("failures") if o != "trace"],  # trace: needs a file
    *[[f"workload={o}"] for o in options("workload")],  # each picks its cluster and fabric
    *[[f"+experiment={o}"] for o in options("experiment")],
]
#: Presets on which a warning legitimately fires at their own size, and why.
EXPECTED = {
    # 8 spares for 1,008 trays failing at RSC-1's per-node rate: 1,008 x 24 / 3,692.3 =
    # 6.55 nodes in repair on average, P(N > 8) = 21%; the run agrees (4 replicates: wait_h
    # 166 of 720 h, goodput 0.55). The preset's own count stays (issue #10).
    "cluster=gb200_nvl72_4k": "spare pool expected to run dry",
    # the default failures (exponential GPU and host lifetimes) name no cause that
    # recovers in process: the preset is meant for a catalog such as failures=llama3
    "restart=in_process": "restart.in_process_seconds=90 has no effect",
}


@pytest.mark.parametrize("overrides", PRESETS, ids=lambda o: o[0])
def test_shipped_presets_are_silent_at_their_own_size(overrides):
    found = warnings_of(overrides)
    expected = EXPECTED.get(overrides[0])
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(expected), found


# ---- job MTBI shorter than its recovery ---------------------------------------------------


def test_mtbi_shorter_than_recovery_names_the_numbers():
    # 220,000 GPUs = 27,500 nodes: MTBI = 3,692.3 h / 27,500 = 8.06 min < 20 min;
    # a recovery survives the next failure with probability e^(-20 / 8.06) = 8.4%;
    # MTBI reaches 20 min at 220,000 x 8.06 / 20 = 88,600 GPUs.
    mtbi_min = NODE_MTBF_H * 60 / 27_500
    found = warnings_of(["cluster.gpus=220000"])
    assert len(found) == 1, found
    text = found[0]
    assert text.startswith(f"job MTBI {mtbi_min:.1f} min (220,000 GPUs)")
    assert f"recovery {RECOVERY_MIN:.1f} min" in text
    assert f"{math.exp(-RECOVERY_MIN / mtbi_min):.0%}" == "8%"
    assert "only 8% of recoveries" in text
    assert "~88,000 GPUs" in text
    for key in ("cluster.gpus", "restart.detect_minutes", "checkpoint.load_minutes"):
        assert key in text


def test_mtbi_boundary():
    # MTBI = 20 min at 3,692.3 x 3 = 11,076.9 nodes: 11,076 nodes (88,608 GPUs) is just
    # above, 11,077 (88,616 GPUs) just below.
    assert NODE_MTBF_H * 60 / 11_076 > RECOVERY_MIN > NODE_MTBF_H * 60 / 11_077
    assert not any("MTBI" in m for m in warnings_of(["cluster.gpus=88608"]))
    assert any("MTBI" in m for m in warnings_of(["cluster.gpus=88616"]))


def test_colossus_young_daly_is_explained():
    # The bench's colossus case with checkpoint=young_daly (goodput 0.009). Llama 3's
    # catalog: 419 interruptions in 1,296 h on 16,384 GPUs; at 220,000 GPUs (switch
    # failures per 2-node ToR scale with nodes, like the rest) MTBI = 1,296 h x 16,384 /
    # (419 x 220,000) = 13.8 min. Hot spares' recovery: detect 5 min + 6 s x 220 = 27 min,
    # restart 10 min + 2 s x 220 = 17.3 min, load 5 min: 49.3 min.
    overrides = ["cluster=llama3_16k", "cluster.gpus=220000", "cluster.spare_nodes=860",
                 "horizon_days=90", "failures=llama3", "topology=llama3_roce",
                 "restart=hot_spares", "checkpoint=young_daly"]
    mtbi_min = 1296 * 60 * 16_384 / (419 * 220_000)
    found = warnings_of(overrides)
    assert len(found) == 1 and found[0].startswith(f"job MTBI {mtbi_min:.1f} min"), found
    assert "recovery 49.3 min (detect 27.0 min + restart 17.3 min + load 5.0 min)" in found[0]


# ---- the spare pool -----------------------------------------------------------------------


def test_spare_pool_running_dry_names_the_numbers():
    # 512 nodes x (5 min detection + 24 h repair) / 3,692.3 h = 3.34 nodes in repair on
    # average (Little's law); Poisson: P(N > 4) = 24%; P(N > 7) > 1% >= P(N > 8): 8
    # spares keep it under 1%.
    mean = 512 * (5 / 60 + 24) / NODE_MTBF_H
    share = poisson_tail(mean, 4)
    assert 0.24 < share < 0.25
    need = next(k for k in range(100) if poisson_tail(mean, k) <= 0.01)
    found = warnings_of(["cluster.gpus=4096", "cluster.spare_nodes=4"])
    assert len(found) == 1, found
    text = found[0]
    assert text.startswith("spare pool expected to run dry: 512 job nodes")
    assert f"{mean:.3g} are in repair on average against 4 spares by cluster.spare_nodes" in text
    assert f"waits ~{share:.0%} of the time" in text
    assert f"cluster.spare_nodes={need}" in text and need == 8
    assert f"cluster.spare_fraction={math.ceil(need / 512 * 1e4) / 1e4:g}" in text


@pytest.mark.parametrize(("overrides", "nodes", "spares"), [
    (["cluster.gpus=4096", "cluster.spare_nodes=4"], 512, 4),  # 24%
    (["cluster.gpus=4096", "cluster.spare_nodes=6"], 512, 6),  # 5%, the threshold
    (["cluster=gb200_nvl72_4k"], 1008, 8),  # 21%
])
def test_predicted_short_share_matches_the_simulated_wait(overrides, nodes, spares):
    # The warning's share (Poisson tail of nodes x 24 h / MTBF) against the share of
    # the wall clock the simulated job waits for repaired nodes: 4 x 180 days.
    predicted = poisson_tail(nodes * 24 / NODE_MTBF_H, spares)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainsimWarning)
        frame = simulate([*overrides, "horizon_days=180", "replicates=4"])
    waited = (frame.wait_h / frame.horizon_h).mean()
    assert waited == pytest.approx(predicted, abs=0.03)


def test_spare_pool_tail_against_hand_sum():
    for mean, spares in ((0.832, 4), (3.328, 4), (6.55, 8), (178.75, 150)):
        assert short_share(mean, spares) == pytest.approx(poisson_tail(mean, spares), abs=1e-9)
        need = spares_needed(mean)
        assert poisson_tail(mean, need) <= 0.01 < poisson_tail(mean, need - 1)


def test_the_chernoff_shortcut_only_answers_what_the_tail_says():
    """Where `surely_below` answers, the Poisson tail (by hand and scipy's) is at most
    half the threshold; it answers for the default pool (0.83 in repair, 4 spares:
    P(N > 4) = 0.17%, bound 0.84%) and declines near the threshold and below the mean."""
    answered = 0
    for mean in (1e-6, 0.05, 0.3, 0.8349, 1.0, 2.5, 4.2, 7.0, 13.36, 30.0, 64.0, 179.4):
        for spares in (-1, 0, 1, 2, 3, 4, 5, 8, 13, 21, 34, 64, 150, 300, 860):
            if surely_below(mean, spares, 0.05):
                answered += 1
                assert short_share(mean, spares) <= 0.025
                assert poisson_tail(mean, spares) <= 0.025 + 1e-12
    assert answered > 50
    assert surely_below(0.8349, 4, 0.05) and surely_below(0.0, 0, 0.05)
    assert not surely_below(3.328, 4, 0.05)  # P(N > 4) = 24%: the warning's case
    assert not surely_below(0.8349, 2, 0.05)  # 5.0%: the bound cannot tell
    assert not surely_below(10.0, 9, 0.05) and not surely_below(1.0, -1, 0.05)


def test_spare_pool_silent_when_scaled_elastic_or_short_repairs():
    # spare_fraction: 16 spares for 512 nodes, P(N > 16) ~ 1e-6
    assert warnings_of(["cluster.gpus=4096"]) == []
    # elastic: the job restarts on the nodes left instead of waiting
    assert warnings_of(["cluster.gpus=4096", "cluster.spare_nodes=4", "restart=elastic"]) == []
    # 6-h repairs: 0.83 in repair, P(N > 4) = 0.2%
    assert warnings_of(["cluster.gpus=4096", "cluster.spare_nodes=4",
                        "restart.repair_hours=6"]) == []


def test_nodes_in_repair_by_hand():
    # hot_spares: each repair lasts (4 + 0.2 x 72) / (1 - 0.1) = 20.44 h on average and
    # starts once the failure is detected: 5 min + 6 s per 1,000 GPUs = 324.576 s
    s = load_scenario(["cluster.gpus=4096", "restart=hot_spares"])
    rate, mean = nodes_in_repair(s)
    assert rate * 3600 == pytest.approx(512 / NODE_MTBF_H, rel=1e-12)
    out_h = 324.576 / 3600 + (4 + 0.2 * 72) / 0.9
    assert mean == pytest.approx(512 / NODE_MTBF_H * out_h, rel=1e-12)
    # stragglers are swapped out to repair too: 1,024 GPUs / 10,000 h more
    s = load_scenario(["failures.straggler_mtbf_hours=10000"])
    rate, _ = nodes_in_repair(s)
    assert rate * 3600 == pytest.approx(128 / NODE_MTBF_H + 1024 / 10_000, rel=1e-12)


def test_nodes_in_repair_llama3_catalog():
    # Table 5 of Llama 3: 268 GPU-scope and 53 node-scope interruptions take one node
    # each, 35 ToR switch failures take 2 nodes each (llama3_roce: 2 per ToR), in 1,296 h
    # on the full job; job-scope faults (software, NCCL) take none: 391 nodes / 1,296 h.
    s = load_scenario(["+experiment=llama3_54d"])
    rate, mean = nodes_in_repair(s)
    assert rate * 3600 == pytest.approx(391 / 1296, rel=1e-4)
    assert mean == pytest.approx(391 / 1296 * (24 + s.restart.detect_s / 3600), rel=1e-4)


# ---- checkpoint interval shorter than its write ------------------------------------------


def test_interval_shorter_than_write():
    # 2-min interval, 5-min write: goodput at most 2 / 7 = 0.29 without failures
    found = warnings_of(["checkpoint.interval_minutes=2"])
    assert len(found) == 1 and found[0].startswith(
        "checkpoint interval 2.0 min is shorter than the 5.0 min write"), found
    assert "at most 0.29" in found[0] and "checkpoint.interval_minutes" in found[0]
    # equal is not shorter: 30 steps of 10 s = 300 s
    assert warnings_of(["checkpoint.interval_minutes=5"]) == []


def test_young_daly_interval_shorter_than_write():
    # node MTBF 4 h on 128 nodes: MTBI 1.875 min; Young: sqrt(2 x 5 x 1.875) = 4.33 min,
    # 26 steps of 10 s = 4.33 min < 5 min
    found = warnings_of(["checkpoint=young_daly", "failures.node_mtbf_hours=4"])
    interval = [m for m in found if m.startswith("checkpoint interval")]
    assert len(interval) == 1, found
    assert interval[0].startswith("checkpoint interval 4.3 min")
    assert "checkpoint=young_daly chose it from the job MTBI 1.9 min" in interval[0]


def test_async_writes_pile_up():
    # a 5-min write every 3 + 0.1 min: the writes cannot keep up
    found = warnings_of(["checkpoint=async", "checkpoint.interval_minutes=3"])
    assert len(found) == 1 and "take 5.0 min but one starts every 3.1 min" in found[0]
    assert warnings_of(["checkpoint=async", "checkpoint.interval_minutes=5"]) == []


def test_in_memory_mean_blocking_write():
    # 11 copies of 0.2 min and one 5-min write per 12 checkpoints: 0.6 min on average
    base = ["checkpoint=in_memory", "workload.step_seconds=1"]
    found = warnings_of([*base, "checkpoint.interval_minutes=0.5"])
    assert len(found) == 1 and "mean blocking write 0.6 min" in found[0], found
    assert warnings_of([*base, "checkpoint.interval_minutes=0.7"]) == []


# ---- identical replicates ----------------------------------------------------------------


def test_replicates_without_randomness():
    found = warnings_of(["failures=none", "replicates=3"])
    assert len(found) == 1 and found[0].startswith("replicates=3 are identical"), found
    assert "replicates=1" in found[0]
    assert warnings_of(["failures=none", "replicates=1"]) == []
    for source in (["failures.planned_per_day=1"],
                   ["workload.jitter_cv=0.05", "mode=steps", "cluster.gpus=64"],
                   ["failures.straggler_mtbf_hours=100000"]):
        assert warnings_of(["failures=none", "replicates=3", *source]) == [], source
    # jitter in segment mode only lengthens the mean step: still no randomness
    assert len(warnings_of(["failures=none", "replicates=3", "workload.jitter_cv=0.05"])) == 1


def test_replicates_of_a_trace_are_identical_and_warned(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("time_hours,kind,node\n10,node,3\n30,node,5\n")
    base = ["failures=trace", f"failures.trace_path={path}", "horizon_days=3", "replicates=3"]
    found = warnings_of(base)
    assert len(found) == 1 and "failures=trace replays the same failures" in found[0]
    with pytest.warns(TrainsimWarning, match="replicates=3 are identical"):
        frame = simulate(base)
    assert frame.goodput.nunique() == 1  # the premise of the warning
    # a random repair pipeline makes them differ: no warning
    assert warnings_of([*base, "restart=hot_spares"]) == []


# ---- goodput ------------------------------------------------------------------------------


def test_goodput_below_floor_from_python():
    # No failures, 1-min interval, 5-min write: 480 cycles of 6 min in 2 days, goodput
    # 1/6; checkpoint_h = 480 x 5 min = 40 h of 48 (83%).
    with pytest.warns(TrainsimWarning) as caught:
        frame = simulate(["failures=none", "checkpoint.interval_minutes=1", "horizon_days=2"])
    assert frame.goodput.iloc[0] == pytest.approx(1 / 6, rel=1e-9)
    texts = [str(w.message) for w in caught]
    assert len(texts) == 2 and texts[0].startswith("checkpoint interval 1.0 min")
    assert texts[1] == ("goodput 0.1667 (mean of 1 replicate(s)) is below 0.2: the job trains "
                        "less than a fifth of its 48.0 h; the largest loss is checkpoint_h 40.0 h "
                        "(83%): a longer checkpoint.interval_minutes or checkpoint=async")
    assert all(w.filename == __file__ for w in caught)  # they point at the caller


def test_goodput_floor_uses_the_mean_of_replicates():
    rows = pd.DataFrame({"goodput": [0.1, 0.35], "horizon_h": [100.0, 100.0],
                         "useful_h": [10.0, 35.0], "checkpoint_h": [1.0, 1.0],
                         "rework_h": [1.0, 1.0], "restart_h": [80.0, 55.0],
                         "wait_h": [8.0, 8.0], "degraded_h": [0.0, 0.0]})
    assert check_goodput(rows) is None  # mean 0.225
    rows.loc[1, "goodput"] = 0.25  # mean 0.175; restart_h 67.5 h of 100 h
    assert check_goodput(rows).startswith("goodput 0.1750 (mean of 2 replicate(s))")
    assert "restart_h 67.5 h (68%)" in check_goodput(rows)
    assert result_warnings(rows.iloc[:0]) == []


def test_warnings_can_be_filtered():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", TrainsimWarning)
        simulate(["failures=none", "replicates=2", "horizon_days=1"])
    assert caught == []


# ---- the command line ---------------------------------------------------------------------


def test_cli_default_prints_no_warning(tmp_path):
    proc = run_cli(["name=quiet"], tmp_path, CI="true")
    assert proc.returncode == 0, describe(proc)
    assert proc.stderr == "", describe(proc)
    assert "(128 nodes + 4 spares by cluster.spare_fraction=0.03125)" in proc.stdout


def test_cli_prints_one_line_per_warning_and_runs(tmp_path):
    proc = run_cli(["name=warned", "failures=none", "checkpoint.interval_minutes=1",
                    "horizon_days=1", "replicates=2"], tmp_path, CI="true")
    assert proc.returncode == 0, describe(proc)
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, describe(proc)
    assert all(line.startswith("trainsim: warning: ") for line in lines), describe(proc)
    assert "Traceback" not in proc.stderr
    assert [line.split(": ")[2].split(" ")[0] for line in lines] == [
        "checkpoint", "replicates=2", "goodput"]
    assert (tmp_path / "results" / "warned" / "summary.csv").is_file()  # it still ran


def test_cli_multirun_warns_once_per_job(tmp_path):
    # jobs (interval, seed): #0 (1, 0) and #1 (1, 1) warn of the interval and of goodput
    # 1/6, with the same words (each job again, in one process); #2 (2, 0) and #3 (2, 1)
    # of the interval only (goodput 2/7 = 0.29)
    proc = run_cli(["-m", "name=sweep", "failures=none", "horizon_days=1",
                    "checkpoint.interval_minutes=1,2", "seed=0,1"], tmp_path, CI="true")
    assert proc.returncode == 0, describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("trainsim: warning")]
    jobs = [line.split(": ")[2] for line in lines]
    assert jobs == ["job #0", "job #0", "job #1", "job #1", "job #2", "job #3"], describe(proc)
    assert [line.split(": ")[3].split(" ")[0] for line in lines] == [
        "checkpoint", "goodput", "checkpoint", "goodput", "checkpoint", "checkpoint"]
    assert lines[0].split(": ", 3)[3] == lines[2].split(": ", 3)[3]


# ---- spare_fraction -----------------------------------------------------------------------


@pytest.mark.parametrize(("preset", "nodes", "spares"), [
    ("dgx_h100_1k", 128, 4), ("llama3_16k", 2048, 64), ("megascale_12k", 1536, 48),
    ("gb200_nvl72_4k", 1008, 8)])
def test_presets_keep_their_spare_counts(preset, nodes, spares):
    c = load_scenario([f"cluster={preset}"]).cluster
    assert (c.nodes, c.spare_nodes) == (nodes, spares)
    assert c.spare_fraction is not None


@pytest.mark.parametrize(("gpus", "spares"), [
    (4096, 16),      # 512 x 1/32
    (220_000, 860),  # ceil(27,500 / 32 = 859.4): the bench's colossus pool
    (8, 1),          # ceil(1 / 32)
    (1032, 5),       # ceil(129 / 32 = 4.03)
])
def test_spare_fraction_scales_with_gpus(gpus, spares):
    c = load_scenario([f"cluster.gpus={gpus}"]).cluster
    assert c.spare_nodes == spares
    assert c.spares_note() == f"{spares:,} spares by cluster.spare_fraction=0.03125"


def test_explicit_spare_nodes_wins():
    c = load_scenario(["cluster.gpus=4096", "cluster.spare_nodes=4"]).cluster
    assert (c.spare_nodes, c.spare_fraction) == (4, None)
    assert c.spares_note() == "4 spares by cluster.spare_nodes"
    c = load_scenario(["cluster=llama3_16k", "cluster.spare_nodes=0"]).cluster
    assert c.spare_nodes == 0
    c = load_scenario(["cluster.spare_fraction=0.25"]).cluster
    assert c.spare_nodes == 32


@pytest.mark.parametrize(("overrides", "key"), [
    (["cluster.spare_fraction=null"], "cluster.spare_nodes"),
    (["cluster.spare_fraction=1.5"], "cluster.spare_fraction"),
    (["cluster.spare_fraction=-0.1"], "cluster.spare_fraction"),
    (["cluster.spare_nodes=-1"], "cluster.spare_nodes"),
])
def test_bad_spares_are_config_errors(overrides, key):
    with pytest.raises(ConfigError) as error:
        load_scenario(overrides)
    assert error.value.key == key


# ---- issue #12: legal settings that cannot give an answer --------------------------------


def test_interval_of_one_minute_with_an_hour_write_warns_its_goodput():
    # 1-min interval, 60-min write, no failures: each cycle computes 1 min of 61, so the
    # goodput is at most 1 / 61 = 0.016 (what the issue measured)
    found = warnings_of(["checkpoint.interval_minutes=1", "checkpoint.write_minutes=60"])
    assert len(found) == 1, found
    assert found[0].startswith("checkpoint interval 1.0 min is shorter than the 60.0 min write")
    assert "goodput at most 0.016 even without failures" in found[0]
    assert "checkpoint.interval_minutes" in found[0]


def test_async_snapshot_longer_than_its_write():
    found = warnings_of(["checkpoint=async", "checkpoint.snapshot_minutes=10",
                         "checkpoint.write_minutes=1"])
    assert len(found) == 1, found
    assert found[0].startswith("checkpoint=async blocks the job 10.0 min for each snapshot "
                               "(checkpoint.snapshot_minutes), longer than the 1.0 min write")
    assert "checkpoint=fixed" in found[0]
    # a snapshot as long as the write is not longer: silent
    assert warnings_of(["checkpoint=async", "checkpoint.snapshot_minutes=1",
                        "checkpoint.write_minutes=1"]) == []


def _trace(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return ["failures=trace", f"failures.trace_path={path}", "horizon_days=3"]


def test_trace_with_no_failure_in_the_horizon(tmp_path):
    # two failures at 100 h and 200 h; the horizon is 72 h: the run has none
    base = _trace(tmp_path, "time_hours,kind,node\n100,node,3\n200,node,5\n")
    found = warnings_of(base)
    assert len(found) == 1, found
    assert found[0].startswith("failures=trace: all 2 rows of the trace come after the 72.0 h "
                               "simulated (the first at 100.0 h; horizon_days)"), found[0]
    with pytest.warns(TrainsimWarning, match="no failures at all"):
        frame = simulate(base)
    assert frame.failures.iloc[0] == 0  # the premise of the warning
    # one row inside the horizon: silent
    assert warnings_of(_trace(tmp_path, "time_hours,kind,node\n10,node,3\n")) == []


def test_trace_with_no_rows(tmp_path):
    base = _trace(tmp_path, "time_hours,kind,node\n")
    try:
        found = warnings_of(base)
    except ConfigError as error:  # refusing an empty trace is as clean an answer
        assert error.key == "failures.trace_path"
        return
    assert len(found) == 1 and found[0].startswith("failures=trace: the trace has no rows")


def test_in_process_restart_without_any_share_says_it_does_nothing():
    (message,) = warnings_of(["restart=in_process"])
    assert "restart.in_process_seconds=90 has no effect" in message
    assert "in_process_share" in message
    assert warnings_of(["restart=in_process", "failures=llama3", "cluster=llama3_16k",
                        "horizon_days=2"]) == []
