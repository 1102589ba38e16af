"""Rows carry their configuration: every row of `simulate()` and of the CLI has the
configuration columns (simulator.reliability.metrics.CONFIG_COLUMNS) with the values the
scenario ran
with, and the statistics and the report work from the table alone.

Expected values are written out by hand from the presets' YAML (scenarios/) and the
overrides, not read back from the Scenario.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

import simulator
import simulator.adaptive
import simulator.experiments.analysis
from simulator.config.validate import Config
from simulator.experiments.analysis import config_columns, paired_differences, summarize
from simulator.experiments.report import write_report
from simulator.reliability.metrics import CONFIG_COLUMNS, ROW_COLUMNS, SUMMARY_COLUMNS
from tests.clirun import describe, run_cli

SMALL = ["cluster.gpus=64", "horizon_days=2"]  # 8 nodes of 8 H100


def rows(overrides: list[str]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feasibility warnings are not the subject
        return simulator.simulate(overrides, progress=False)


def test_the_names_hide_no_config_key_nor_a_cli_column():
    """The CLI skips an override whose key is already a column, and names group choices
    `<group>_config`: no configuration column may take such a name."""
    top_level = {f.name for f in dataclasses.fields(Config)}
    assert not set(CONFIG_COLUMNS) & top_level
    assert not [c for c in CONFIG_COLUMNS if c.endswith("_config") or "." in c]
    assert not set(CONFIG_COLUMNS) & set(SUMMARY_COLUMNS)
    assert len(set(ROW_COLUMNS)) == len(ROW_COLUMNS)


def test_default_rows_say_what_made_them():
    frame = rows([*SMALL, "checkpoint.write_minutes=3", "checkpoint.load_minutes=2",
                  "cluster.gpu_hour_usd=4", "replicates=2"])
    assert list(frame.columns) == list(ROW_COLUMNS)
    for _, row in frame.iterrows():  # every replicate carries the same configuration
        assert row["checkpoint_policy"] == "fixed"
        assert row["checkpoint_write_min"] == 3.0  # 3 min, i.e. 180 s
        assert row["checkpoint_load_min"] == 2.0
        assert row["checkpoint_durable_every"] == 1
        for unset in ("checkpoint_snapshot_min", "checkpoint_memory_write_min",
                      "checkpoint_prior_mtbi_h", "checkpoint_size_tb"):
            assert math.isnan(row[unset]), unset
        # cluster/dgx_h100_1k.yaml: H100, 8 per node, spare_fraction 1/32 -> ceil(8/32) = 1
        assert (row["cluster_accelerator"], row["cluster_gpus_per_node"]) == ("H100", 8)
        assert (row["cluster_nodes"], row["cluster_spare_nodes"]) == (8, 1)
        assert row["cluster_gpu_hour_usd"] == 4.0 and row["cluster_pue"] == 1.2
        assert row["topology_kind"] == "rail_fat_tree"  # topology/dgx_h100_superpod.yaml
        # workload/fixed_step.yaml: no model
        assert row["workload_precision"] is None and row["workload_parallel"] is None
        assert math.isnan(row["workload_model_params_b"])
        assert (row["run_mode"], row["run_horizon_days"]) == ("segments", 2.0)
        assert math.isnan(row["run_work_h"])
        # failures/exponential.yaml: RSC-1's 3,692.3 h per node, GPUs not separately
        assert row["failures_kind"] == "exponential"
        assert row["failures_node_mtbf_h"] == pytest.approx(3692.3, rel=1e-12)
        assert math.isnan(row["failures_gpu_mtbf_h"])
        # restart/spare_swap.yaml
        assert (row["restart_detect_min"], row["restart_restart_min"]) == (5.0, 10.0)
        assert (row["restart_repair_h"], row["restart_policy"]) == (24.0, "full_width")


def test_restart_times_include_their_per_gpu_terms():
    """restart/hot_spares.yaml: detect 5 min + 6 s per 1,000 GPUs, restart 10 min + 2 s
    per 1,000 GPUs; on 64 GPUs that is 0.384 s and 0.128 s more."""
    row = rows([*SMALL, "restart=hot_spares"]).iloc[0]
    assert row["restart_detect_min"] == pytest.approx(5 + 6 * 0.064 / 60, rel=1e-12)
    assert row["restart_restart_min"] == pytest.approx(10 + 2 * 0.064 / 60, rel=1e-12)
    assert row["restart_repair_h"] == 4.0 and row["restart_manual_repair_h"] == 72.0
    assert row["restart_manual_probability"] == 0.2
    assert row["restart_repair_failure_probability"] == 0.1


@pytest.mark.parametrize(("overrides", "expected"), [
    (["checkpoint=async"], {"checkpoint_policy": "async", "checkpoint_snapshot_min": 0.1,
                            "checkpoint_write_min": 5.0}),
    (["checkpoint=in_memory"], {"checkpoint_memory_write_min": 0.2,
                                "checkpoint_memory_load_min": 0.5,
                                "checkpoint_durable_every": 12,
                                "checkpoint_memory_group": 2}),
    (["checkpoint=adaptive", "checkpoint.prior_mtbi_hours=100"],
     {"checkpoint_prior_mtbi_h": 100.0}),
    (["failures=none", "checkpoint.interval_minutes=30"], {"failures_kind": "none"}),
    (["work_hours=10", "horizon_days=30"], {"run_work_h": 10.0}),  # horizon back to its
    # default: work_hours replaces it, and both set is an error (tests/config/test_domains.py)
    (["mode=steps", "horizon_days=0.2", "workload.jitter_cv=0.05"],
     {"run_mode": "steps", "workload_jitter_cv": 0.05}),
    (["restart=elastic"], {"restart_policy": "elastic"}),
    (["cluster.spare_nodes=3"], {"cluster_spare_nodes": 3}),
])
def test_policy_and_mode_columns(overrides, expected):
    row = rows([*SMALL, *overrides]).iloc[0]
    for column, value in expected.items():
        assert row[column] == value, column


def test_a_write_time_from_the_models_size():
    """workload=llama3_70b with write_minutes=null: 70.6e9 parameters x 14 bytes (the
    `storage.bytes_per_param` default) = 0.9884 TB, written at min(2,000 GB/s storage,
    128 nodes x 50 GB/s) = 2,000 GB/s: 0.4942 s."""
    row = rows(["workload=llama3_70b", "checkpoint.write_minutes=null", "horizon_days=0.5",
                "failures=none"]).iloc[0]
    assert row["checkpoint_size_tb"] == pytest.approx(0.9884, rel=1e-12)
    assert row["checkpoint_write_min"] * 60 == pytest.approx(0.9884e12 / 2000e9, rel=1e-12)
    assert row["checkpoint_load_min"] == 5.0  # still given in minutes
    assert row["workload_model_params_b"] == pytest.approx(70.6, rel=1e-12)
    # workload/llama3_70b.yaml: TP 8, PP 4 on 1,024 GPUs leaves DP 32; 512 x 8,192 tokens
    assert row["workload_parallel"] == "tp8 pp4 dp32 cp1 ep1"
    assert row["workload_global_batch_tokens"] == 4_194_304
    assert row["workload_precision"] == "bf16"


def test_cli_rows_equal_simulate_rows(tmp_path):
    """One run through the CLI and through simulate(): the same row columns and values,
    with the CLI's group choices and overridden keys on top, unchanged."""
    overrides = [*SMALL, "checkpoint=async", "restart=hot_spares", "replicates=2"]
    proc = run_cli([f"hydra.run.dir={tmp_path / 'run'}", *overrides], tmp_path)
    assert proc.returncode == 0, describe(proc)
    cli = pd.read_csv(tmp_path / "run" / "summary.csv")
    api = rows(overrides)
    assert list(cli.columns) == [
        "cluster_config", "topology_config", "failures_config", "checkpoint_config",
        "restart_config", "workload_config", "storage_config", "cluster.gpus", "horizon_days",
        "replicates", *ROW_COLUMNS]
    assert cli["checkpoint_config"].tolist() == ["async", "async"]
    assert cli["horizon_days"].tolist() == [2, 2]
    for column in ROW_COLUMNS:
        for a, c in zip(api[column], cli[column], strict=True):
            if pd.isna(a):
                assert pd.isna(c), column
            elif isinstance(a, str | bool):
                assert a == c, column
            else:
                assert c == pytest.approx(a, rel=1e-12), column


