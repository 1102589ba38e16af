"""One sweep at a time in results/<name>/ (issue #12): the lock file, its refusal, stale
locks, and gathering a sweep's own jobs only.

Before the lock, a second, different sweep of the same name started while the first ran
moved the first's finished runs to previous-*, and the first then gathered a runs.csv
mixing both sweeps' rows and exited 0; two identical sweeps ran every job twice.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from simulator.errors import ConfigError
from simulator.experiments import sweeplock
from simulator.experiments.outputs import SUMMARY_FILE, gather_runs
from simulator.experiments.results import _own_job_dirs
from simulator.experiments.sweeplock import LOCK_FILE, acquire, read_owner, release
from tests.clirun import TIMEOUT_S, cli_env, describe, run_cli

ERROR_PREFIX = "trainsim: config error: "


def _dead_pid() -> int:
    """The id of a process that has ended (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(sweep_dir: Path, pid: int, host: str | None = None) -> Path:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / LOCK_FILE
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                "started": "2026-01-01 00:00:00 UTC",
                                "command": "python -m simulator -m name=s a=1,2"}))
    return path


# ---- the lock file ---------------------------------------------------------------------


def test_lock_records_its_owner_and_is_removed_on_release(tmp_path: Path) -> None:
    path = acquire(tmp_path / "s", "s", ["trainsim", "-m", "x=1,2"])
    owner = read_owner(path)
    assert owner is not None
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    assert owner["command"] == "trainsim -m x=1,2" and owner["started"]
    release(path)
    assert not path.exists()


def test_a_held_lock_refuses_naming_folder_owner_and_the_way_out(tmp_path: Path) -> None:
    path = acquire(tmp_path / "s", "s")
    try:
        with pytest.raises(ConfigError) as caught:
            acquire(tmp_path / "s", "s")
        error = caught.value
        assert error.key == "name" and error.value == "s"
        text = str(error)
        assert "\n" not in text
        for part in (str(tmp_path / "s"), f"pid {os.getpid()}", socket.gethostname(),
                     "another name", str(path)):
            assert part in text, (part, text)
    finally:
        release(path)


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path: Path, capsys) -> None:
    dead = _dead_pid()
    _write_lock(tmp_path / "s", dead)
    path = acquire(tmp_path / "s", "s")
    try:
        assert read_owner(path)["pid"] == os.getpid()
        assert f"pid {dead}" in capsys.readouterr().err
    finally:
        release(path)


def test_another_hosts_lock_is_never_taken_as_stale(tmp_path: Path) -> None:
    _write_lock(tmp_path / "s", _dead_pid(), host="another-host.invalid")
    with pytest.raises(ConfigError, match=r"another-host\.invalid"):
        acquire(tmp_path / "s", "s")


