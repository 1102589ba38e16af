"""Every concrete case of issue #12 gets its clean answer (tests/fuzz/corpus.py), and the
cases the fuzzer found (tests/fuzz/found.json) stay fixed.

Cases still failing on this branch are marked xfail with the #12 work that fixes them
(OPEN); the marks come off when that work is merged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from simulator.errors import ConfigError, TrainsimWarning
from tests.clirun import cli_env
from tests.fuzz.check import check_error, check_frame, check_warnings, run
from tests.fuzz.cli_batch import Result, run_batch
from tests.fuzz.corpus import BUDGET_KEY_PREFIX, BUDGET_TOO, CASES, NAMES, Case

#: A corpus case answers in about a second once fixed (a budget refusal comes before
#: running); the limit leaves room for a loaded machine. Past it, a case is a hang.
WALL_S = 6.0
FOUND = json.loads((Path(__file__).with_name("found.json")).read_text())

#: Cases failing before the #12 validation, budget and outputs work is merged: xfail
#: (not strict) with the part that fixes them. Remove an id when its fix is merged.
OPEN: set[str] = set()
PART = {**{c.id: c.part for c in CASES}, **{f["id"]: f["part"] for f in FOUND},
        "env_interpolation": "validation", "empty_sweep": "outputs",
        "sweep_with_a_bad_job": "outputs", **{f"name={n}": "outputs" for n in NAMES}}


def _mark(case_id: str):
    if case_id not in OPEN:
        return ()
    return (pytest.mark.xfail(strict=False, reason=f"fixed by the #12 {PART[case_id]} work"),)


def answer(case: Case, overrides: list[str], *, expect: str, keys: tuple[str, ...],
           budget: bool) -> None:
    """Assert the clean answer `expect` for `overrides`."""
    outcome, caught = run(overrides, WALL_S)
    check_warnings(caught)
    if isinstance(outcome, ConfigError):
        assert expect != "run", f"a valid input refused: {outcome}"
        check_error(outcome, overrides)
        named = str(outcome.key).lstrip("+~")
        allowed = any(named == k or named.startswith(f"{k}.") for k in keys) or (
            budget and named.startswith(BUDGET_KEY_PREFIX))
        assert allowed, f"{outcome} names {named!r}, not one of {keys}"
        return
    assert expect != "error", f"ran without a ConfigError naming {keys}"
    check_frame(outcome)
    if expect == "warn":
        assert any(issubclass(w.category, TrainsimWarning) for w in caught), (
            f"ran without a word (no ConfigError naming {keys}, no TrainsimWarning)")


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=_mark(c.id)) for c in CASES])
def test_issue_case(case: Case) -> None:
    overrides = ["horizon_days=2", *case.overrides]
    if any(o.startswith("horizon_days=") for o in case.overrides):
        overrides = list(case.overrides)
    with tempfile.TemporaryDirectory() as folder:
        if case.trace is not None:
            path = Path(folder) / "trace.csv"
            path.write_bytes(case.trace)
            overrides.append(f"failures.trace_path='{path}'")
        answer(case, overrides, expect=case.expect, keys=case.keys,
               budget=case.part == "budget" or case.id in BUDGET_TOO)


@pytest.mark.parametrize("found", [pytest.param(f, id=f["id"], marks=_mark(f["id"]))
                                   for f in FOUND])
def test_found_case(found: dict) -> None:
    """A case the fuzzer found: `found` says the input, what happened, the answer due."""
    with tempfile.TemporaryDirectory() as folder:
        overrides = list(found["overrides"])
        if "trace" in found:
            path = Path(folder) / "trace.csv"
            path.write_bytes(found["trace"].encode("latin-1"))
            overrides += ["failures=trace", f"failures.trace_path='{path}'"]
        case = Case(found["id"], tuple(overrides), found["expect"], tuple(found["keys"]),
                    found["part"])
        answer(case, overrides, expect=case.expect, keys=case.keys,
               budget=case.part == "budget" or case.id in BUDGET_TOO)


# ---- through the command line (one subprocess for all: tests/fuzz/cli_batch.py) ---------

SWEEPS = {
    "empty_sweep": (["-m", "cluster.gpus=range(8,0)"], "cluster.gpus"),
    "sweep_with_a_bad_job": (["-m", "horizon_days=0.1", "checkpoint.interval_minutes=60,-1"],
                             "checkpoint.interval_minutes"),
}


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory) -> dict[str, tuple[Result, list[str]]]:
    """Every command-line case run once: id -> (its result, files written outside
    results/ in the scratch folder after all of them)."""
    folder = tmp_path_factory.mktemp("cli")
    cwd = folder / "a" / "b"  # `../../x` stays in the scratch folder
    cwd.mkdir(parents=True)
    batch = {f"name={n}": [f"name={n.replace('{tmp}', str(folder))}", "horizon_days=0.1"]
             for n in NAMES}
    # -m first: Hydra's parser takes the overrides as one run of positional arguments
    batch.update({case: ["-m", "name=sweep", *args[1:]] for case, (args, _) in SWEEPS.items()})
    results = run_batch(list(batch.values()), cwd=cwd, timeout=600,
                        HOME=str(folder / "home"))
    outside = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                     if p.is_file() and "results" not in p.relative_to(folder).parts)
    return {case: (result, outside) for case, result in zip(batch, results, strict=False)}


def _one_line(result: Result, key: str) -> None:
    assert result.returncode == 2, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert "Error executing job" not in result.stderr, result.describe()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{key}=" in lines[0], result.describe()


@pytest.mark.parametrize("name", [pytest.param(n, id=f"name={n}", marks=_mark(f"name={n}"))
                                  for n in NAMES])
def test_name_is_a_plain_file_name(name: str, cli_results) -> None:
    """A run's folder stays inside results/: `name` is a plain file name (exit 2, one
    line naming `name`)."""
    result, _ = cli_results[f"name={name}"]
    _one_line(result, "name")


def test_nothing_is_written_outside_results(cli_results) -> None:
    outside = next(iter(cli_results.values()))[1]
    assert not outside, f"written outside results/: {outside}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c, marks=_mark(c)) for c in SWEEPS])
def test_sweep_errors_are_one_line(case: str, cli_results) -> None:
    """An empty sweep and a sweep with one bad job: exit 2, one trainsim line naming the
    key, no Hydra "Error executing job" line."""
    _one_line(cli_results[case][0], SWEEPS[case][1])


@pytest.mark.parametrize("case", [pytest.param("env_interpolation", marks=_mark(
    "env_interpolation"))])
def test_environment_is_not_echoed(case: str) -> None:
    """`${oc.env:X}` in a value: the error names the key, not the variable's value."""
    secret = "s3cr3t-value-of-the-environment"
    os.environ["TRAINSIM_FUZZ_SECRET"] = secret
    try:
        outcome, _ = run(["checkpoint.interval_minutes=${oc.env:TRAINSIM_FUZZ_SECRET}"],
                         WALL_S)
    finally:
        del os.environ["TRAINSIM_FUZZ_SECRET"]
    assert isinstance(outcome, ConfigError), "a text interval ran"
    assert outcome.key == "checkpoint.interval_minutes", str(outcome)
    assert secret not in str(outcome), str(outcome)


