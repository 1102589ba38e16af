"""Tests of `python -m simulator.report`: a small real sweep, its figures and markdown.

The sweep (two checkpoint policies x two intervals x two topologies, 3 replicates, on
a 256-GPU cluster for 10 days) is run once per module through the CLI; every number the
report prints is recomputed here from its runs.csv with pandas and scipy, not with
simulator.analysis.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

import simulator
from simulator.report import main, write_report

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ["goodput_vs_interval.png", "lost_gpu_hours.png", "cluster_comparison.png"]
SWEPT = {"topology_config": "topology", "checkpoint_config": "checkpoint",
         "checkpoint.interval_minutes": "checkpoint.interval_minutes"}
TIMEOUT_S = 180


def run(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRAINSIM_DEBUG",
                                                            "HYDRA_FULL_ERROR")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    proc = run("simulator", ["-m", "name=report_test", f"hydra.sweep.dir={root / 'sweep'}",
                             "checkpoint=fixed,async", "checkpoint.interval_minutes=30,120",
                             "topology=fat_tree_1to1,fat_tree_2to1", "cluster.gpus=256",
                             "horizon_days=10", "replicates=3"], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "sweep"


@pytest.fixture(scope="module")
def report(sweep: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = run("simulator.report", [str(sweep)], sweep.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, sweep / "report"


def table_rows(markdown: str, section: str) -> list[dict[str, str]]:
    """The first pipe table under `## <section>`, as dicts keyed by header."""
    body = markdown.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in body.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]


def mean_and_half(cell: str) -> tuple[float, float]:
    mean, half = cell.replace(",", "").split("±")
    return float(mean), float(half)


def decimals(cell: str) -> int:
    number = cell.split("±")[0].strip()
    return len(number.split(".")[1]) if "." in number else 0


def written(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_report_writes_every_figure_and_names_it(report):
    proc, out = report
    assert "report ->" in proc.stdout
    text = (out / "report.md").read_text()
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name
        assert f"]({name})" in text
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_markdown_table_matches_runs_csv(report, sweep):
    text = (report[1] / "report.md").read_text()
    runs = pd.read_csv(sweep / "runs.csv")
    rows = table_rows(text, "Results")
    groups = runs.groupby(list(SWEPT), sort=True)
    assert len(rows) == groups.ngroups == 8
    for row in rows:
        key = tuple(row[heading] for heading in SWEPT.values())
        group = next(g for k, g in groups if tuple(map(written, k)) == key)
        assert int(row["n"]) == len(group) == 3
        for column, heading in [("goodput", "goodput"), ("lost_gpu_h", "lost GPU-h"),
                                ("failures", "failures"), ("interval_min", "interval (min)")]:
            values = group[column].astype(float)
            half = stats.t.ppf(0.975, len(values) - 1) * values.std() / math.sqrt(len(values))
            mean_text, half_text = mean_and_half(row[heading])
            tolerance = 0.5 * 10 ** -decimals(row[heading]) + 1e-9
            assert abs(mean_text - values.mean()) <= tolerance, (key, column)
            assert abs(half_text - half) <= tolerance, (key, column)


def test_best_configuration_and_paired_differences(report, sweep):
    text = (report[1] / "report.md").read_text()
    runs = pd.read_csv(sweep / "runs.csv")
    means = runs.groupby(list(SWEPT))["goodput"].mean()
    best = means.idxmax()
    label = ", ".join(f"{h}={written(v)}" for h, v in zip(SWEPT.values(), best, strict=True))
    assert f"By goodput: **{label}**" in text
    base = runs[(runs[list(SWEPT)] == pd.Series(best, index=list(SWEPT))).all(axis=1)]
    rows = table_rows(text, "Best configuration")
    assert len(rows) == 7
    for row in rows:
        values = dict(part.split("=", 1) for part in row["configuration"].split(", "))
        mask = pd.Series(True, index=runs.index)
        for column, heading in SWEPT.items():
            mask &= runs[column].map(written) == values[heading]
        pairs = runs[mask].merge(base, on=["seed", "replicate"], suffixes=("", "_best"))
        diff = pairs["goodput"] - pairs["goodput_best"]
        paired = stats.t.ppf(0.975, len(diff) - 1) * diff.std() / math.sqrt(len(diff))
        assert float(row["Δ goodput"]) == pytest.approx(diff.mean(), abs=6e-5)
        assert float(row["paired 95% CI"].lstrip("± ")) == pytest.approx(paired, abs=6e-5)


def test_young_and_daly_intervals_are_from_the_scenario(report, sweep):
    text = (report[1] / "report.md").read_text()
    mtbi_h = pd.read_csv(sweep / "runs.csv")["job_mtbi_h"].iloc[0]
    young = math.sqrt(2 * 5.0 * mtbi_h * 60)  # minutes; the default write time is 5 min
    found = re.search(r"Young (\d+\.\d) min, Daly (\d+\.\d) min", text)
    assert found, text
    assert float(found.group(1)) == pytest.approx(young, abs=0.05)
    assert float(found.group(2)) < float(found.group(1))  # Daly's is shorter when C << M


def test_report_without_runs_csv_into_another_dir(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy, ignore=shutil.ignore_patterns("report", "runs.csv"))
    report, *figures = write_report(copy, out=tmp_path / "out")
    assert report == tmp_path / "out" / "report.md"
    assert sorted(f.name for f in figures) == sorted(FIGURES)
    assert (sweep / "report" / "report.md").read_text().split("## Results")[1] == \
        report.read_text().split("## Results")[1]


def test_figures_follow_what_varied(tmp_path):
    """One configuration: no interval curve, no hardware comparison, and stale figures
    of an earlier report in the same directory are removed."""
    frame = simulator.simulate(["cluster.gpus=64", "horizon_days=5", "replicates=3"],
                               progress=False)
    frame.to_csv(tmp_path / "summary.csv", index=False)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "cluster_comparison.png").write_bytes(PNG)
    report, *figures = write_report(tmp_path)
    assert [f.name for f in figures] == ["lost_gpu_hours.png"]
    assert not (tmp_path / "report" / "cluster_comparison.png").exists()
    assert "Nothing: a single configuration." in report.read_text()


def test_no_runs_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2  # `python -m simulator.report` exits with it
    assert capsys.readouterr().err == (f"trainsim report: no runs found under "
                                       f"{tmp_path / 'empty'} (expected runs.csv or "
                                       "*/summary.csv)\n")
