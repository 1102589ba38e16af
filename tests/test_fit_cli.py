"""`python -m simulator.fit`: line-numbered errors with exit 2, the printed fits, and a
written failures config that the simulator runs and that reproduces the fitted rates."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from simulator.fit import config_name, main
from tests.clirun import cli_env, describe, run_cli
from tests.fleetlogs import EXAMPLE, fleet_rows, write_log

HEADER = "timestamp,host,component,scope,gpu"
FLEET = ["--hosts", "2", "--gpus-per-host", "8", "--start", "2025-01-01",
         "--end", "2025-02-01"]


def run_fit(tmp_path: Path, lines: list[str], *extra: str) -> int:
    log = tmp_path / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    return main([str(log), *FLEET, "--gof-samples", "0", *extra])


@pytest.mark.parametrize(("rows", "message"), [
    (["2025-01-02T00:00:00,a,psu,node,", "yesterday,a,psu,node,"],
     "line 3: timestamp='yesterday' is not an ISO 8601 time"),
    (["2025-01-02T00:00:00,a,psu,node,,extra"], "line 2: more fields than the header's 5"),
    (["2025-01-02T00:00:00,a,psu"], "line 2: fewer fields than the header's 5"),
    (["2025-01-02T00:00:00,a,psu,node,", "2025-01-03T00:00:00,b,psu,node,",
      "2025-01-04T00:00:00,c,psu,node,"],
     "line 4: host 'c' is host number 3 of the log, beyond --hosts=2"),
    (["2024-12-31T23:00:00,a,psu,node,"], "line 2: timestamp 2024-12-31T23:00:00+00:00 is "
     "outside the window"),
    (["2025-02-01T00:00:01Z,a,psu,node,"], "line 2: timestamp 2025-02-01T00:00:01+00:00 is "
     "outside the window"),
    (["2025-01-01T00:00:00,a,psu,node,"], "line 2: timestamp 2025-01-01T00:00:00+00:00 is "
     "outside the window"),  # a failure at the start would be a gap of zero
    (["2025-01-05T00:00:00,a,psu,node,", "2025-01-04T00:00:00,b,psu,node,"],
     "line 3: timestamp 2025-01-04T00:00:00 is earlier than line 2's: sort the log"),
    (["2025-01-05T00:00:00,a,psu,node,", "2025-01-05T00:00:00,b,psu,node,",
      "2025-01-05T00:00:00,a,psu,node,"],
     "line 4: repeats line 2 (same timestamp, host, component and gpu)"),
    (["2025-01-05T00:00:00,a,psu,rack,"], "line 2: scope='rack' must be one of gpu, node, "
     "switch, job"),
    (["2025-01-05T00:00:00,a,hbm,gpu,8"], "line 2: gpu=8 must be an index in 0..7"),
    (["2025-01-05T00:00:00,a,hbm,gpu,-1"], "line 2: gpu=-1 must be an index in 0..7"),
    (["2025-01-05T00:00:00,a,hbm,gpu,"], "line 2: a scope=gpu row needs its gpu index"),
    (["2025-01-05T00:00:00,a,psu,node,3"], "line 2: gpu=3 is only read on scope=gpu rows"),
    (["2025-01-05T00:00:00,a,tor,switch,"], "line 2: a switch row needs the fleet's switch "
     "count (--switches)"),
    (["2025-01-05T00:00:00,a,psu,node,", "2025-01-06T00:00:00,a,psu,gpu,1"],
     "line 3: component 'psu' has scope gpu here and node on line 2"),
    (["2025-01-05T00:00:00,,psu,node,"], "line 2: host is empty"),
    ([], "has no failure rows: nothing to fit"),
])
def test_every_malformed_log_gives_its_line_and_exit_2(tmp_path, capsys, rows, message):
    assert run_fit(tmp_path, [HEADER, *rows]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trainsim: config error: log=") and message in err, err
    assert err.count("\n") == 1


def test_a_header_without_a_required_column_is_line_1(tmp_path, capsys):
    assert run_fit(tmp_path, ["time,host,component", "2025-01-05T00:00:00,a,psu"]) == 2
    assert "line 1: the header lacks timestamp" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--end", "2024-12-01"], "--end=2024-12-01T00:00:00+00:00: must be after --start"),
    (["--start", "soon"], "--start=soon: must be an ISO 8601 time"),
    (["--hosts", "0"], "--hosts=0: must be a positive integer"),
])
def test_a_bad_fleet_option_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert run_fit(tmp_path, [HEADER, "2025-01-05T00:00:00,a,psu,node,"], *args) == 2
    assert message in capsys.readouterr().err


def test_the_command_line_prints_no_traceback(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(f"{HEADER}\n2025-01-05T00:00:00,a,psu,node,\n2025-01-04T00:00:00,a,psu,"
                   "node,\n")
    proc = subprocess.run([sys.executable, "-m", "simulator.fit", str(log), *FLEET],
                          capture_output=True, text=True, env=cli_env(), check=False)
    assert proc.returncode == 2, describe(proc)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("is earlier than line 2's: sort the log by "
                                        "timestamp"), proc.stderr


def test_component_names_become_config_keys():
    taken: set[str] = set()
    assert [config_name(c, taken) for c in ("GPU", "node", "PSU fan", "psu-fan", "3v3")] == \
        ["gpu_failure", "node_failure", "psu_fan", "psu_fan_2", "c_3v3"]


def expected_renewals(shape: float, mean_h: float, horizon_h: float) -> float:
    """Mean failures of one unit renewed over `horizon_h` with Weibull lifetimes, by
    Monte Carlo in numpy (200,000 units)."""
    rng = np.random.default_rng(0)
    scale = mean_h / math.gamma(1 + 1 / shape)
    draws = max(20, int(6 * horizon_h / mean_h) + 20)
    times = np.cumsum(scale * rng.weibull(shape, (200_000, draws)), axis=1)
    assert (times[:, -1] > horizon_h).all()
    return float((times <= horizon_h).sum(axis=1).mean())


def test_the_written_config_runs_and_reproduces_the_fitted_rates(tmp_path, capsys):
    """A log of 8 hosts x 8 GPUs over 2,000 h (GPU HBM Weibull shape 0.7, mean 400 h;
    PSU exponential 500 h per host; NCCL timeouts 5,000 h per GPU), fitted, written to
    tmp/failures/fleet.yaml and simulated for 30 days without spares and with a repair
    of 3.6 s, so every node serves the whole horizon: each cause's mean count per
    replicate is units x the fitted renewal function (exponential: units x 720 h / MTBF;
    Weibull: Monte Carlo above), within 4 standard errors of the replicates' mean."""
    log = tmp_path / "fleet.csv"
    write_log(log, fleet_rows(5, 8, 8, 2000.0, 0.7, 400 / math.gamma(1 + 1 / 0.7), 500.0,
                              5000.0), timespec="milliseconds")
    out = tmp_path / "conf" / "failures" / "fleet.yaml"
    assert main([str(log), "--hosts", "8", "--gpus-per-host", "8", "--start", "2025-01-01",
                 "--end", "2025-03-25T08:00:00", "--gof-samples", "0", "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"--config-dir {out.parent.parent} failures=fleet" in printed
    catalog = yaml.safe_load(out.read_text())["components"]
    assert catalog["hbm"]["kind"] == "weibull" and catalog["psu"]["kind"] == "exponential"
    assert (out.parent / "fleet_hosts.csv").read_text().startswith("host,node\n")
    proc = run_cli(["--config-dir", str(out.parent.parent), "failures=fleet",
                    "cluster.gpus=64", "cluster.gpus_per_node=8", "cluster.spare_nodes=0",
                    "restart.repair_hours=0.001", "replicates=40", "horizon_days=30",
                    "name=fitted"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    runs = pd.read_csv(next(tmp_path.glob("results/fitted/**/summary.csv")))
    horizon = 720.0
    hbm = catalog["hbm"]
    expected = {"gpu_failures": 64 * expected_renewals(hbm["shape"], hbm["mtbf_hours"],
                                                       horizon),
                "node_failures": 8 * horizon / catalog["psu"]["mtbf_hours"],
                "job_failures": 64 * horizon / catalog["nccl_timeout"]["mtbf_hours"]}
    for column, mean in expected.items():
        got = runs[column]
        se = got.std(ddof=1) / math.sqrt(len(got))
        assert abs(got.mean() - mean) <= 4 * se, (column, got.mean(), mean, se)


def test_the_shipped_example_log_is_the_generator_s(tmp_path):
    """tests/data/fleet_log.csv (the README's walk-through) is what `python -m
    tests.fleetlogs` writes."""
    fresh = tmp_path / "fleet_log.csv"
    write_log(fresh, fleet_rows(**EXAMPLE))
    shipped = Path(__file__).parent / "data" / "fleet_log.csv"
    assert shipped.read_text() == fresh.read_text()