def test_concurrent_sweeps_do_not_mix(tmp_path: Path) -> None:
    """Two different sweeps with the same name at once: one may refuse (exit 2, one line)
    or wait, but `runs.csv` holds exactly one sweep's runs, never a mix.

    The second starts once the first has finished a run (the issue's case). Whether they
    overlap depends on the machine: when the second's start-up outlasts the first, they
    run one after the other and this passes before the lock too (the sweep-lock work
    tests the overlap itself)."""
    sweeps = {"a": ["64", "128", "192"], "b": ["512", "576"]}
    procs = {}
    for tag, gpus in sweeps.items():
        args = ["-m", "name=same", "horizon_days=2", f"cluster.gpus={','.join(gpus)}"]
        procs[tag] = subprocess.Popen([sys.executable, "-m", "simulator", *args],
                                      cwd=tmp_path, env=cli_env(), text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # start b once a has finished a run (the issue's case: a's runs are moved away)
        first = tmp_path / "results" / "same" / "0" / "summary.csv"
        deadline = time.monotonic() + 120
        while tag == "a" and not first.exists() and procs["a"].poll() is None:
            assert time.monotonic() < deadline, "sweep a wrote no run in 120 s"
            time.sleep(0.05)
    outputs = {tag: (p.communicate(timeout=600), p.returncode) for tag, p in procs.items()}
    for tag, ((_, err), code) in outputs.items():
        assert code in (0, 2), f"sweep {tag}: exit {code}\n{err[-3000:]}"
        assert "Traceback" not in err, f"sweep {tag}:\n{err[-3000:]}"
        if code == 2:
            assert len([x for x in err.splitlines() if x.strip()]) == 1, err[-3000:]
    runs = pd.read_csv(tmp_path / "results" / "same" / "runs.csv")
    found = sorted(runs["gpus"].astype(int).astype(str).unique(), key=int)
    assert found in (sweeps["a"], sweeps["b"]), f"runs.csv mixes the sweeps: gpus {found}"