def test_an_unreadable_lock_refuses(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / LOCK_FILE).write_text("not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        acquire(tmp_path / "s", "s")


def test_release_leaves_another_processs_lock(tmp_path: Path) -> None:
    path = acquire(tmp_path / "s", "s")
    _write_lock(tmp_path / "s", os.getppid())  # someone else's by now
    release(path)
    assert path.exists()
    assert path not in sweeplock._held


def _contend(sweep_dir: str, ready, tried, results) -> None:
    ready.wait(timeout=120)  # every process imported and waiting: they try at once
    won = False
    try:
        acquire(Path(sweep_dir), "s")
        won = True
    except ConfigError:
        pass
    results.put("won" if won else "refused")
    tried.wait(timeout=120)  # the winner holds the lock until every other one has tried


def test_of_sweeps_started_at_once_exactly_one_gets_the_lock(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    ready, tried = context.Barrier(6), context.Barrier(6)
    procs = [context.Process(target=_contend,
                             args=(str(tmp_path / "s"), ready, tried, results))
             for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    outcomes = sorted(results.get(timeout=10) for _ in procs)
    assert outcomes == ["refused"] * 5 + ["won"], outcomes
    assert not (tmp_path / "s" / LOCK_FILE).exists(), "the winner removes it at exit"


# ---- gathering: this sweep's jobs only -----------------------------------------------


def _job(sweep_dir: Path, number: int, overrides: list[str], value: int) -> None:
    job = sweep_dir / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in overrides))
    pd.DataFrame({"goodput": [value / 10]}).to_csv(job / SUMMARY_FILE, index=False)


def test_gathering_takes_only_the_jobs_launched_with_this_sweeps_overrides(tmp_path) -> None:
    jobs = [["a=1"], ["a=2"], ["a=3"]]
    _job(tmp_path, 0, ["a=1"], 1)
    _job(tmp_path, 1, ["a=9"], 9)  # another sweep's job 1
    _job(tmp_path, 2, ["a=3"], 3)
    _job(tmp_path, 3, ["a=4"], 4)  # beyond this sweep's jobs
    own = _own_job_dirs(tmp_path, jobs)
    assert [d.name for d in own] == ["0", "2"]
    assert gather_runs(tmp_path, own)["goodput"].tolist() == [0.1, 0.3]


# ---- through the command line --------------------------------------------------------

SMALL = ["horizon_days=0.5", "replicates=1"]


@pytest.mark.parametrize("launcher", [pytest.param([], id="basic"),
                                      pytest.param(["hydra/launcher=joblib",
                                                    "hydra.launcher.n_jobs=2"], id="joblib")])
def test_a_sweep_refuses_a_folder_another_live_sweep_holds(launcher, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "results" / "s"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        lock = _write_lock(sweep_dir, holder.pid)
        (sweep_dir / "0").mkdir()  # the holder's run: must stay where it is
        proc = run_cli(["-m", "name=s", "cluster.gpus=8,16", *SMALL, *launcher], tmp_path)
    finally:
        holder.kill()
        holder.wait()
    info = describe(proc)
    assert proc.returncode == 2, info
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX + "name=s: "), info
    assert f"pid {holder.pid}" in lines[0] and str(Path("results") / "s") in lines[0], info
    assert lock.exists() and read_owner(lock)["pid"] == holder.pid, "not its lock to remove"
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["0", LOCK_FILE], info


def test_a_stale_lock_is_taken_over_and_the_sweep_removes_its_own(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "results" / "s"
    dead = _dead_pid()
    _write_lock(sweep_dir, dead)
    proc = run_cli(["-m", "name=s", "cluster.gpus=8,16", *SMALL], tmp_path)
    info = describe(proc)
    assert proc.returncode == 0, info
    assert f"pid {dead}" in proc.stderr and "no longer running" in proc.stderr, info
    assert len(pd.read_csv(sweep_dir / "runs.csv")) == 2, info
    assert not (sweep_dir / LOCK_FILE).exists(), info


RACE_REPLICATES = 40  # 5 runs of 40 replicates: ~20 s, longer than two CLI start-ups


def test_a_second_sweep_started_while_the_first_runs_is_refused(tmp_path: Path) -> None:
    """The issue's race, for real: sweep A runs; a different sweep B and an identical
    sweep A' of the same name are refused; A's runs.csv holds A's rows only."""
    first = ["-m", "name=race", f"replicates={RACE_REPLICATES}",
             "checkpoint.interval_minutes=20,40,60,80,100"]
    sweep_dir = tmp_path / "results" / "race"
    with open(tmp_path / "first.out", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "simulator", *first], cwd=tmp_path,
                                env=cli_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not (sweep_dir / LOCK_FILE).exists():
                assert proc.poll() is None, (tmp_path / "first.out").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            with ThreadPoolExecutor(max_workers=2) as pool:  # both while the first runs
                contenders = [["-m", "name=race", "replicates=2",
                               "checkpoint.interval_minutes=10,30"], first]
                other, same = pool.map(lambda args: run_cli(args, tmp_path), contenders)
            first_alive = proc.poll() is None
        finally:
            proc.wait(timeout=TIMEOUT_S)
    log = (tmp_path / "first.out").read_text()
    assert proc.returncode == 0, log
    if not first_alive:
        pytest.skip("the first sweep ended before the others started (machine too fast)")
    for second in (other, same):
        info = describe(second)
        assert second.returncode == 2, info
        assert "is in use by a sweep" in second.stderr and f"pid {proc.pid}" in second.stderr
        assert "goodput" not in second.stdout, "a refused sweep runs nothing"
    runs = pd.read_csv(sweep_dir / "runs.csv")
    assert sorted(set(runs["checkpoint.interval_minutes"])) == [20, 40, 60, 80, 100], log
    assert len(runs) == 5 * RACE_REPLICATES, log
    assert not list(sweep_dir.glob("previous-*")), "nobody moved the first sweep's runs"
    assert not (sweep_dir / LOCK_FILE).exists()
