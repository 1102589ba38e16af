"""Resuming an interrupted sweep, and the sweep's progress bar (issue #5).

The end-to-end tests run `python -m simulator -m ...` in subprocesses with cwd=tmp_path
(so `results/` lands there): a sweep is killed with SIGKILL after some but not all of its
runs have finished, run again with the same command, and its runs.csv must equal an
uninterrupted sweep's. The sweep is long enough (16 runs of ~0.3 s) to be killed midway
even on a fast machine; the kill waits on finished runs, not on time, so a loaded machine
only makes the test slower.
"""

from __future__ import annotations

import fcntl
import io
import itertools
import os
import pickle
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from simulator.config.validate import config_dir
from simulator.experiments.progress import SweepProgress, _LinesAboveBars, progress_enabled
from simulator.experiments.results import (
    DIGEST_FILE,
    EVENTS_FILE,
    RUNS_FILE,
    RUNS_PARQUET,
    SUMMARY_FILE,
    GatherRuns,
    clear_run,
    config_digest,
    gather_runs,
    read_complete_summary,
    save_run,
    sweep_jobs,
)
from tests import clirun
from tests.clirun import TIMEOUT_S, cli_env, describe

#: These tests decide themselves whether progress bars are drawn: not CI's business.
KEEP_TTY_CHECKS = ("CI",)


def run_cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return clirun.run_cli(args, cwd, drop=KEEP_TTY_CHECKS, **env)
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


# Runs' lines are counted by their marker, not by line: joblib workers print to one pipe,
# and two workers' lines can land on one line of it.
def reused_lines(stdout: str) -> list[str]:
    return ["reused"] * stdout.count("replicates, reused) ->")


def simulated_lines(stdout: str) -> list[str]:
    return ["simulated"] * stdout.count(" replicates) ->")


# ---- kill a sweep midway, run it again -----------------------------------------------

INTERVALS_MIN = (20, 40, 60, 80, 100, 120, 140, 160)
FAILURES = ("exponential", "weibull")
REPLICATES = 6
JOBS = len(INTERVALS_MIN) * len(FAILURES)
KILL_AFTER = 4  # finished runs; the other 12 take seconds more
SWEEP = ["-m", "name=resume", "seed=3", f"replicates={REPLICATES}",
         f"checkpoint.interval_minutes={','.join(map(str, INTERVALS_MIN))}",
         f"failures={','.join(FAILURES)}"]
