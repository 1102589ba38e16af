"""The decision metrics of every summary row: effective tokens/s, time to train a budget,
$ and MWh per million useful tokens.

Expected values are derived by hand from the configuration (scenarios/*.yaml and the
overrides below), never copied from the simulator's output. The scenario without
failures has an exact goodput: the job alternates 55 minutes of compute with a 5-minute
blocking write, so one day is 24 whole cycles and goodput = 55 / 60.
"""

from __future__ import annotations

import math

import pytest

from simulator import ConfigError, load_scenario, simulate
from simulator.reliability.metrics import ROW_COLUMNS, SUMMARY_COLUMNS
from tests.clirun import describe, run_cli

DECISION_COLUMNS = ["tokens_per_s", "effective_tokens_per_s", "time_to_train_days",
                    "usd_per_mtoken", "mwh_per_mtoken"]
DAY_S = 86400.0
# workload/llama3_70b.yaml: 4,194,304 tokens per step, a 15T-token budget (model card)
BATCH_TOKENS = 4_194_304
LLAMA3_70B_TOKENS = 15e12
STEP_S = 5.0  # workload.step_seconds below: a fixed step, whatever the fabric gives
GPUS = 1024  # cluster/dgx_h100_1k.yaml
USD_PER_GPU_H = 2.5  # cluster/dgx_h100_1k.yaml
PUE = 1.2  # cluster/dgx_h100_1k.yaml
# What the facility draws (simulator/fabric/power.py, its sources): an H100 in compute
# 647 W (measured average at the 700 W board cap), idle 100 W; a DGX H100 host (all but
# the GPUs) 0.76 x 10,200 - 8 x 647 = 2,576 W busy; a switch 747 + 32 x 17 = 1,291 W; the
# dgx_h100_superpod fabric of 1,024 GPUs: 4 scalable units of 8 leaves + 16 spines = 48
# switches; 4 spare nodes (ceil(0.03125 x 128)) idle: host 0.6 x 2,576, GPUs 100 W each.
HOST_BUSY_W = 0.76 * 10_200 - 8 * 647
SPARES_W = 4 * (0.6 * HOST_BUSY_W + 8 * 100.0)
ALWAYS_W = 48 * (747 + 32 * 17) + SPARES_W
COMPUTE_IT_W = GPUS * 647.0 + 128 * HOST_BUSY_W + ALWAYS_W  # a fixed step: all compute
WRITE_IT_W = GPUS * 100.0 + 128 * HOST_BUSY_W + ALWAYS_W  # a blocking write: GPUs idle
EXACT = ["workload=llama3_70b", f"workload.step_seconds={STEP_S:g}", "failures=none",
         "checkpoint.interval_minutes=55", "checkpoint.write_minutes=5", "horizon_days=1",
         "replicates=2"]
GOODPUT = 55 / 60


@pytest.fixture(scope="module")
def exact():
    return simulate(EXACT, progress=False)


def test_every_row_has_the_decision_columns():
    assert [c for c in DECISION_COLUMNS if c not in SUMMARY_COLUMNS] == []
    frame = simulate(["cluster.gpus=64", "horizon_days=2"], progress=False)
    assert list(frame.columns) == list(ROW_COLUMNS)
    # a fixed-step workload without a budget has no tokens and no time to train
    assert frame[DECISION_COLUMNS].isna().all().all()


def test_effective_throughput_is_nominal_times_goodput_by_hand(exact):
    nominal = BATCH_TOKENS / STEP_S
    for _, row in exact.iterrows():
        assert row["goodput"] == pytest.approx(GOODPUT, rel=1e-12)
        assert row["degraded_h"] == 0
        assert row["tokens_per_s"] == pytest.approx(nominal, rel=1e-12)
        assert row["effective_tokens_per_s"] == pytest.approx(nominal * GOODPUT, rel=1e-9)


def test_time_to_train_follows_from_the_effective_rate(exact):
    # 15e12 tokens / (838,860.8 x 55/60 tokens/s) / 86,400 s = 225.78 days
    days = LLAMA3_70B_TOKENS / (BATCH_TOKENS / STEP_S * GOODPUT) / DAY_S
    assert days == pytest.approx(225.775, abs=1e-3)
    assert exact["time_to_train_days"].to_numpy() == pytest.approx(days, rel=1e-9)


