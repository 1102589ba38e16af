"""End-to-end tests of the Python API: `simulate`, `load_scenario`, `run_replicate`.

Expected values are derived by hand from the configuration (scenarios/*.yaml and the
overrides below), never copied from the simulator's output.
"""

from __future__ import annotations

import math
import pickle

import pandas as pd
import pytest

import simulator
from simulator import ConfigError, load_scenario, run_replicate, simulate

DESIGN_COLUMNS = [
    "seed", "replicate", "gpus", "horizon_h", "useful_h", "checkpoint_h", "rework_h",
    "restart_h", "wait_h", "degraded_h", "goodput", "lost_gpu_h", "failures", "checkpoints",
    "interval_min", "step_s",
]
CATEGORY_COLUMNS = ["useful_h", "checkpoint_h", "rework_h", "restart_h", "wait_h", "degraded_h"]
STEP_S = 10.0  # workload/fixed_step.yaml
WRITE_MIN = 5.0  # checkpoint/fixed.yaml


def test_simulate_returns_one_row_per_replicate() -> None:
    frame = simulate(["cluster.gpus=4096", "replicates=3", "horizon_days=3"])
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 3
    assert [c for c in DESIGN_COLUMNS if c not in frame.columns] == []
    assert (frame["gpus"] == 4096).all()
    assert frame["replicate"].tolist() == [0, 1, 2]
    assert frame["horizon_h"].to_numpy() == pytest.approx(3 * 24)
    assert frame[CATEGORY_COLUMNS].sum(axis=1).to_numpy() == pytest.approx(3 * 24)


def test_simulate_without_overrides_runs_the_default_scenario() -> None:
    frame = simulate(None)
    assert len(frame) == 1  # replicates: 1
    row = frame.iloc[0]
    assert row["horizon_h"] == pytest.approx(30 * 24)  # horizon_days: 30
    assert row["gpus"] == 1024  # cluster/dgx_h100_1k.yaml
    assert row["interval_min"] == 60  # checkpoint/fixed.yaml
    pd.testing.assert_frame_equal(frame, simulate([]))


# ---- randomness ------------------------------------------------------------------------

SHORT = ["replicates=3", "horizon_days=10"]  # ~8 failures per replicate at 28.8 h MTBI


def test_same_seed_gives_identical_frames() -> None:
    first = simulate(["seed=3", *SHORT])
    second = simulate(["seed=3", *SHORT])
    pd.testing.assert_frame_equal(first, second)


def test_different_seeds_give_different_results() -> None:
    a = simulate(["seed=3", *SHORT])
    b = simulate(["seed=4", *SHORT])
    same_goodput = a["goodput"].to_numpy().tolist() == b["goodput"].to_numpy().tolist()
    same_failures = a["failures"].tolist() == b["failures"].tolist()
    assert not (same_goodput and same_failures), "seeds 3 and 4 gave the same results"


def _failure_times(overrides: list[str], seed: int = 5) -> pd.DataFrame:
    scenario = load_scenario([f"seed={seed}", "horizon_days=20", *overrides])
    return run_replicate(scenario, 0).failure_log


@pytest.mark.parametrize("failures", [
    pytest.param([], id="exponential-nodes"),
    pytest.param(["failures.gpu_mtbf_hours=50000"], id="exponential-nodes-and-gpus"),
    pytest.param(["failures=weibull"], id="weibull"),
])
def test_policies_on_one_seed_see_the_same_hardware_failures(failures: list[str]) -> None:
    """Common random numbers: the hardware never looks at the job."""
    policies = [
        ["checkpoint.interval_minutes=30"],
        ["checkpoint.interval_minutes=120", "checkpoint.write_minutes=1"],
        ["checkpoint=young_daly"],
        ["checkpoint.interval_minutes=30", "restart.restart_minutes=60"],
    ]
    logs = [_failure_times([*failures, *policy]) for policy in policies]
    reference = logs[0]
    assert len(reference) > 0, "no failures in 20 days: the comparison would be vacuous"
    for policy, log in zip(policies[1:], logs[1:], strict=True):
        pd.testing.assert_series_equal(log["time_s"], reference["time_s"], obj=str(policy))
        pd.testing.assert_series_equal(log["node"], reference["node"], obj=str(policy))
        pd.testing.assert_series_equal(log["component"], reference["component"], obj=str(policy))
    # ... and the log does depend on the seed
    other = _failure_times([*failures, *policies[0]], seed=6)
    assert other["time_s"].tolist() != reference["time_s"].tolist()


def test_replicate_rows_do_not_depend_on_replicate_count() -> None:
    two = simulate(["replicates=2", "horizon_days=5"])
    five = simulate(["replicates=5", "horizon_days=5"])
    assert len(five) == 5
    pd.testing.assert_frame_equal(two, five.iloc[:2].reset_index(drop=True))


# ---- configuration errors --------------------------------------------------------------