# ---- statistics: the row columns describe, the named ones identify -----------------------


@pytest.fixture(scope="module")
def two_policies() -> pd.DataFrame:
    """fixed and async on the same seeds, as simulate() returns them (untagged)."""
    common = [*SMALL, "horizon_days=10", "replicates=3", "checkpoint.interval_minutes=30"]
    return pd.concat([rows([*common, "checkpoint=fixed"]),
                      rows([*common, "checkpoint=async"])], ignore_index=True)


def test_untagged_rows_group_by_their_own_configuration(two_policies):
    assert config_columns(two_policies, drop_constant=True) == [
        "checkpoint_policy", "checkpoint_snapshot_min"]
    table = summarize(two_policies, metrics=["goodput"])
    assert sorted(table["checkpoint_policy"]) == ["async", "fixed"]
    assert table["n"].tolist() == [3, 3]
    diffs = paired_differences(two_policies, "checkpoint_policy", "fixed")
    assert diffs["checkpoint_policy"].tolist() == ["async"] and diffs["n"].iloc[0] == 3
    fixed = two_policies[two_policies["checkpoint_policy"] == "fixed"]["goodput"].to_numpy()
    other = two_policies[two_policies["checkpoint_policy"] == "async"]["goodput"].to_numpy()
    assert diffs["diff"].iloc[0] == pytest.approx((other - fixed).mean(), rel=1e-12)


