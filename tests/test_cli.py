"""End-to-end tests of the command line: `python -m simulator` / `trainsim`.

Every test runs the CLI in a subprocess with cwd=tmp_path, so `results/` lands there and
never in the repository. Subprocesses cost ~1.5 s each (Python + Hydra start-up), so the
configuration-error cases all run at once in a thread pool (one module-scoped fixture)
and are then asserted one by one.
"""

from __future__ import annotations

import math
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from simulator.config.validate import config_dir
from simulator.fabric.hardware import ACCELERATORS
from tests.clirun import describe, run_cli

ERROR_PREFIX = "trainsim: config error: "
#: `trainsim: config error: <key>=<value>: <what is allowed>`
ERROR_LINE = re.compile(
    r"^trainsim: config error: (?P<key>[^=\s]+)=(?P<value>.*?): (?P<allowed>.+)$")

#: Columns every summary row has (DESIGN.md, "Interfaces that others build on").
DESIGN_COLUMNS = [
    "seed", "replicate", "gpus", "horizon_h", "useful_h", "checkpoint_h", "rework_h",
    "restart_h", "wait_h", "degraded_h", "goodput", "lost_gpu_h", "failures", "checkpoints",
    "interval_min", "step_s",
]
CATEGORY_COLUMNS = ["useful_h", "checkpoint_h", "rework_h", "restart_h", "wait_h", "degraded_h"]


def group_options(group: str) -> list[str]:
    """The options of a config group, read from the config root (not from the simulator)."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


# ---- configuration errors: exit 2, one line naming the key, no traceback -----------------


@dataclass(frozen=True)
class ErrorCase:
    id: str
    args: tuple[str, ...]
    keys: tuple[str, ...]  # acceptable keys named by the message
    value: str | float | None = None  # the bad value echoed (float: compared numerically)
    mentions: tuple[str, ...] = ()  # words the "what is allowed" part must contain
    console_script: bool = False
    marks: tuple = field(default=())


ERROR_CASES = [
    ErrorCase("zero-gpus", ("cluster.gpus=0",), ("cluster.gpus",), 0.0, ("positive",)),
    ErrorCase("negative-gpus", ("cluster.gpus=-8",), ("cluster.gpus",), -8.0, ("positive",)),
    ErrorCase("negative-mtbf", ("failures.node_mtbf_hours=-1",),
              ("failures.node_mtbf_hours",), -1.0, ("positive",)),
    ErrorCase("zero-interval", ("checkpoint.interval_minutes=0",),
              ("checkpoint.interval_minutes",), 0.0, ("positive",)),
    ErrorCase("unknown-failures-option", ("failures=foo",), ("failures",), "foo",
              tuple(group_options("failures"))),
    ErrorCase("unknown-cluster-option", ("cluster=nope",), ("cluster",), "nope",
              tuple(group_options("cluster"))),
    ErrorCase("gpus-not-multiple-of-node", ("cluster.gpus=1001",), ("cluster.gpus",), 1001.0,
              ("multiple", "8")),
    ErrorCase("gpus-wrong-type", ("cluster.gpus=abc",), ("cluster.gpus",), "abc",
              ("integer",)),
    ErrorCase("horizon-wrong-type", ("horizon_days=abc",), ("horizon_days",), "abc",
              ("number",)),
    ErrorCase("gpus-null", ("cluster.gpus=null",), ("cluster.gpus",), "null"),
    ErrorCase("unknown-key-typo", ("cluster.gpuss=3",), ("cluster.gpuss",), 3.0,
              ("unknown", "gpus")),
    ErrorCase("unknown-key-added", ("+foo=1",), ("foo", "+foo"), 1.0, ("unknown",)),
    ErrorCase("young-daly-without-failures", ("checkpoint=young_daly", "failures=none"),
              ("checkpoint", "checkpoint.policy", "failures", "failures.kind"),
              mentions=("failures",)),
    ErrorCase("young-daly-with-interval",
              ("checkpoint=young_daly", "checkpoint.interval_minutes=30"),
              ("checkpoint.interval_minutes",), 30.0),
    ErrorCase("unknown-accelerator", ("cluster.accelerator=V100",), ("cluster.accelerator",),
              "V100", tuple(ACCELERATORS)),
    ErrorCase("console-script", ("cluster.gpus=0",), ("cluster.gpus",), 0.0,
              console_script=True),
    ErrorCase("null-group-option", ("cluster=null",), ("cluster",), "null"),
    ErrorCase("contradictory-topology", ("cluster=gb200_nvl72_4k", "topology=dgx_h100_superpod"),
              ("topology.kind",), "rail_fat_tree", ("cluster.accelerator=GB200", "gb200_nvl72")),
    ErrorCase("memory-group-zero", ("checkpoint=in_memory", "checkpoint.memory_group=0"),
              ("checkpoint.memory_group",), 0.0, ("positive",)),
    ErrorCase("diagnosis-accuracy-above-one", ("restart.diagnosis_accuracy=1.5",),
              ("restart.diagnosis_accuracy",), 1.5, ("(0, 1]",)),
    ErrorCase("key-the-builder-ignores", ("topology=llama3_roce", "topology.oversubscription=2"),
              ("topology.oversubscription",), 2.0, ("leaf_spine_tor", "tor_oversubscription")),
]


@pytest.fixture(scope="module")
def error_runs(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Every ErrorCase run once, three at a time, each in its own directory."""
    # tmp_path_factory is not thread-safe: make every directory before the threads start
    dirs = {case.id: tmp_path_factory.mktemp(case.id) for case in ERROR_CASES}

    def run(case: ErrorCase) -> tuple[Path, subprocess.CompletedProcess[str]]:
        cwd = dirs[case.id]
        # a short horizon so that a case that wrongly runs still ends quickly
        return cwd, run_cli([f"name={case.id}", "horizon_days=0.5", *case.args], cwd,
                            console_script=case.console_script)

    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = pool.map(run, ERROR_CASES)
        return {case.id: proc for case, proc in zip(ERROR_CASES, procs, strict=True)}


