"""A single run's table without pandas (simulator/experiments/table.py) gives what pandas
gives: the same summary.csv bytes, the same means and confidence half-widths bit for bit,
the same printed summary and warnings. Each is compared against pandas itself (the path
the files were written through before), never against stored output.
"""

from __future__ import annotations

import math
import os
import random
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.api import load_scenario
from simulator.experiments.feasibility import check_goodput
from simulator.experiments.outputs import format_summary, mean_ci, write_csv_atomic
from simulator.experiments.runner import run_rows
from simulator.experiments.table import Rows, any_present, any_true, nanmean

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["cluster.gpus=64", "horizon_days=2"]


def pandas_csv(rows: Rows) -> str:
    return pd.DataFrame(rows.rows, columns=rows.columns).to_csv(index=False)


def random_doubles(n: int, seed: int) -> list[float]:
    """Doubles from random bit patterns (every exponent: subnormals, huge, tiny), the
    values whose shortest text is hardest, and a few awkward constants."""
    rng = random.Random(seed)
    bits = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(n)]
    awkward = [0.0, -0.0, 0.1, 0.1 + 0.2, 1 / 3, 1e16, 1e15, 9999999999999998.0, 1e-4,
               1e-5, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e22, 1e23,
               123456789.0, -2.5, 100.0, math.inf, -math.inf]
    return [x for x in bits if not math.isnan(x)] + awkward


def run_table(overrides: list[str], size: list[str] = SMALL) -> Rows:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_rows(load_scenario([*size, *overrides]), progress=False)


COLUMNS = {  # one column per way pandas infers a column's type from plain values
    "bools": [True, False, True, False],
    "ints": [0, -7, 2**62, 3],
    "ints_and_floats": [1, 2.5, 3, -0.0],
    "ints_and_none": [1, None, 3, 4],  # pandas: float64, 1 -> "1.0"
    "ints_and_nan": [1, math.nan, 3, 4],
    "floats_and_none": [0.5, None, math.inf, -math.inf],
    "strings": ["a", "b,c", 'say "hi"', "two\nlines"],
    "strings_and_none": ["x", None, "", "y"],
    "strings_and_numbers": ["x", 1, 2.5, math.nan],
    "nones": [None, None, None, None],
    "nans": [math.nan] * 4,
    "bools_and_none": [True, None, False, True],
    "bools_and_ints": [True, 1, 0, False],
    "unicode": ["ü", "±", "日本", "x"],
    "numpy_floats": [np.float64(0.1), np.float64(1e16), np.float64(-0.0), np.float64(2.5)],
    "numpy_floats_ints_none": [np.float64(1 / 3), 3, None, 0.25],
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_each_kind_of_column_is_written_as_pandas_writes_it(name):
    rows = Rows([name], [{name: v} for v in COLUMNS[name]])
    assert rows.csv_text() == pandas_csv(rows)


def test_all_kinds_together_and_empty_tables():
    rows = Rows(list(COLUMNS), [{k: v[i] for k, v in COLUMNS.items()} for i in range(4)])
    assert rows.csv_text() == pandas_csv(rows)
    assert Rows(["a", "b"], []).csv_text() == pandas_csv(Rows(["a", "b"], [])) == "a,b\n"


@pytest.mark.parametrize("seed", range(4))
def test_floats_are_written_as_pandas_writes_them(seed):
    """numpy's shortest text of a float64 cell is Python's repr, for every exponent."""
    values = random_doubles(2000, seed)
    rows = Rows(["x", "y"], [{"x": v, "y": i} for i, v in enumerate(values)])
    assert rows.csv_text() == pandas_csv(rows)
    mixed = Rows(["x"], [{"x": v if i % 3 else int(i)} for i, v in enumerate(values)
                         if math.isfinite(v) or i % 3])
    assert mixed.csv_text() == pandas_csv(mixed)  # ints in a float column: "3.0"
    numpy = Rows(["x"], [{"x": np.float64(v) if i % 2 else v} for i, v in enumerate(values)])
    assert numpy.csv_text() == pandas_csv(numpy)


def test_values_it_does_not_know_are_left_to_pandas(tmp_path):
    """Other numpy scalars, a numpy float among text (pandas writes its repr), a list
    (and a row without the column): csv_text declines, and the file is written through
    pandas, to pandas' bytes."""
    for value in (np.int64(3), np.bool_(True), [1, 2], "x"):
        rows = Rows(["a"], [{"a": value}, {"a": np.float64(0.5)}])
        assert rows.csv_text() is None
        write_csv_atomic(rows, tmp_path / "t.csv")
        assert (tmp_path / "t.csv").read_text() == pandas_csv(rows)
    for value in (np.int64(3), np.bool_(True), [1, 2]):
        rows = Rows(["a", "b"], [{"a": value, "b": 1.5}, {"a": value, "b": 2}])
        assert rows.csv_text() is None
        write_csv_atomic(rows, tmp_path / "t.csv")
        assert (tmp_path / "t.csv").read_text() == pandas_csv(rows)
    assert Rows(["a", "b"], [{"a": 1}]).csv_text() is None


@pytest.mark.parametrize("overrides", [
    ["replicates=3", "checkpoint=young_daly"],
    # the llama3 catalog's ledger sums at 1,024 GPUs are numpy floats
    ["replicates=2", "cluster=llama3_16k", "failures=llama3", "topology=llama3_roce",
     "cluster.gpus=1024"]])
def test_a_runs_rows_are_written_and_framed_as_before(tmp_path, overrides):
    """The rows of a run (every summary and configuration column: ints, floats, nan,
    None, text, bools) with the command line's front columns: the same bytes as pandas,
    and `frame()` is the table `run_scenario` returned before (pd.DataFrame of the rows)."""
    rows = run_table(overrides, size=["horizon_days=2"]).with_front(
        {"cluster_config": "default", "workload_config": None, "horizon_days": 2,
         "checkpoint.write_minutes": 2.5, "events": False})
    if "cluster=llama3_16k" in overrides:  # the case this parameter is for
        assert np.float64 in {type(v) for row in rows.rows for v in row.values()}
    text = rows.csv_text()
    assert text is not None and text == pandas_csv(rows)
    write_csv_atomic(rows, tmp_path / "summary.csv")
    assert (tmp_path / "summary.csv").read_bytes() == pandas_csv(rows).encode()
    pd.testing.assert_frame_equal(rows.frame(), pd.DataFrame(rows.rows, columns=rows.columns))
    with pytest.raises(ValueError, match="goodput"):
        rows.with_front({"goodput": 1.0})


def test_front_columns_make_the_table_the_concatenation_made(tmp_path):
    """The command line's columns in front (group choices, overridden values of any
    type, an OmegaConf list or dict included): the frame and the file are those of the
    pandas concatenation the command line built before."""
    from omegaconf import OmegaConf

    node = OmegaConf.create({"dims": [4, 4, 8], "params": {"x": 1}})
    front = {"checkpoint_config": "fixed", "workload_config": None, "horizon_days": 2,
             "checkpoint.write_minutes": 2.5, "events": False, "dims": node.dims,
             "params": node.params}
    table = run_table(["replicates=2"])
    frame = table.frame()
    before = pd.concat([pd.DataFrame({k: [v] * len(frame) for k, v in front.items()},
                                     index=frame.index), frame], axis=1)
    rows = table.with_front(front)
    pd.testing.assert_frame_equal(rows.frame(), before)
    assert rows.csv_text() is None  # the OmegaConf values: left to pandas, to its bytes
    write_csv_atomic(rows, tmp_path / "summary.csv")
    assert (tmp_path / "summary.csv").read_text() == before.to_csv(index=False)
    plain = table.with_front({k: v for k, v in front.items() if k not in ("dims", "params")})
    assert plain.csv_text() == before.drop(columns=["dims", "params"]).to_csv(index=False)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 16, 17, 100, 257])
