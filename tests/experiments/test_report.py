"""Tests of `python -m simulator.report`: small real sweeps, their figures and markdown.

The main sweep (two checkpoint policies x two intervals x two topologies, 3 replicates,
on a 256-GPU cluster for 10 days, a fixed-step workload) and the issue's MoE fabric
sweep are run once per module through the CLI; every number the report prints is
recomputed here from runs.csv with pandas and scipy, not with simulator.experiments.analysis or
simulator.experiments.decision.
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
from omegaconf import OmegaConf
from scipy import stats

import simulator
from simulator import simulate
from simulator.experiments.decision import OBJECTIVES, choose_objective, decide
from simulator.experiments.report import main, power_series, write_report
from simulator.experiments.results import swept_keys

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ["goodput_vs_interval.png", "lost_gpu_hours.png", "comparison.png",
           "paired_differences.png"]
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


def paired(runs: pd.DataFrame, mask: pd.Series, base: pd.DataFrame, metric: str
           ) -> tuple[float, float]:
    """Mean and Student-t 95% half-width of (rows in `mask`) - `base`, replicate by
    replicate."""
    pairs = runs[mask].merge(base, on=["seed", "replicate"], suffixes=("", "_best"))
    diff = pairs[metric] - pairs[f"{metric}_best"]
    return diff.mean(), stats.t.ppf(0.975, len(diff) - 1) * diff.std() / math.sqrt(len(diff))


def test_the_decision_and_its_paired_differences(report, sweep):
    """A fixed-step workload runs the same step everywhere: the objective is goodput. The
    topology does not change a fixed step, so the best is tied with its twin."""
    text = (report[1] / "report.md").read_text()
    assert "Objective: **goodput**" in text
    runs = pd.read_csv(sweep / "runs.csv")
    means = runs.groupby(list(SWEPT))["goodput"].mean()
    best = means.idxmax()
    label = ", ".join(f"{h}={written(v)}" for h, v in zip(SWEPT.values(), best, strict=True))
    base = runs[(runs[list(SWEPT)] == pd.Series(best, index=list(SWEPT))).all(axis=1)]
    rows = table_rows(text, "Decision")
    assert len(rows) == 7
    tied = [label]
    for row in rows:
        values = dict(part.split("=", 1) for part in row["configuration"].split(", "))
        mask = pd.Series(True, index=runs.index)
        for column, heading in SWEPT.items():
            mask &= runs[column].map(written) == values[heading]
        diff, half = paired(runs, mask, base, "goodput")
        assert float(row["Δ goodput"]) == pytest.approx(diff, abs=6e-5)
        assert float(row["paired 95% CI"].lstrip("± ")) == pytest.approx(half, abs=6e-5)
        worse = abs(diff) > half
        assert (row["verdict"] == "worse") == worse, row
        if not worse:
            tied.append(row["configuration"])
    twin = label.replace("fat_tree_1to1", "fat_tree_2to1") if "1to1" in label \
        else label.replace("fat_tree_2to1", "fat_tree_1to1")
    assert twin in tied  # identical in every replicate
    assert "No winner: tied within the CI: " + ", ".join(f"**{c}**" for c in tied) in text


def test_young_and_daly_intervals_are_from_the_scenario(report, sweep):
    """Marks for the blocking policy (fixed), none for async (it does not block for C)."""
    text = (report[1] / "report.md").read_text()
    assert "No Young/Daly marks for non-blocking checkpoint policies" in text
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


def test_runs_csv_moved_alone_reports_fully(report, sweep, tmp_path):
    """runs.csv copied without its run directories (no .hydra, no summary.csv): the same
    report, Young/Daly marks included, from the table alone."""
    shutil.copy(sweep / "runs.csv", tmp_path / "runs.csv")
    moved, *figures = write_report(tmp_path / "runs.csv")
    assert sorted(f.name for f in figures) == sorted(FIGURES)
    here = (report[1] / "report.md").read_text()
    assert "Optimum interval: Young" in here
    assert moved.read_text().split("\n", 3)[3] == here.split("\n", 3)[3]  # after the path


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
    assert "## Decision" not in report.read_text()
    assert "Nothing: a single configuration." in report.read_text()


def test_no_runs_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2  # `python -m simulator.report` exits with it
    assert capsys.readouterr().err == (f"trainsim report: no runs found under "
                                       f"{tmp_path / 'empty'} (expected runs.csv or "
                                       "*/summary.csv)\n")


# ---- the objective decides ------------------------------------------------------------------

MOE_SWEEP = ["topology=fat_tree_1to1,fat_tree_2to1,fat_tree_4to1", "workload=moe_8x7b",
             "replicates=5"]


@pytest.fixture(scope="module")
def moe(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The issue's fabric sweep, as a user runs it, and its report."""
    root = tmp_path_factory.mktemp("moe")
    proc = run("simulator", ["-m", "name=fabrics_moe", f"hydra.sweep.dir={root / 'sweep'}",
                             *MOE_SWEEP], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = run("simulator.report", [str(root / "sweep")], root)
    assert report.returncode == 0, report.stderr[-3000:]
    return root / "sweep", proc


def test_moe_fabrics_the_1to1_fabric_wins_by_effective_throughput(moe):
    """The 4:1 fabric is much slower per step (MoE all-to-all crosses the spine) while all
    three fail alike: goodput cannot tell them apart, effective throughput can, and the
    paired difference against each other fabric excludes zero."""
    sweep, _ = moe
    text = (sweep / "report" / "report.md").read_text()
    runs = pd.read_csv(sweep / "runs.csv")
    metric = "effective_tokens_per_s"
    assert runs[metric].to_numpy() == pytest.approx(
        (runs["tokens_per_s"] * runs["useful_h"] / runs["horizon_h"]).to_numpy(), rel=1e-9)
    means = runs.groupby("topology_config")[metric].mean()
    assert means.idxmax() == "fat_tree_1to1"
    assert "Objective: **effective tokens/s**" in text
    assert "Winner: **topology=fat_tree_1to1**" in text
    base = runs[runs["topology_config"] == "fat_tree_1to1"]
    rows = {row["configuration"]: row for row in table_rows(text, "Decision")}
    assert sorted(rows) == ["topology=fat_tree_2to1", "topology=fat_tree_4to1"]
    for other in ("fat_tree_2to1", "fat_tree_4to1"):
        diff, half = paired(runs, runs["topology_config"] == other, base, metric)
        assert diff + half < 0  # significantly less throughput than the 1:1 fabric
        row = rows[f"topology={other}"]
        assert float(row[f"Δ {'effective tokens/s'}"].replace(",", "")) == \
            pytest.approx(diff, abs=0.5)
        assert float(row["paired 95% CI"].lstrip("± ").replace(",", "")) == \
            pytest.approx(half, abs=0.5)
        assert row["verdict"] == "worse"
    runner_up = means.drop("fat_tree_1to1").idxmax()
    loss = means["fat_tree_1to1"] - means[runner_up]
    assert f"Runner-up: topology={runner_up} is worse by {loss:,.0f} tokens/s" in text


def test_moe_fabrics_figures_fit_the_question(moe):
    sweep, proc = moe
    out = sweep / "report"
    assert not (out / "goodput_vs_interval.png").exists()  # the interval was not swept
    for name in ("lost_gpu_hours.png", "comparison.png", "paired_differences.png"):
        assert (out / name).read_bytes().startswith(PNG), name
    # the end-of-sweep digest shows the effective throughput of each fabric
    runs = pd.read_csv(sweep / "runs.csv")
    for fabric, group in runs.groupby("topology_config"):
        line = next(x for x in proc.stdout.splitlines() if f"topology_config={fabric}" in x)
        assert f"eff. tokens/s {group['effective_tokens_per_s'].mean():,.0f}" in line


def test_moe_fabrics_by_cost_per_token(moe, tmp_path):
    sweep, _ = moe
    assert main([str(sweep), "--objective", "usd_per_mtoken", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    runs = pd.read_csv(sweep / "runs.csv")
    cheapest = runs.groupby("topology_config")["usd_per_mtoken"].mean().idxmin()
    assert "Objective: **$ per million useful tokens** (`usd_per_mtoken`, lower is better)" \
        in text
    assert f"Winner: **topology={cheapest}**" in text


def test_an_objective_the_rows_lack_is_a_one_line_error(moe, tmp_path, capsys):
    sweep, _ = moe  # moe_8x7b has no published token budget: no time to train
    assert main([str(sweep), "--objective", "time_to_train_days", "--out",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "workload.train_tokens" in err


def simulated(column: str, values: list, base: list[str], replicates: int = 4
              ) -> pd.DataFrame:
    """One simulate() per value of `column`, as a sweep's tidy table."""
    frames = [simulate([*base, f"{column}={v}", f"replicates={replicates}"],
                       progress=False).assign(**{column: v}) for v in values]
    table = pd.concat(frames, ignore_index=True)
    return table[[column, *(c for c in table.columns if c != column)]]


def test_configurations_that_differ_by_nothing_relevant_are_tied(tmp_path):
    # manual repairs never happen (restart.manual_probability is 0): their length is moot
    runs = simulated("restart.manual_repair_hours", [72, 96],
                     ["cluster.gpus=64", "horizon_days=5", "failures.node_mtbf_hours=300"])
    assert runs["failures"].sum() > 0
    runs.to_csv(tmp_path / "runs.csv", index=False)
    text = write_report(tmp_path / "runs.csv", out=tmp_path / "out")[0].read_text()
    assert "Objective: **goodput**" in text
    assert ("No winner: tied within the CI: **restart.manual_repair_hours=72**, "
            "**restart.manual_repair_hours=96**") in text
    assert "is identical to restart.manual_repair_hours=72 in every replicate" in text
    assert not (tmp_path / "out" / "comparison.png").exists()  # the same step: only goodput


def test_a_faster_step_wins_by_throughput_and_by_time_to_train(tmp_path):
    """Direction: most effective tokens/s, fewest days. A 4-s step beats a 5-s one with
    the same failures (llama3_70b: 4,194,304 tokens a step, a 15T-token budget)."""
    runs = simulated("workload.step_seconds", [5, 4],
                     ["workload=llama3_70b", "horizon_days=3", "failures.node_mtbf_hours=500"])
    runs.to_csv(tmp_path / "runs.csv", index=False)
    text = write_report(tmp_path / "runs.csv", out=tmp_path / "a")[0].read_text()
    assert "Objective: **effective tokens/s**" in text  # the default: the step differs
    assert "Winner: **workload.step_seconds=4**" in text
    text = write_report(tmp_path / "runs.csv", out=tmp_path / "b",
                        objective="time_to_train_days")[0].read_text()
    assert "(`time_to_train_days`, lower is better)" in text
    assert "Winner: **workload.step_seconds=4**" in text
    fast, slow = (runs.loc[runs["workload.step_seconds"] == s, "time_to_train_days"]
                  .to_numpy() for s in (4, 5))
    assert (fast < slow).all()
    text = write_report(tmp_path / "runs.csv", out=tmp_path / "c",
                        objective="goodput")[0].read_text()
    assert "Objective: **goodput**" in text  # still asked for: the user decides


def decision_frame(values: dict[str, list[float]], column: str) -> pd.DataFrame:
    return pd.DataFrame([{"configuration": name, "seed": 0, "replicate": r, column: v}
                         for name, series in values.items() for r, v in enumerate(series)])


@pytest.mark.parametrize(("column", "winner"), [
    ("effective_tokens_per_s", "high"), ("goodput", "high"),
    ("usd_per_mtoken", "low"), ("time_to_train_days", "low")])
def test_objective_direction(column, winner):
    low = [1.0, 1.2, 1.1, 1.3]
    frame = decision_frame({"low": low, "high": [v + 0.5 for v in low]}, column)
    decision = decide(frame, OBJECTIVES[column])
    assert decision.winner == winner and decision.tied == [winner]
    assert abs(decision.runner_up["diff"]) == pytest.approx(0.5)
    assert decision.runner_up["paired_ci"] == pytest.approx(0.0, abs=1e-12)  # constant gap


def test_a_difference_inside_the_ci_is_a_tie():
    # differences +0.1, -0.1, +0.2, -0.15: mean 0.0125, far inside its 95% CI
    frame = decision_frame({"a": [1.0, 1.2, 1.1, 1.3], "b": [1.1, 1.1, 1.3, 1.15]},
                           "goodput")
    decision = decide(frame, OBJECTIVES["goodput"])
    assert decision.best == "b" and decision.winner is None
    assert decision.tied == ["b", "a"]
    diffs = pd.Series([1.0, 1.2, 1.1, 1.3]) - pd.Series([1.1, 1.1, 1.3, 1.15])
    half = stats.t.ppf(0.975, 3) * diffs.std() / 2
    assert decision.runner_up["paired_ci"] == pytest.approx(half, rel=1e-12)


def test_the_default_objective_follows_what_changes_the_step():
    rows = pd.DataFrame({"step_s": [1.0, 1.0], "tokens_per_s": [5.0, 5.0],
                         "effective_tokens_per_s": [4.0, 4.5],
                         "time_to_train_days": [math.nan] * 2})
    assert choose_objective(rows)[0].column == "goodput"
    slower = rows.assign(step_s=[1.0, 1.1], tokens_per_s=[5.0, 5 / 1.1])
    assert choose_objective(slower)[0].column == "effective_tokens_per_s"
    bigger_batch = rows.assign(tokens_per_s=[5.0, 6.0])  # same step, more tokens in it
    assert choose_objective(bigger_batch)[0].column == "effective_tokens_per_s"
    fixed_step = slower.assign(tokens_per_s=math.nan, effective_tokens_per_s=math.nan)
    objective, reason = choose_objective(fixed_step)
    assert objective.column == "goodput" and "workload.train_steps" in reason
    budget = fixed_step.assign(time_to_train_days=[10.0, 11.0])
    assert choose_objective(budget)[0].column == "time_to_train_days"
    with pytest.raises(ValueError, match=r"workload\.train_tokens"):
        choose_objective(rows, "time_to_train_days")


# ---- sweep folders and the digest ----------------------------------------------------------


def test_a_glob_sweep_is_grouped_resumed_and_moved_aside_with_its_report(tmp_path):
    sweep = tmp_path / "sweep"
    first = run("simulator", ["-m", f"hydra.sweep.dir={sweep}", "topology=glob(fat_tree_*)",
                              "cluster.gpus=64", "horizon_days=2", "replicates=2"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    digest = [x for x in first.stdout.splitlines() if x.startswith("topology_config=")]
    assert [x.split()[0] for x in digest] == [f"topology_config=fat_tree_{r}"
                                             for r in ("1to1", "2to1", "4to1")]
    assert all("(n=2)" in x for x in digest)
    again = run("simulator", ["-m", f"hydra.sweep.dir={sweep}", "topology=glob(fat_tree_*)",
                              "cluster.gpus=64", "horizon_days=2", "replicates=2"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "holds 3 of this sweep's 3 runs: resuming" in again.stdout  # glob expanded
    assert again.stdout.count("replicates, reused)") == 3
    assert main([str(sweep)]) == 0
    second = run("simulator", ["-m", f"hydra.sweep.dir={sweep}",
                               "checkpoint.interval_minutes=30,60", "cluster.gpus=64",
                               "horizon_days=2"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    (previous,) = sweep.glob("previous-*")
    assert (previous / "report" / "report.md").is_file()  # the old sweep's report went along
    assert "topology" in (previous / "report" / "report.md").read_text()
    assert (previous / "runs.csv").is_file() and not (sweep / "report").exists()


def test_swept_keys_reads_overrides_with_hydras_parser():
    config = OmegaConf.create({"hydra": {"overrides": {"task": [
        "topology=glob(fat_tree_*)", "checkpoint=fixed,async", "name='a,b'",
        "failures.components={}", "+x.values=[1,2]", "seed=choice(1,2)",
        "checkpoint.interval_minutes=range(10,30,10)", "~restart.elastic",
        "+failures.lemon_fraction=interval(0,1)", "horizon_days=tag(short,choice(3,5))"]}}})
    assert swept_keys(config) == ["topology", "checkpoint", "seed",
                                  "checkpoint.interval_minutes", "failures.lemon_fraction",
                                  "horizon_days"]


def test_configurations_without_the_objective_are_left_out_not_tied():
    # a fixed-step configuration has no tokens: it cannot tie on effective tokens/s
    frame = decision_frame({"fast": [3.0, 3.1, 3.2], "slow": [2.0, 2.2, 2.1],
                            "fixed_step": [math.nan] * 3}, "effective_tokens_per_s")
    decision = decide(frame, OBJECTIVES["effective_tokens_per_s"])
    assert decision.winner == "fast" and decision.missing == ["fixed_step"]
    assert list(decision.diffs["configuration"]) == ["slow"]


def test_runs_with_a_power_series_get_the_power_figure(tmp_path):
    """power.series=true writes each run's power.csv; the report draws one panel per
    configuration, failures (from events.csv) marked; a single run's folder too."""
    proc = run("simulator", ["-m", "name=power_test", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                             "power.series=true", "events=true",
                             "checkpoint.interval_minutes=30,120", "cluster.gpus=64",
                             "horizon_days=3", "failures.node_mtbf_hours=100"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    for job in ("0", "1"):
        power = pd.read_csv(sweep / job / "power.csv")
        assert list(power.columns) == ["replicate", "time_h", "until_h", "facility_mw"]
        assert (power["until_h"] > power["time_h"]).all()
        assert power["until_h"].iloc[-1] == pytest.approx(72.0)
    report, *figures = write_report(sweep)
    assert sweep / "report" / "power.png" in figures
    assert "](power.png)" in report.read_text()
    series, failures = power_series(sweep, ["checkpoint.interval_minutes"])
    assert len(series) == 2 and all(len(f) > 0 for f in failures.values())
    _, *single_figures = write_report(sweep / "0", out=tmp_path / "single")
    assert tmp_path / "single" / "power.png" in single_figures
