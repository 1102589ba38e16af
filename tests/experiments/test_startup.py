"""Start-up and sweep overheads (issue #17): what a run does not pay for any more.

- A sweep composes once per combination of config-group choices: Hydra's sweeper composes
  every job up front (to refuse a bad one before any runs) and the launcher composed it
  again; `ComposeOnce` (simulator/experiments/results_compose.py) derives each job from
  its group choices' composition (tests/experiments/test_compose_sweep.py: equal to
  Hydra's) and hands the launcher the first one. Counted here on Hydra's own composing
  function, in a fresh process: a sweep of n jobs over b combinations of group choices
  composes b + 2 times (the sweep's own configuration twice), not 2n + 2.
- The default scenario imports neither scipy.stats nor matplotlib (~0.4 s and ~0.3 s).
- The numbers scipy.special gives instead of scipy.stats are the same numbers: the
  Student-t quantile and the Poisson tail, over the arguments the simulator passes.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import special, stats

from simulator.experiments.results import ComposeOnce

ROOT = Path(__file__).resolve().parents[2]

#: Counts Hydra's compositions (ConfigLoaderImpl.load_configuration) during a CLI run.
_COUNTING_CLI = """
import sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl
calls = []
compose = ConfigLoaderImpl.load_configuration
def counted(self, *args, **kwargs):
    calls.append(1)
    return compose(self, *args, **kwargs)
ConfigLoaderImpl.load_configuration = counted
from simulator.__main__ import main
sys.argv = ["simulator", *sys.argv[1:]]
try:
    main()
finally:
    print("compositions", len(calls))
"""


def _python(code: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _compositions(proc: subprocess.CompletedProcess[str]) -> int:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("compositions ")][-1]
    return int(line.split()[1])


@pytest.mark.parametrize(("sweep", "jobs", "bases"), [
    (["checkpoint.interval_minutes=30,60,90"], 3, 1),
    (["checkpoint=fixed,async", "checkpoint.interval_minutes=30,60"], 4, 2),
])
def test_a_sweep_composes_once_per_combination_of_group_choices(tmp_path, sweep, jobs,
                                                                bases):
    proc = _python(_COUNTING_CLI, ["-m", "name=once", "horizon_days=1", "replicates=1",
                                   *sweep], tmp_path)
    # Hydra's start-up composes the sweep's own configuration twice (to read the run
    # mode, then to run); then each combination of group choices once, each job being
    # derived from it (Hydra alone: each job twice, 2 + 2 x jobs)
    assert _compositions(proc) == 2 + bases
    runs = tmp_path / "results" / "once" / "runs.csv"
    assert len(runs.read_text().splitlines()) == 1 + jobs


def test_a_bad_job_is_still_refused_before_any_job_runs(tmp_path):
    """The up-front check stays: job 1's failure model does not exist, so job 0 (a good
    configuration) never runs."""
    proc = _python(_COUNTING_CLI, ["-m", "name=bad", "horizon_days=1", "replicates=1",
                                   "failures=exponential,no_such_model"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "no_such_model" in proc.stderr
    assert not (tmp_path / "results" / "bad" / "0" / "summary.csv").exists()


class _Loader:
    """A stand-in for Hydra's config loader: composes a fresh dict, counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    def load_sweep_config(self, master_config, sweep_overrides):
        self.calls += 1
        return {"overrides": list(sweep_overrides), "call": self.calls}


def test_compose_once_hands_the_second_request_a_copy_of_the_first():
    loader = _Loader()
    once = ComposeOnce(loader)
    first = once(None, ["a=1"])
    second = once(None, ["a=1"])
    assert loader.calls == 1 and second == first and second is not first
    once(None, ["a=1"])  # a third request (a re-run) composes again
    assert loader.calls == 2


def test_compose_once_in_another_process_keeps_nothing():
    loader = _Loader()
    once = ComposeOnce(loader)
    once(None, ["a=1"])
    shipped = pickle.loads(pickle.dumps(once))  # as joblib, Ray or submitit ship it
    assert shipped._composed == {}
    shipped(None, ["a=1"])
    shipped(None, ["a=1"])
    assert shipped._loader.calls == 3  # 1 before shipping, then composes every time


def test_the_default_scenario_imports_no_scipy_stats_nor_matplotlib(tmp_path):
    code = ("import sys\n"
            "from simulator.__main__ import main\n"
            "sys.argv = ['simulator', 'name=lean']\n"
            "main()\n"
            "print('loaded', sorted(m for m in ('scipy.stats', 'matplotlib')"
            " if m in sys.modules))\n")
    proc = _python(code, [], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "loaded []" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_student_t_quantile_from_special_equals_scipy_stats(level):
    for df in range(1, 2001):
        assert special.stdtrit(df, 0.5 + level / 2) == stats.t.ppf(0.5 + level / 2, df)


def test_poisson_tail_from_special_equals_scipy_stats():
    for spares in (0, 1, 2, 5, 17, 64, 300, 860, 4096):
        for mean in (1e-9, 0.3, 1.0, 4.2, 17.5, 64.0, 250.0, 900.0, 5000.0):
            assert special.pdtrc(spares, mean) == stats.poisson.sf(spares, mean)