def test_means_and_confidence_intervals_are_pandas_numbers(n):
    """Bit for bit: numpy's pairwise sums from 8 values on group differently from a
    running sum, so the lengths straddle the blocks."""
    rng = random.Random(n)
    values = [rng.lognormvariate(0, 3) * rng.choice((1, -1)) for _ in range(n)]
    holes = [None if i % 5 == 4 else v for i, v in enumerate(values)]
    for column in (values, holes, [int(v) for v in values], [v > 0 for v in values]):
        series = pd.Series(column)
        assert mean_ci(column) == mean_ci(series) or all(
            map(math.isnan, (*mean_ci(column), *mean_ci(series))))
        assert nanmean(column) == series.mean() or math.isnan(series.mean())
        assert any_true(column) == series.any()
        assert any_present(column) == series.notna().any()


def test_mean_with_missing_values_fills_like_pandas():
    values = [0.1] * 9 + [math.nan] + [0.7] * 9
    assert nanmean(values) == pd.Series(values).mean()
    assert math.isnan(nanmean([None, math.nan]))


@pytest.mark.parametrize("overrides", [["replicates=1"], ["replicates=12"],
                                       ["replicates=9", "restart=in_process"],
                                       ["replicates=2", "cluster.gpu_hour_usd=2.5"]])
def test_the_printed_summary_is_the_same(overrides):
    rows = run_table(overrides)
    assert format_summary(rows) == format_summary(rows.frame())
    assert rows.mean("goodput") == rows.frame()["goodput"].mean()


def test_the_goodput_warning_is_the_same():
    """A run below the goodput floor (a 6-minute MTBF, 1 h restarts) warns the same from
    rows and from their frame; one above it warns from neither."""
    low = run_table(["replicates=3", "failures.gpu_mtbf_hours=48",
                     "restart.restart_minutes=60"])
    assert low.mean("goodput") < 0.2
    message = check_goodput(low)
    assert message is not None and message == check_goodput(low.frame())
    high = run_table(["replicates=2"])
    assert check_goodput(high) is None and check_goodput(high.frame()) is None


#: Runs the command line in a fresh interpreter; with "pandas" first, every table is
#: written through pandas' to_csv, as before table.py.
_CLI = """
import sys
from simulator.experiments import table
if sys.argv[1] == "pandas":
    table.Rows.csv_text = lambda self: None
from simulator.__main__ import main
sys.argv = ["simulator", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("overrides", [
    [],
    [*SMALL, "replicates=3", "checkpoint.interval_minutes=45.5", "events=true",
     "power.series=true", "cluster.accelerator=H100", "seed=7", "restart=hot_spares"],
])
def test_the_command_line_writes_what_pandas_wrote(tmp_path, overrides):
    """summary.csv (and events.csv, power.csv) of a run, byte for byte, and its printed
    summary, written with and without pandas."""
    out = {}
    for mode in ("plain", "pandas"):
        cwd = tmp_path / mode
        cwd.mkdir()
        env = {**os.environ, "CI": "true", "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        proc = subprocess.run([sys.executable, "-c", _CLI, mode, "name=same", *overrides],
                              cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        files = sorted(p.name for p in (cwd / "results" / "same").glob("*.csv"))
        out[mode] = (proc.stdout.replace(str(cwd), "<cwd>"),
                     {name: (cwd / "results" / "same" / name).read_bytes() for name in files})
    assert out["plain"] == out["pandas"]
    assert "summary.csv" in out["plain"][1]
    if overrides:
        assert {"events.csv", "power.csv"} <= set(out["plain"][1])