KEYS = ["checkpoint.interval_minutes", "failures_config", "replicate"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> pd.DataFrame:
    """runs.csv of the sweep run once, start to end (two worker processes)."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    proc = run_cli([*SWEEP, *JOBLIB], cwd)
    assert proc.returncode == 0, describe(proc)
    return pd.read_csv(cwd / "results" / "resume" / RUNS_FILE)


def _summaries(sweep_dir: Path) -> list[Path]:
    return sorted(sweep_dir.glob(f"*/{SUMMARY_FILE}"))


def kill_midway(cwd: Path) -> Path:
    """Start the sweep, SIGKILL it once KILL_AFTER runs are done; return its sweep dir."""
    sweep_dir = cwd / "results" / "resume"
    with open(cwd / "killed.out", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "simulator", *SWEEP], cwd=cwd,
                                env=cli_env(KEEP_TTY_CHECKS), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own group: kill it whole
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while len(_summaries(sweep_dir)) < KILL_AFTER:
                assert proc.poll() is None, (
                    f"the sweep ended (status {proc.returncode}) before it could be killed:\n"
                    + (cwd / "killed.out").read_text()[-3000:])
                assert time.monotonic() < deadline, "the sweep did not progress in time"
                time.sleep(0.02)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return sweep_dir


@pytest.mark.parametrize("launcher", [pytest.param([], id="basic"),
                                      pytest.param(JOBLIB, id="joblib")])
def test_killed_sweep_resumes_to_the_uninterrupted_table(launcher, uninterrupted,
                                                         tmp_path: Path) -> None:
    sweep_dir = kill_midway(tmp_path)

    # what a kill leaves: whole summaries (each with its digest), no runs.csv
    finished = _summaries(sweep_dir)
    done = len(finished)
    assert KILL_AFTER <= done < JOBS, f"{done} of {JOBS} runs finished: not killed midway"
    for path in finished:
        assert len(pd.read_csv(path)) == REPLICATES, f"{path} is not a whole summary"
        assert (path.parent / DIGEST_FILE).is_file(), path
    assert not (sweep_dir / RUNS_FILE).exists()
    # a kill in the middle of a write leaves a temporary file: plant two, as such a kill
    # would (the real one is too short to hit reliably)
    unfinished = next(sweep_dir / str(j) for j in range(JOBS)
                      if not (sweep_dir / str(j) / SUMMARY_FILE).exists())
    unfinished.mkdir(exist_ok=True)
    planted = [unfinished / f".{SUMMARY_FILE}.k1ll3d.tmp", sweep_dir / f".{RUNS_FILE}.x.tmp"]
    for path in planted:
        path.write_text("seed,replicate,goo")
    assert len(gather_runs(sweep_dir)) == done * REPLICATES, "gather_runs read a temp file"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished}

    proc = run_cli([*SWEEP, *launcher], tmp_path)
    info = describe(proc)
    assert proc.returncode == 0, info
    # the finished runs were reused as they were, the others simulated, each once
    assert len(reused_lines(proc.stdout)) == done, info
    assert len(simulated_lines(proc.stdout)) == JOBS - done, info
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished} == before
    assert not any(p.exists() for p in planted), "temporary files of the killed sweep remain"
    assert not list(sweep_dir.rglob("*.tmp"))
    assert not list(sweep_dir.glob("previous-*")), "the sweep's own runs were moved aside"
    assert "run/s" not in proc.stderr and "\r" not in proc.stderr, "a bar without a terminal"

    runs = pd.read_csv(sweep_dir / RUNS_FILE)
    expected = set(itertools.product(INTERVALS_MIN, FAILURES, range(REPLICATES)))
    keys = list(runs[KEYS].itertuples(index=False, name=None))
    assert len(keys) == len(expected) == JOBS * REPLICATES
    assert set(keys) == expected, "every run x replicate exactly once"
    pd.testing.assert_frame_equal(runs, uninterrupted)


# ---- what is reused, what is redone, what is moved aside -----------------------------


def test_reuse_needs_the_same_overrides_and_the_same_configuration(tmp_path: Path) -> None:
    """`horizon_days=${oc.env:DAYS}`: the same overrides, a configuration set from outside."""
    def sweep(intervals: str, days: int) -> subprocess.CompletedProcess[str]:
        proc = run_cli(["-m", "name=same", "replicates=1", "horizon_days=${oc.env:DAYS}",
                        f"checkpoint.interval_minutes={intervals}"], tmp_path, DAYS=str(days))
        assert proc.returncode == 0, describe(proc)
        return proc

    sweep_dir = tmp_path / "results" / "same"
    first = sweep("30,60", days=1)
    assert len(simulated_lines(first.stdout)) == 2 and not reused_lines(first.stdout)
    assert pd.read_csv(sweep_dir / RUNS_FILE)["horizon_h"].tolist() == [24.0, 24.0]

    longer = sweep("30,60", days=2)  # the same overrides, another configuration
    assert not reused_lines(longer.stdout), describe(longer)
    runs = pd.read_csv(sweep_dir / RUNS_FILE)
    assert runs["horizon_h"].tolist() == [48.0, 48.0]  # 2 days, not the stale 1 day

    extended = sweep("30,60,90", days=2)  # jobs 0 and 1 keep their numbers and overrides
    assert len(reused_lines(extended.stdout)) == 2, describe(extended)
    assert len(simulated_lines(extended.stdout)) == 1, describe(extended)
    runs = pd.read_csv(sweep_dir / RUNS_FILE)
    assert runs["checkpoint.interval_minutes"].tolist() == [30, 60, 90]

    shorter = sweep("30,60", days=2)  # job 2 is no job of this sweep: a different sweep
    assert not reused_lines(shorter.stdout), describe(shorter)
    (previous,) = sweep_dir.glob("previous-*")
    assert sorted(p.name for p in previous.iterdir()) == ["0", "1", "2", RUNS_FILE,
                                                          RUNS_PARQUET]
    assert sorted(p.name for p in sweep_dir.iterdir() if p.name.isdigit()) == ["0", "1"]
    assert pd.read_csv(sweep_dir / RUNS_FILE)["checkpoint.interval_minutes"].tolist() == [30, 60]


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=["name=x", *overrides])


def test_config_digest_tracks_every_value_but_name() -> None:
    base = config_digest(_compose("replicates=3"))
    assert base == config_digest(_compose("replicates=3"))
    assert len(base) == 64 and int(base, 16) >= 0  # hex SHA-256
    assert config_digest(_compose("replicates=3", "name=elsewhere")) == base
    for change in ("replicates=4", "failures.node_mtbf_hours=1234", "checkpoint=young_daly",
                   "events=true"):
        assert config_digest(_compose("replicates=3", change)) != base, change


def test_a_summary_is_complete_only_under_its_digest(tmp_path: Path) -> None:
    frame = pd.DataFrame({"seed": [0, 0], "replicate": [0, 1], "goodput": [0.5, 0.25]})
    events = pd.DataFrame({"time_s": [1.0], "kind": ["failure"]})
    out = save_run(tmp_path, frame, "abc", events)
    assert out == tmp_path / SUMMARY_FILE
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask, "permissions as open() gives"
    pd.testing.assert_frame_equal(read_complete_summary(tmp_path, "abc", events=True), frame)
    assert read_complete_summary(tmp_path, "abd") is None, "another configuration's summary"
    (tmp_path / EVENTS_FILE).unlink()
    assert read_complete_summary(tmp_path, "abc", events=True) is None
    assert read_complete_summary(tmp_path, "abc") is not None
    (tmp_path / SUMMARY_FILE).write_text("")  # what a non-atomic writer could leave
    assert read_complete_summary(tmp_path, "abc") is None
    save_run(tmp_path, frame, "abc")
    clear_run(tmp_path)
    assert not list(tmp_path.iterdir())
    assert read_complete_summary(tmp_path, "abc") is None


# ---- which jobs a sweep launches; progress ---------------------------------------------


def _sweep_config(task: list[str], params: dict | None = None,
                  sweeper: str = BASIC_SWEEPER):
    return OmegaConf.create({"hydra": {"sweeper": {"_target_": sweeper, "params": params},
                                       "overrides": {"task": task}}})


def test_sweep_jobs_in_hydra_job_order() -> None:
    jobs = sweep_jobs(_sweep_config(["a=x,y,z", "b=range(0,2)", "c=1"], params={"p": "1,2"}))
    # the sweeper's params come first, then the command line, the last key varying fastest
    assert jobs is not None and len(jobs) == 2 * 3 * 2
    assert jobs[0] == ["p=1", "a=x", "b=0", "c=1"]
    assert jobs[1] == ["p=1", "a=x", "b=1", "c=1"]
    assert jobs[2] == ["p=1", "a=y", "b=0", "c=1"]
    assert jobs[-1] == ["p=2", "a=z", "b=1", "c=1"]
    assert sweep_jobs(_sweep_config(["a=1"])) == [["a=1"]]
    assert sweep_jobs(_sweep_config(["a=1,2"], sweeper="some.other.Sweeper")) is None
    assert sweep_jobs(_sweep_config(["a=glob(*)"])) is None  # needs the config's groups


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_on_a_terminal_outside_ci() -> None:
    assert progress_enabled(_Stream(tty=True), {})
    assert not progress_enabled(_Stream(tty=False), {})
    assert not progress_enabled(_Stream(tty=True), {"CI": "true"})
    assert progress_enabled(_Stream(tty=True), {"CI": "false"})
    closed = io.StringIO()
    closed.close()
    assert not progress_enabled(closed, {})  # its isatty raises ValueError


def test_progress_counts_runs_and_closes_when_all_are_done() -> None:
    out = io.StringIO()
    progress = SweepProgress(3, "sweep t", file=out)
    progress.advance()
    progress.advance(failed=True)
    assert progress.n == 2
    progress.advance()
    assert progress.n == 3
    text = out.getvalue()
    assert "3/3" in text and "failed=1" in text
    assert text.endswith("\n"), "a finished bar ends its line"
    assert not isinstance(sys.stdout, _LinesAboveBars)


def test_broken_progress_never_breaks_the_sweep() -> None:
    out = io.StringIO()
    progress = SweepProgress(5, "sweep t", file=out)
    out.close()  # writing now raises ValueError
    progress.advance()
    progress.advance()
    progress.close()
    pickle.dumps(GatherRuns())  # the joblib launcher ships the callback to its workers


def test_lines_go_out_whole() -> None:
    out = io.StringIO()
    stream = _LinesAboveBars(out, io.StringIO())
    stream.write("  goodput")
    assert out.getvalue() == ""
    stream.write(" 0.9\nnext")
    assert out.getvalue() == "  goodput 0.9\n"
    stream.flush()
    assert out.getvalue() == "  goodput 0.9\nnext"


def run_on_terminal(args: list[str], cwd: Path, **env: str) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal 100 columns wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "simulator", *args], cwd=cwd,
                            env=cli_env(KEEP_TTY_CHECKS, **env), stdin=slave, stdout=slave,
                            stderr=slave)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


TERMINAL_SWEEP = ["-m", "name=bar", "replicates=2", "horizon_days=1",
                  "checkpoint.interval_minutes=30,60,90"]


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=laptop"]],
                         ids=["default", "laptop"])
def test_terminal_shows_the_sweep_bar_under_whole_lines(tmp_path: Path,
                                                        launcher: list[str]) -> None:
    # laptop: the runs execute in worker processes; the bar and the runs' lines (sent
    # back whole with each run) are drawn by the launching process
    status, text = run_on_terminal([*TERMINAL_SWEEP, *launcher], tmp_path)
    assert status == 0, text
    assert "sweep bar: 100%" in text and "3/3" in text, text
    # what is left on each screen line once every \r redraw is applied: the runs' lines
    # and Hydra's log lines, each whole (never glued to a bar), and the finished bar
    screen = [line.rsplit("\r", 1)[-1] for line in text.split("\r\n")]
    runs = [line for line in screen if "replicates) ->" in line]
    assert len(runs) == 3 and all(line.startswith("  goodput ") for line in runs), text
    logs = [line for line in screen if "[HYDRA]" in line]
    assert len(logs) == 4 and all(line.startswith("[") for line in logs), text  # 1 + 3 jobs
    assert sum(line.startswith("sweep bar: 100%") for line in screen) == 1, text
    assert (tmp_path / "results" / "bar" / RUNS_FILE).is_file()


def test_no_bar_on_a_terminal_in_ci(tmp_path: Path) -> None:
    status, text = run_on_terminal(TERMINAL_SWEEP, tmp_path, CI="true")
    assert status == 0, text
    assert "sweep bar" not in text and "run/s" not in text and "rep/s" not in text, text
    assert "\r" not in text.replace("\r\n", "\n"), "no redrawn line without a bar"