def _values_match(shown: str, expected: str | float) -> bool:
    if isinstance(expected, float):  # 0 may be shown as 0.0, -1 as -1.0
        try:
            return math.isclose(float(shown), expected)
        except ValueError:
            return False
    return shown == expected


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in ERROR_CASES])
def test_config_error_is_one_line_exit_2(case: ErrorCase, error_runs) -> None:
    cwd, proc = error_runs[case.id]
    info = describe(proc)
    assert "Traceback" not in proc.stderr + proc.stdout, f"traceback printed\n{info}"
    assert proc.returncode == 2, f"exit status {proc.returncode}, expected 2\n{info}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}\n{info}"
    match = ERROR_LINE.match(lines[0])
    assert match, f"stderr is not `{ERROR_PREFIX}<key>=<value>: <allowed>`\n{info}"
    assert match["key"] in case.keys, f"names key {match['key']!r}, expected {case.keys}\n{info}"
    if case.value is not None:
        assert _values_match(match["value"], case.value), (
            f"echoes value {match['value']!r}, expected {case.value!r}\n{info}")
    for word in case.mentions:
        assert word in match["allowed"], f"the message should mention {word!r}\n{info}"
    assert not list(cwd.rglob("*.csv")), "a rejected configuration must not write results"


# ---- one run ---------------------------------------------------------------------------


def test_default_run_prints_summary_and_writes_csv(tmp_path: Path) -> None:
    replicates, horizon_days = 3, 5
    proc = run_cli(["name=default", f"replicates={replicates}", f"horizon_days={horizon_days}"],
                   tmp_path)
    info = describe(proc)
    assert proc.returncode == 0, info
    assert "Traceback" not in proc.stderr, info
    assert "goodput" in proc.stdout, info

    summary = tmp_path / "results" / "default" / "summary.csv"
    assert summary.is_file(), f"no {summary}\n{info}"
    frame = pd.read_csv(summary)
    missing = [c for c in DESIGN_COLUMNS if c not in frame.columns]
    assert not missing, f"summary.csv lacks DESIGN.md columns {missing}: {list(frame.columns)}"
    assert len(frame) == replicates
    assert frame["replicate"].tolist() == list(range(replicates))
    # the defaults of scenarios/config.yaml and its groups
    assert (frame["seed"] == 0).all()
    assert (frame["gpus"] == 1024).all()  # cluster/dgx_h100_1k.yaml
    assert (frame["interval_min"] == 60).all()  # checkpoint/fixed.yaml
    assert (frame["step_s"] == 10).all()  # workload/fixed_step.yaml
    horizon_h = horizon_days * 24
    assert frame["horizon_h"].to_numpy() == pytest.approx(horizon_h)
    # every hour of the horizon is accounted to exactly one category
    assert frame[CATEGORY_COLUMNS].sum(axis=1).to_numpy() == pytest.approx(horizon_h)
    assert frame["goodput"].to_numpy() == pytest.approx(frame["useful_h"] / horizon_h)
    assert frame["lost_gpu_h"].to_numpy() == pytest.approx(
        (horizon_h - frame["useful_h"]) * 1024)
    # nothing was written into the repository's results/
    assert not (Path(__file__).resolve().parents[1] / "results" / "default").exists()