BAD_INPUTS = [
    pytest.param(["cluster.gpus=0"], {"cluster.gpus"}, id="zero-gpus"),
    pytest.param(["cluster.gpus=1001"], {"cluster.gpus"}, id="gpus-not-multiple"),
    pytest.param(["cluster.gpus=abc"], {"cluster.gpus"}, id="gpus-wrong-type"),
    pytest.param(["cluster.gpus=null"], {"cluster.gpus"}, id="gpus-null"),
    pytest.param(["failures=foo"], {"failures"}, id="unknown-option"),
    pytest.param(["failures.node_mtbf_hours=-1"], {"failures.node_mtbf_hours"},
                 id="negative-mtbf"),
    pytest.param(["+foo=1"], {"foo", "+foo"}, id="unknown-key"),
    pytest.param(["replicates=0"], {"replicates"}, id="zero-replicates"),
    pytest.param(["checkpoint=young_daly", "failures=none"],
                 {"checkpoint", "checkpoint.policy", "failures", "failures.kind"},
                 id="young-daly-without-failures"),
    pytest.param(["cluster.gpus=1024,2048"], {"cluster.gpus"}, id="sweep-without-multirun"),
    pytest.param(["cluster.gpus=[1"], {"cluster.gpus"}, id="unparsable-override"),
    pytest.param(["cluster=null"], {"cluster"}, id="null-group-option"),
]


@pytest.mark.parametrize(("overrides", "keys"), BAD_INPUTS)
def test_bad_input_raises_config_error(overrides: list[str], keys: set[str]) -> None:
    with pytest.raises(ConfigError) as info:
        simulate(overrides)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.key in keys
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{error.key}=")
    assert message.endswith(error.allowed)
    # load_scenario rejects it the same way, before anything runs
    with pytest.raises(ConfigError) as again:
        load_scenario(overrides)
    assert str(again.value) == message
    # picklable (joblib / submitit workers send it back to the parent)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ConfigError
    assert str(copy) == message
    assert (copy.key, copy.value, copy.allowed) == (error.key, error.value, error.allowed)


def test_config_error_is_exported() -> None:
    assert simulator.ConfigError is ConfigError
    assert issubclass(ConfigError, ValueError)
    error = ConfigError("cluster.gpus", 0, "must be a positive integer")
    assert str(error) == "cluster.gpus=0: must be a positive integer"


# ---- checkpoint policies ---------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "mtbi_h"), [
    # 800 GPUs = 100 nodes; 100 nodes / 1000 h -> one failure every 10 h
    pytest.param(["failures.node_mtbf_hours=1000"], 10.0, id="nodes"),
    # plus 800 GPUs / 8000 h = 0.1 / h more -> 0.2 / h in all
    pytest.param(["failures.node_mtbf_hours=1000", "failures.gpu_mtbf_hours=8000"], 5.0,
                 id="nodes-and-gpus"),
])
def test_young_daly_interval(overrides: list[str], mtbi_h: float) -> None:
    """Young: T = sqrt(2 C M), rounded to whole steps."""
    config = ["checkpoint=young_daly", "cluster.gpus=800", "replicates=1", "horizon_days=1",
              *overrides]
    young_s = math.sqrt(2 * WRITE_MIN * 60 * mtbi_h * 3600)
    steps = round(young_s / STEP_S)
    assert load_scenario(config).interval_steps == steps
    row = simulate(config).iloc[0]
    assert row["interval_min"] == pytest.approx(steps * STEP_S / 60)
    assert row["job_mtbi_h"] == pytest.approx(mtbi_h)


# ---- work_hours mode -------------------------------------------------------------------


@pytest.mark.parametrize(("interval_min", "write_min"), [
    (60, 5), (30, 5), (20, 2), (12, 0),
])
def test_work_hours_whole_intervals(interval_min: float, write_min: float) -> None:
    """No failures, 100 h = a whole number of intervals: segments of T compute + C write."""
    frame = simulate(["work_hours=100", "failures=none",
                      f"checkpoint.interval_minutes={interval_min}",
                      f"checkpoint.write_minutes={write_min}"])
    row = frame.iloc[0]
    intervals = 100 * 60 / interval_min
    assert intervals == int(intervals)
    assert abs(row["useful_h"] - 100) <= 1e-9
    assert row["horizon_h"] == pytest.approx(100 * (interval_min + write_min) / interval_min,
                                             rel=1e-12)
    assert row["checkpoints"] == intervals
    assert row["checkpoint_h"] == pytest.approx(intervals * write_min / 60, abs=1e-9)
    assert row["failures"] == 0
    assert row["rework_h"] == 0
    assert bool(row["completed"])
    assert row["goodput"] == pytest.approx(interval_min / (interval_min + write_min), rel=1e-12)


@pytest.mark.parametrize(("work_hours", "interval_min"), [
    (100, 45),  # 133.3 intervals: the last segment is a third of one
    (100.001, 60),  # 36000.36 steps: rounded up to 36001
    (0.01, 60),  # 3.6 steps -> 4, in one short segment
])
def test_work_hours_partial_last_segment(work_hours: float, interval_min: float) -> None:
    """Work rounds up to whole steps; the last (short) segment is checkpointed too."""
    row = simulate([f"work_hours={work_hours}", "failures=none",
                    f"checkpoint.interval_minutes={interval_min}"]).iloc[0]
    steps = math.ceil(work_hours * 3600 / STEP_S - 1e-9)
    interval_steps = round(interval_min * 60 / STEP_S)
    checkpoints = math.ceil(steps / interval_steps)
    useful_h = steps * STEP_S / 3600
    assert row["useful_h"] == pytest.approx(useful_h, rel=1e-12)
    assert row["checkpoints"] == checkpoints
    assert row["horizon_h"] == pytest.approx(useful_h + checkpoints * WRITE_MIN / 60, rel=1e-12)
    assert bool(row["completed"])
