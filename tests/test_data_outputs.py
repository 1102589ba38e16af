"""Outputs a data scientist expects: runs.parquet beside runs.csv with the same rows,
`simulate(..., config_dir=...)` for one's own YAML, and trainsim's own version."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import simulator
from simulator import simulate
from simulator.errors import ConfigError
from simulator.experiments.outputs import parquet_ready, write_parquet_atomic
from tests.clirun import describe, find_console_script, run_cli

ROOT = Path(__file__).resolve().parents[1]


def project_version() -> str:
    """The version pyproject.toml declares (read here, not through importlib)."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_package_knows_its_version():
    assert simulator.__version__ == project_version()
    assert "__version__" in dir(simulator)


@pytest.mark.parametrize("console_script", [False, True])
def test_version_flag_prints_trainsims_version_not_hydras(tmp_path, console_script):
    if console_script:
        find_console_script()  # fails with what to install when it is missing
    proc = run_cli(["--version"], tmp_path, console_script=console_script, timeout=60)
    assert proc.returncode == 0, describe(proc)
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"trainsim {project_version()} ("), first
    assert not proc.stdout.startswith("Hydra"), proc.stdout
    assert not list(tmp_path.iterdir())  # no run, no results/ folder


def test_runs_parquet_holds_the_rows_of_runs_csv(tmp_path):
    proc = run_cli(["-m", "name=pq", "checkpoint.interval_minutes=30,90", "replicates=2",
                    "horizon_days=5", "cluster.gpus=256"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    sweep = tmp_path / "results" / "pq"
    csv = pd.read_csv(sweep / "runs.csv")
    parquet = pd.read_parquet(sweep / "runs.parquet")
    assert len(csv) == 4 and list(parquet.columns) == list(csv.columns)
    pd.testing.assert_frame_equal(parquet, csv, check_dtype=False)
    # typed: numbers stay numbers, text stays text
    assert pd.api.types.is_float_dtype(parquet["goodput"])
    assert pd.api.types.is_integer_dtype(parquet["replicate"])
    assert set(parquet["checkpoint.interval_minutes"]) == {30, 90}
    assert not list(sweep.glob(".*.tmp"))


def test_a_column_of_mixed_types_is_written_as_text(tmp_path):
    frame = pd.DataFrame({"failures.trace": ["a.csv", 3, None], "goodput": [0.9, 0.8, 0.7]})
    path = write_parquet_atomic(frame, tmp_path / "runs.parquet")
    back = pd.read_parquet(path)
    assert list(back["failures.trace"].iloc[:2]) == ["a.csv", "3"]
    assert back["failures.trace"].iloc[2] is None
    assert list(back["goodput"]) == [0.9, 0.8, 0.7]
    typed = frame[["goodput"]]
    assert parquet_ready(typed) is typed  # nothing mixed: written as it is
    assert not list(tmp_path.glob(".*.tmp"))


def test_simulate_takes_your_own_config_directory(tmp_path):
    own = tmp_path / "my_configs" / "failures"
    own.mkdir(parents=True)
    (own / "myfleet.yaml").write_text("kind: exponential\ngpu_mtbf_hours: null\n"
                                      "node_mtbf_hours: 5000.5\n")
    rows = simulate(["failures=myfleet", "horizon_days=5"], config_dir=own.parent)
    assert rows["failures_node_mtbf_h"].iloc[0] == 5000.5
    assert math.isnan(rows["failures_gpu_mtbf_h"].iloc[0])
    # the same file through the command line's --config-dir gives the same row
    proc = run_cli(["--config-dir", str(own.parent), "failures=myfleet", "horizon_days=5",
                    f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    cli = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert cli["goodput"].iloc[0] == rows["goodput"].iloc[0]
    assert cli["failures"].iloc[0] == rows["failures"].iloc[0] > 0


def test_a_config_dir_that_is_not_a_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        simulate([], config_dir=tmp_path / "nowhere")
    assert caught.value.key == "config_dir"
    assert str(tmp_path / "nowhere") in str(caught.value)
    assert "failures/myfleet.yaml" in caught.value.allowed
