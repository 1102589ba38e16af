"""Tests of simulator.experiments.analysis: summaries with confidence intervals, paired differences
under common random numbers, adaptive replicates, loading sweeps.

Coverage tests count how often a 95% interval holds a known true mean over many
independent samples. The count is Binomial(trials, 0.95) when the interval is right;
the accepted range is its central 99.9% (`coverage_bounds`), so a correct interval fails
with probability 1e-3, and the seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import simulator
from simulator import load_scenario, run_scenario
from simulator.adaptive import adaptive_replicates
from simulator.analysis import main as analysis_command
from simulator.experiments.analysis import (
    NoRunsError,
    config_columns,
    load_sweep,
    main,
    paired_differences,
    summarize,
)
from simulator.experiments.outputs import mean_ci
from simulator.reliability.metrics import SUMMARY_COLUMNS

#: A small cluster that fails often: ~19 job failures and ~20 checkpoints in 10 days,
#: about a millisecond a replicate.
FAST = ["cluster.gpus=64", "cluster.spare_nodes=16", "horizon_days=10",
        "failures.node_mtbf_hours=100", "restart.repair_hours=1",
        "checkpoint.interval_minutes=600"]


def coverage_bounds(trials: int, level: float = 0.95, alpha: float = 1e-3
                    ) -> tuple[float, float]:
    """The central 1 - alpha range of the covered fraction of `trials` intervals."""
    lo = stats.binom.ppf(alpha / 2, trials, level) / trials
    hi = stats.binom.isf(alpha / 2, trials, level) / trials
    return lo, hi


def covered_fraction(summary: pd.DataFrame, metric: str, truth: float) -> float:
    lo = summary[f"{metric}_mean"] - summary[f"{metric}_ci"]
    hi = summary[f"{metric}_mean"] + summary[f"{metric}_ci"]
    return float(((lo <= truth) & (truth <= hi)).mean())


def with_column(frame: pd.DataFrame, column: str, value) -> pd.DataFrame:
    return frame.assign(**{column: value})[[column, *frame.columns]]


# ---- confidence interval coverage ------------------------------------------------------


def test_ci_covers_the_mean_of_normal_draws_at_the_nominal_rate():
    """400 samples of 10 normal draws: Student-t intervals are exact here."""
    rng = np.random.default_rng(2024)
    trials, n, mu = 400, 10, 3.0
    frame = pd.DataFrame({"block": np.repeat(np.arange(trials), n),
                          "x": rng.normal(mu, 2.0, trials * n)})
    summary = summarize(frame, by=["block"], metrics=["x"])
    assert len(summary) == trials and (summary["n"] == n).all()
    lo, hi = coverage_bounds(trials)
    assert lo <= covered_fraction(summary, "x", mu) <= hi


@pytest.mark.slow
def test_ci_covers_the_closed_form_failure_count_of_the_simulator():
    """The number of job failures has a closed-form mean.

    With exponential node lifetimes and ample spares (16 spares, 1-hour repairs, for an
    8-node job) the job always holds its 8 nodes in service, and memoryless parts fail
    whatever the job is doing (a failure during recovery counts too), so the failures
    the job sees are a Poisson process of rate nodes / MTBF: over 240 hours the count is
    Poisson with mean 8 x 240 / 100 = 19.2. Goodput has no closed form that simple (and
    failures=none has no variance), hence this metric. 1,800 independent replicates,
    cut into 300 samples of 6, give 300 intervals.
    """
    nodes, horizon_h, mtbf_h = 8, 240.0, 100.0
    scenario = load_scenario(FAST)
    assert scenario.cluster.nodes == nodes
    assert scenario.horizon_s == horizon_h * 3600
    trials, n = 300, 6
    frame = run_scenario(dataclasses.replace(scenario, replicates=trials * n), progress=False)
    assert (frame["wait_h"] == 0).all()  # never short of nodes: the rate held throughout
    frame["block"] = frame["replicate"] // n
    summary = summarize(frame, by=["block"], metrics=["failures"])
    lo, hi = coverage_bounds(trials)
    assert lo <= covered_fraction(summary, "failures", nodes * horizon_h / mtbf_h) <= hi


# ---- summarize and config_columns --------------------------------------------------------


def synthetic_sweep() -> pd.DataFrame:
    """Two policies x two intervals (one missing, as young_daly's is) x 4 replicates."""
    rng = np.random.default_rng(1)
    rows = []
    for policy, interval in [("fixed", 30.0), ("fixed", 60.0), ("young_daly", math.nan)]:
        for r in range(4):
            row = dict.fromkeys(SUMMARY_COLUMNS, 0.0)
            row.update(seed=0, replicate=r, goodput=rng.uniform(0.8, 0.9),
                       failures=rng.poisson(20), tokens_per_s=math.nan)
            rows.append({"cluster_config": "dgx_h100_1k", "checkpoint_config": policy,
                         "checkpoint.interval_minutes": interval, "replicates": 4, **row})
    return pd.DataFrame(rows)


def test_config_columns_are_the_non_summary_columns():
    frame = synthetic_sweep().assign(a_new_metric=1.0)  # tolerated: not a summary column
    assert config_columns(frame) == ["cluster_config", "checkpoint_config",
                                     "checkpoint.interval_minutes", "a_new_metric"]
    assert config_columns(frame, drop_constant=True) == ["checkpoint_config",
                                                         "checkpoint.interval_minutes"]


def test_summarize_matches_groupby_and_the_t_interval():
    frame = synthetic_sweep()
    summary = summarize(frame)
    assert list(summary.columns[:3]) == ["checkpoint_config", "checkpoint.interval_minutes",
                                         "n"]
    assert len(summary) == 3  # the missing interval is a configuration of its own
    assert "seed_mean" not in summary and "replicate_mean" not in summary
    assert "tokens_per_s_mean" not in summary  # entirely missing: left out
    for _, row in summary.iterrows():
        mask = frame["checkpoint_config"] == row["checkpoint_config"]
        interval = row["checkpoint.interval_minutes"]
        mask &= (frame["checkpoint.interval_minutes"] == interval) if not math.isnan(
            interval) else frame["checkpoint.interval_minutes"].isna()
        values = frame.loc[mask, "goodput"]
        half = stats.t.ppf(0.975, len(values) - 1) * values.std() / math.sqrt(len(values))
        assert row["n"] == len(values) == 4
        assert row["goodput_mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert row["goodput_ci"] == pytest.approx(half, rel=1e-12)


def test_summarize_without_varying_configuration_is_one_row():
    frame = simulator.simulate([*FAST, "replicates=3"], progress=False)
    summary = summarize(frame, metrics=["goodput"], level=0.9)
    assert list(summary.columns) == ["n", "goodput_mean", "goodput_ci"]
    half = stats.t.ppf(0.95, 2) * frame["goodput"].std() / math.sqrt(3)
    assert summary["goodput_ci"].iloc[0] == pytest.approx(half)


def test_summarize_names_a_missing_column():
    with pytest.raises(ValueError, match="no column 'nope'"):
        summarize(synthetic_sweep(), metrics=["nope"])


# ---- paired differences ------------------------------------------------------------------


def test_paired_and_welch_intervals_match_scipy():
    rng = np.random.default_rng(7)
    common = rng.normal(0.9, 0.02, 12)  # what both levels share (the failures)
    a = common + rng.normal(0, 0.002, 12)
    b = common + 0.01 + rng.normal(0, 0.002, 12)
    frame = pd.DataFrame({"policy": ["a"] * 12 + ["b"] * 12, "seed": 0,
                          "replicate": list(range(12)) * 2, "goodput": [*a, *b]})
    row = paired_differences(frame, "policy", "a").iloc[0]
    paired = stats.ttest_rel(b, a).confidence_interval(0.95)
    welch = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert row["policy"] == "b" and row["baseline"] == "a" and row["n"] == 12
    assert row["diff"] == pytest.approx((paired.high + paired.low) / 2)
    assert row["paired_ci"] == pytest.approx((paired.high - paired.low) / 2)
    assert row["unpaired_ci"] == pytest.approx((welch.high - welch.low) / 2)


def test_crn_pairing_narrows_the_interval():
    """Under common random numbers two intervals see the same failures, so most of the
    replicate-to-replicate noise cancels in the difference."""
    frames = []
    for minutes in (60, 90):
        run = simulator.simulate([f"checkpoint.interval_minutes={minutes}", "replicates=25"],
                                 progress=False)
        frames.append(with_column(run, "checkpoint.interval_minutes", minutes))
    for policy in ("fixed", "young_daly"):
        run = simulator.simulate([f"checkpoint={policy}", "replicates=25"], progress=False)
        frames.append(with_column(run, "checkpoint_config", policy))
    for frame, factor, baseline in [
            (pd.concat(frames[:2]), "checkpoint.interval_minutes", 60),
            (pd.concat(frames[2:]), "checkpoint_config", "fixed")]:
        row = paired_differences(frame, factor, baseline).iloc[0]
        assert row["n"] == 25
        assert row["diff"] > 0  # longer intervals are better at 5-minute writes
        assert row["paired_ci"] < 0.6 * row["unpaired_ci"], row.to_dict()


def test_paired_differences_per_other_configuration():
    frame = synthetic_sweep()
    frame = frame[frame["checkpoint_config"] == "fixed"]
    frame = pd.concat([frame, frame.assign(cluster_config="other",
                                           goodput=frame["goodput"] + 0.05)])
    result = paired_differences(frame, "cluster_config", "dgx_h100_1k")
    assert list(result["checkpoint.interval_minutes"]) == [30.0, 60.0]  # one row each
    assert result["diff"].to_numpy() == pytest.approx([0.05, 0.05])
    assert result["paired_ci"].to_numpy() == pytest.approx([0, 0], abs=1e-12)
    pooled = paired_differences(frame, "cluster_config", "dgx_h100_1k", by=[])
    assert len(pooled) == 1 and pooled["n"].iloc[0] == 8


def test_paired_differences_refuse_unmatched_replicates():
    frame = synthetic_sweep()
    frame = frame[frame["checkpoint_config"] == "fixed"]
    with pytest.raises(ValueError, match="do not have the same replicates"):
        paired_differences(frame.iloc[:-1], "checkpoint.interval_minutes", 30)
    shifted = frame.assign(replicate=np.where(frame["checkpoint.interval_minutes"] == 60,
                                              frame["replicate"] + 4, frame["replicate"]))
    with pytest.raises(ValueError, match=r"4 only in checkpoint\.interval_minutes=60"):
        paired_differences(shifted, "checkpoint.interval_minutes", 30)
    with pytest.raises(ValueError, match=r"baseline checkpoint\.interval_minutes=45"):
        paired_differences(frame, "checkpoint.interval_minutes", 45)
    with pytest.raises(ValueError, match="several rows for the same"):
        paired_differences(pd.concat([frame, frame]), "checkpoint.interval_minutes", 30)


# ---- adaptive replicates -----------------------------------------------------------------


def test_adaptive_stops_once_the_target_is_met():
    calls = []
    target = 0.03  # goodput's standard deviation is ~0.075 here: about 30 replicates
    frame = adaptive_replicates(FAST, target_halfwidth=target, batch=5, min_replicates=5,
                                progress=lambda n, mean, half: calls.append((n, half)))
    n = len(frame)
    assert frame.attrs["target_met"] and frame.attrs["halfwidth"] <= target
    assert n < 200 and n % 5 == 0
    assert [c[0] for c in calls] == list(range(5, n + 1, 5))
    assert all(half > target for _, half in calls[:-1])  # it did not stop late
    assert mean_ci(frame["goodput"])[1] == pytest.approx(calls[-1][1])


def test_adaptive_respects_the_cap_and_extends_without_duplicates():
    frame = adaptive_replicates(FAST, target_halfwidth=1e-9, batch=4, max_replicates=10)
    assert not frame.attrs["target_met"] and frame.attrs["halfwidth"] > 1e-9
    assert list(frame["replicate"]) == list(range(10))  # batches 0-3, 4-7, 8-9
    whole = simulator.simulate([*FAST, "replicates=10"], progress=False)
    pd.testing.assert_frame_equal(frame, whole)  # batching changes nothing


def test_adaptive_zero_variance_stops_at_the_minimum():
    frame = adaptive_replicates(["failures=none"], batch=3, min_replicates=6)
    assert len(frame) == 6 and frame.attrs["target_met"]
    assert frame.attrs["halfwidth"] == pytest.approx(0, abs=1e-12)


def test_adaptive_refuses_replicate_overrides_and_nan_metrics():
    with pytest.raises(ValueError, match="replicates=5: adaptive_replicates chooses"):
        adaptive_replicates([*FAST, "replicates=5"])
    with pytest.raises(ValueError, match="mfu is nan"):
        adaptive_replicates(FAST, metric="mfu", batch=2)


def test_adaptive_command_line(capsys, tmp_path):
    out = tmp_path / "adaptive.csv"
    assert analysis_command(["adaptive", "--target", "1", "--batch", "2", "--min", "4",
                             "--out", str(out), "--", *FAST]) == 0
    text = capsys.readouterr().out
    assert "target ± 1 reached: 4 replicates" in text and "goodput" in text
    assert len(pd.read_csv(out)) == 4
    assert analysis_command(["adaptive", "--", "checkpoint=bogus"]) == 2
    assert "trainsim: config error: checkpoint=bogus" in capsys.readouterr().err


# ---- loading sweeps ----------------------------------------------------------------------


def test_load_sweep_reads_runs_job_dirs_files_and_refuses_empty(tmp_path, capsys):
    frame = synthetic_sweep()
    for job, (_, rows) in enumerate(frame.groupby("checkpoint.interval_minutes",
                                                  dropna=False, sort=False)):
        (tmp_path / str(job)).mkdir()
        rows.to_csv(tmp_path / str(job) / "summary.csv", index=False)
    gathered = load_sweep(tmp_path)  # no runs.csv yet: the job dirs
    assert len(gathered) == len(frame)
    frame.iloc[:4].to_csv(tmp_path / "runs.csv", index=False)
    assert len(load_sweep(tmp_path)) == 4  # runs.csv when present
    assert len(load_sweep(tmp_path / "runs.csv")) == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoRunsError, match=r"no runs found under .*empty"):
        load_sweep(empty)
    assert main(["summarize", str(empty)]) == 2
    assert "expected runs.csv or */summary.csv" in capsys.readouterr().err
    assert main(["summarize", str(tmp_path)]) == 0
    assert "goodput_mean" in capsys.readouterr().out