def test_cluster_preset_runs_on_its_own_fabric(tmp_path: Path) -> None:
    """GB200 NVL72: the header and the row name the NVL72 topology the cluster brings."""
    proc = run_cli(["name=gb200", "cluster=gb200_nvl72_4k", "workload=llama3_70b",
                    "horizon_days=1"], tmp_path)
    info = describe(proc)
    assert proc.returncode == 0, info
    header = proc.stdout.splitlines()[0]
    assert header.startswith("trainsim: 4,032 GB200 (1,008 nodes + 8 spares by "
                             "cluster.spare_fraction=0.0079) on topology=gb200_nvl72 "
                             "(nvl72), "), info
    row = pd.read_csv(tmp_path / "results" / "gb200" / "summary.csv").iloc[0]
    assert (row["cluster_config"], row["topology_config"]) == ("gb200_nvl72_4k", "gb200_nvl72")


def test_sweep_over_clusters_brings_each_its_fabric(tmp_path: Path) -> None:
    """576 GPUs: 72 DGX H100 nodes or 8 NVL72 racks; each run on its cluster's fabric."""
    proc = run_cli(["-m", "name=systems", "cluster=dgx_h100_1k,gb200_nvl72_4k",
                    "cluster.gpus=576", "horizon_days=0.5"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    runs = pd.read_csv(tmp_path / "results" / "systems" / "runs.csv")
    assert dict(zip(runs["cluster_config"], runs["topology_config"], strict=True)) == {
        "dgx_h100_1k": "dgx_h100_superpod", "gb200_nvl72_4k": "gb200_nvl72"}


# ---- multirun --------------------------------------------------------------------------

INTERVALS_MIN = (30, 90)
FAILURE_OPTIONS = ("none", "exponential")
SWEEP_REPLICATES = 2
SWEEP = [
    f"replicates={SWEEP_REPLICATES}",
    "horizon_days=2",
    "seed=7",
    f"checkpoint.interval_minutes={','.join(map(str, INTERVALS_MIN))}",
    f"failures={','.join(FAILURE_OPTIONS)}",
]
SWEEP_KEYS = ["checkpoint.interval_minutes", "failures_config", "replicate"]


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("basic_sweep")
    return cwd / "results" / "sweep", run_cli(["-m", "name=sweep", *SWEEP], cwd)


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=["name"], errors="ignore")
    return frame.sort_values(SWEEP_KEYS, kind="stable").reset_index(drop=True)


def test_multirun_gathers_runs_csv(basic_sweep) -> None:
    sweep_dir, proc = basic_sweep
    info = describe(proc)
    assert proc.returncode == 0, info
    runs_csv = sweep_dir / "runs.csv"
    assert runs_csv.is_file(), f"no {runs_csv}\n{info}"
    runs = pd.read_csv(runs_csv)

    jobs = len(INTERVALS_MIN) * len(FAILURE_OPTIONS)
    assert len(runs) == jobs * SWEEP_REPLICATES, "one row per run x replicate"
    for column in ("checkpoint.interval_minutes", "failures_config", "checkpoint_config",
                   *DESIGN_COLUMNS):
        assert column in runs.columns, f"runs.csv lacks {column!r}: {list(runs.columns)}"
    assert sorted(set(runs["checkpoint.interval_minutes"])) == list(INTERVALS_MIN)
    assert sorted(set(runs["failures_config"])) == sorted(FAILURE_OPTIONS)
    assert set(runs["checkpoint_config"]) == {"fixed"}
    assert (runs["seed"] == 7).all()
    # every (interval, failures) pair once, with replicates 0..n-1
    per_run = runs.groupby(["checkpoint.interval_minutes", "failures_config"])["replicate"]
    assert per_run.apply(sorted).tolist() == [list(range(SWEEP_REPLICATES))] * jobs
    # the interval actually used is the swept one (whole minutes are whole 10 s steps)
    assert (runs["interval_min"] == runs["checkpoint.interval_minutes"]).all()
    assert (runs.loc[runs["failures_config"] == "none", "failures"] == 0).all()
    # the printed digest has one line per swept configuration, keyed by the swept values
    digest = [line for line in proc.stdout.splitlines() if " goodput " in line and "step" in line]
    assert len(digest) == jobs, proc.stdout
    for option in FAILURE_OPTIONS:
        assert sum(f"failures_config={option}" in line for line in digest) == len(INTERVALS_MIN)

    # runs.csv is the per-job summary.csv files, gathered
    job_files = sorted(sweep_dir.glob("*/summary.csv"))
    assert len(job_files) == jobs, [str(p) for p in job_files]
    for path in job_files:
        assert len(pd.read_csv(path)) == SWEEP_REPLICATES, path
    gathered = pd.concat([pd.read_csv(p) for p in job_files], ignore_index=True)
    pd.testing.assert_frame_equal(_canonical(gathered), _canonical(runs))


@pytest.mark.parametrize("launcher", [
    pytest.param([], id="basic"),
    pytest.param(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], id="joblib"),
])
def test_config_error_inside_multirun_exits_2(launcher: list[str], tmp_path: Path) -> None:
    proc = run_cli(["-m", "name=bad_sweep", "horizon_days=0.5", "cluster.gpus=1024,0",
                    *launcher], tmp_path)
    info = describe(proc)
    assert proc.returncode == 2, info
    assert "Traceback" not in proc.stderr + proc.stdout, info
    errors = [line for line in proc.stderr.splitlines() if line.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, f"expected one `{ERROR_PREFIX}` line\n{info}"
    match = ERROR_LINE.match(errors[0])
    assert match and match["key"] == "cluster.gpus" and match["value"] == "0", info
    # trainsim's line only: not Hydra's "Error executing job with overrides: [...]" too
    assert "Error executing job" not in proc.stderr + proc.stdout, info
    assert not (tmp_path / "results" / "bad_sweep" / "sweep.lock").exists(), \
        "a failed sweep must release its lock"


def test_rerun_sweep_with_same_name_gathers_only_its_own_jobs(tmp_path: Path) -> None:
    common = ["-m", "name=again", "replicates=1", "horizon_days=0.5"]
    first = run_cli([*common, "checkpoint.interval_minutes=30,60,90"], tmp_path)
    assert first.returncode == 0, describe(first)
    second = run_cli([*common, "checkpoint.interval_minutes=10,20"], tmp_path)
    assert second.returncode == 0, describe(second)
    runs = pd.read_csv(tmp_path / "results" / "again" / "runs.csv")
    assert sorted(runs["checkpoint.interval_minutes"]) == [10, 20], runs.to_string()


# ---- where results go: `name` is a plain folder name inside results/ ------------------

#: (name as typed, run mode or sweep): each refused with exit 2 before any folder exists
NAME_CASES = [(name, sweep) for name in ("../../x", "ABSOLUTE", "..", "", "${oc.env:HOME}",
                                           "${oc.env:TRAINSIM_NO_SUCH_VARIABLE}")
              for sweep in (False, True)]


def test_name_outside_results_is_refused_before_any_folder(tmp_path: Path) -> None:
    """Every way of putting a run's folder outside results/ (issue #12): exit 2, one line
    naming `name` with the value as typed, and no folder made anywhere."""
    cwds = [tmp_path / f"case{i}" / "a" / "cwd" for i in range(len(NAME_CASES))]
    for cwd in cwds:
        cwd.mkdir(parents=True)

    def run(i: int) -> subprocess.CompletedProcess[str]:
        name, sweep = NAME_CASES[i]
        name = str(tmp_path / f"case{i}" / "abs") if name == "ABSOLUTE" else name
        args = ["-m", "cluster.gpus=8,16"] if sweep else []
        return run_cli([*args, f"name={name}", "horizon_days=0.5"], cwds[i],
                       HOME=str(tmp_path / f"case{i}" / "home"))

    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = list(pool.map(run, range(len(NAME_CASES))))
    for i, ((name, sweep), proc) in enumerate(zip(NAME_CASES, procs, strict=True)):
        info = f"case {name!r} sweep={sweep}\n{describe(proc)}"
        assert proc.returncode == 2, info
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, info
        match = ERROR_LINE.match(lines[0])
        typed = str(tmp_path / f"case{i}" / "abs") if name == "ABSOLUTE" else name
        assert match and match["key"] == "name" and match["value"] == typed, info
        assert "plain folder name inside results/" in match["allowed"], info
        made = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / f"case{i}").rglob("*"))
        assert made == [f"case{i}/a", f"case{i}/a/cwd"], f"folders made: {made}\n{info}"


def test_a_sweep_cannot_vary_name(tmp_path: Path) -> None:
    proc = run_cli(["-m", "name=a,b", "horizon_days=0.5"], tmp_path)
    info = describe(proc)
    assert proc.returncode == 2, info
    match = ERROR_LINE.match(proc.stderr.strip())
    assert match and match["key"] == "name" and match["value"] == "a,b", info
    assert not (tmp_path / "results").exists(), info


def test_empty_sweep_is_an_error(tmp_path: Path) -> None:
    """`range(8,0)` has no values: no jobs, so nothing to gather; say so (issue #12)."""
    proc = run_cli(["-m", "name=empty", "cluster.gpus=range(8,0)"], tmp_path)
    info = describe(proc)
    assert proc.returncode == 2, info
    match = ERROR_LINE.match(proc.stderr.strip())
    assert match and match["key"] == "cluster.gpus" and match["value"] == "range(8,0)", info
    assert "no jobs" in match["allowed"], info
    assert not (tmp_path / "results").exists(), info