def test_cost_and_energy_per_million_useful_tokens(exact):
    hours = 24.0
    mtokens = BATCH_TOKENS / STEP_S * GOODPUT * hours * 3600 / 1e6
    usd = USD_PER_GPU_H * GPUS * hours / mtokens  # the cluster is paid for all day
    energy_mwh = PUE * (55 / 60 * COMPUTE_IT_W + 5 / 60 * WRITE_IT_W) * hours / 1e6
    mwh = energy_mwh / mtokens
    assert exact["energy_mwh"].to_numpy() == pytest.approx(energy_mwh, rel=1e-9)
    assert exact["usd_per_mtoken"].to_numpy() == pytest.approx(usd, rel=1e-9)
    assert exact["mwh_per_mtoken"].to_numpy() == pytest.approx(mwh, rel=1e-9)


def test_effective_throughput_with_failures_is_nominal_times_goodput():
    """With failures (rework, restarts, waiting) and nothing degraded the identity holds
    replicate by replicate, and time to train is the budget over the effective rate."""
    frame = simulate(["workload=llama3_70b", f"workload.step_seconds={STEP_S:g}",
                      "failures.node_mtbf_hours=200", "horizon_days=5", "replicates=4"],
                     progress=False)
    assert (frame["failures"] > 0).all() and (frame["degraded_h"] == 0).all()
    assert frame["goodput"].nunique() > 1
    expected = BATCH_TOKENS / STEP_S * frame["goodput"]
    assert frame["effective_tokens_per_s"].to_numpy() == pytest.approx(expected, rel=1e-9)
    days = LLAMA3_70B_TOKENS / expected / DAY_S
    assert frame["time_to_train_days"].to_numpy() == pytest.approx(days, rel=1e-9)


def test_a_step_budget_for_a_fixed_step_workload():
    # 10-s steps (workload/fixed_step.yaml), 50 min compute + 10 min write: goodput 5/6;
    # 100,000 steps = 1,000,000 s of compute -> 1e6 / (5/6) / 86,400 days
    frame = simulate(["failures=none", "checkpoint.interval_minutes=50",
                      "checkpoint.write_minutes=10", "horizon_days=1",
                      "workload.train_steps=100000"], progress=False)
    assert frame["goodput"].iloc[0] == pytest.approx(5 / 6, rel=1e-12)
    assert frame["time_to_train_days"].iloc[0] == pytest.approx(
        1e6 / (5 / 6) / DAY_S, rel=1e-9)
    assert math.isnan(frame["effective_tokens_per_s"].iloc[0])  # no tokens in a fixed step


def test_a_step_budget_for_a_model_workload_is_its_tokens():
    steps = LLAMA3_70B_TOKENS / BATCH_TOKENS
    by_steps = simulate([*EXACT[:-1], "workload.train_tokens=null",
                         f"workload.train_steps={steps!r}"], progress=False)
    by_tokens = simulate(EXACT[:-1], progress=False)
    assert by_steps["time_to_train_days"].iloc[0] == pytest.approx(
        by_tokens["time_to_train_days"].iloc[0], rel=1e-12)


@pytest.mark.parametrize(("overrides", "key"), [
    (["workload.train_tokens=1e12"], "workload.train_tokens"),  # fixed step: no tokens
    (["workload=llama3_70b", "workload.train_steps=1000"], "workload.train_steps"),  # both
    (["workload.train_steps=-5"], "workload.train_steps"),
    (["workload=llama3_70b", "workload.train_tokens=0"], "workload.train_tokens"),
])
def test_a_bad_budget_is_a_config_error_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    assert info.value.key == key


def test_the_presets_carry_their_published_budgets():
    assert load_scenario(["workload=llama3_405b"]).train_tokens == 15.6e12  # Llama 3, sec. 1
    assert load_scenario(["workload=gpt3_175b"]).train_tokens == 300e9  # Brown et al. 2020
    assert load_scenario(["workload=llama3_70b"]).train_tokens == 15e12  # model card
    assert load_scenario(["workload=moe_8x7b"]).train_tokens is None  # not published


def test_the_command_line_prints_the_decision_metrics(tmp_path):
    proc = run_cli([*EXACT, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    lines = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()
             if line.strip()}
    nominal = BATCH_TOKENS / STEP_S
    assert lines["tokens_per_s"][0] == f"{nominal:,.0f}"
    assert lines["effective_tokens_per_s"][0] == f"{nominal * GOODPUT:,.0f}"
    days = LLAMA3_70B_TOKENS / (nominal * GOODPUT) / DAY_S
    assert lines["time_to_train_days"][0] == f"{days:,.2f}"
    assert "usd_per_mtoken" in lines and "mwh_per_mtoken" in lines


def test_the_command_line_hides_them_without_a_model(tmp_path):
    proc = run_cli(["cluster.gpus=64", "horizon_days=2", f"hydra.run.dir={tmp_path / 'run'}"],
                   tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert "goodput" in proc.stdout and "tokens_per_s" not in proc.stdout