def test_a_tag_makes_the_columns_that_follow_from_it_descriptive(two_policies):
    tagged = two_policies.assign(checkpoint_config=two_policies["checkpoint_policy"])
    assert config_columns(tagged, drop_constant=True) == ["checkpoint_config"]
    assert "checkpoint_write_min" not in summarize(tagged).columns  # not a metric
    assert not [c for c in summarize(tagged).columns
                if c.removesuffix("_mean") in CONFIG_COLUMNS]


# ---- the report from the table alone ------------------------------------------------------


def test_young_and_daly_marks_from_the_rows_without_run_directories(tmp_path):
    """A plain CSV of simulate() rows, no .hydra anywhere. Write time C = 2 min (not the
    preset's 5); job MTBI M = 3,692.3 h per node / 8 nodes = 461.5375 h; Young's
    interval sqrt(2 C M) = sqrt(2 x 2 x 27,692.25) min = 332.8 min."""
    frames = [rows([*SMALL, "horizon_days=5", "checkpoint.write_minutes=2",
                    f"checkpoint.interval_minutes={m}"])
              .assign(**{"checkpoint.interval_minutes": m}) for m in (30, 120)]
    pd.concat(frames).to_csv(tmp_path / "runs.csv", index=False)
    report, *_ = write_report(tmp_path / "runs.csv", out=tmp_path / "out")
    text = report.read_text()
    assert not list(tmp_path.rglob(".hydra"))
    found = re.search(r"Young (\d+\.\d) min, Daly (\d+\.\d) min \(write time C = (\S+) min, "
                      r"job MTBI M = (\d+\.\d) h\)", text)
    assert found, text
    assert float(found.group(1)) == pytest.approx(math.sqrt(2 * 2 * 461.5375 * 60), abs=0.05)
    assert float(found.group(3)) == 2.0 and float(found.group(4)) == 461.5
    assert "checkpoint_write_min=2" in text  # the setup, from the rows


def test_a_table_without_the_columns_says_why_there_are_no_marks(tmp_path):
    frames = [rows([*SMALL, f"checkpoint.interval_minutes={m}"])
              .assign(**{"checkpoint.interval_minutes": m}) for m in (30, 120)]
    old = pd.concat(frames)[[*SUMMARY_COLUMNS, "checkpoint.interval_minutes"]]
    old.to_csv(tmp_path / "runs.csv", index=False)
    report, *_ = write_report(tmp_path / "runs.csv", out=tmp_path / "out")
    text = report.read_text()
    assert "Optimum interval" not in text
    assert "Young/Daly marks omitted: the rows have no checkpoint_policy" in text


# ---- adaptive replicates: their own module -----------------------------------------------


def test_adaptive_lives_apart_from_the_statistics():
    import simulator.analysis  # the command keeps the old import working

    assert simulator.analysis.adaptive_replicates is simulator.adaptive.adaptive_replicates
    source = Path(simulator.experiments.analysis.__file__).read_text(encoding="utf-8")
    imported = {node.module for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom) and node.col_offset == 0}
    assert not imported & {"simulator.experiments.runner", "simulator.api"}, imported


def test_adaptive_module_command_line(capsys, tmp_path):
    out = tmp_path / "adaptive.csv"
    assert simulator.adaptive.main(["--target", "1", "--batch", "2", "--min", "2",
                                    "--out", str(out), "--", *SMALL]) == 0
    assert "target ± 1 reached: 2 replicates" in capsys.readouterr().out
    saved = pd.read_csv(out)
    assert saved["checkpoint_policy"].tolist() == ["fixed", "fixed"]
    assert simulator.adaptive.main(["--", "checkpoint=bogus"]) == 2
    assert "trainsim: config error: checkpoint=bogus" in capsys.readouterr().err
