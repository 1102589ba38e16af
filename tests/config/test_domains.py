"""Every key's domain, at the boundary (simulator/config/bounds.py, overrides.py and the
option modules): each input that used to raise a traceback, run silently or give an
error without its key now gives a ConfigError naming the key (or a TrainsimWarning).

Each case is an input of issue #12; the expected bound is the documented one (README
"Configuration reference", Bounds), worked out from its unit: a century is 36,525 days
= 876,600 hours = 52,596,000 minutes = 3,155,760,000 seconds.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from simulator import ConfigError, load_scenario
from simulator.config.bounds import MAX_GPUS
from simulator.errors import TrainsimWarning

CENTURY_MINUTES = 36525 * 24 * 60
CENTURY_HOURS = 36525 * 24

CASES = [
    # tracebacks before: OverflowError, MemoryError, TypeError, SimPy, NaN, math range
    (["checkpoint.interval_minutes=1e308"], "checkpoint.interval_minutes",
     f"at most {CENTURY_MINUTES:g}"),
    (["work_hours=1e308"], "work_hours", f"at most {CENTURY_HOURS:g}"),
    (["work_hours=100000"], "work_hours", "max_horizon_days x 24 = 87600"),
    (["replicates=99999999999999999999"], "replicates", "at most 1e+06"),
    (["cluster.gpus=1000000000"], "cluster.gpus", f"max_gpus={MAX_GPUS:,}"),
    (["cluster.spare_nodes=1000000000"], "cluster.spare_nodes", "raise max_gpus"),
    (["workload=llama3_70b", "workload.parallel.zero_stage=-1"],
     "workload.parallel.zero_stage", "one of 0, 1, 2, 3"),
    (["failures.infant_factor=1e308", "failures.infant_hours=10"],
     "failures.infant_factor", "at most 1000"),
    (["failures.lemon_factor=1e308"], "failures.lemon_factor", "at most 1000"),
    (["workload.jitter_cv=1e-300"], "workload.jitter_cv", "at least 1e-06"),
    (["failures=weibull", "failures.shape=0.001"], "failures.shape", "[0.1, 10]"),
    (["failures=lognormal", "failures.shape=1e200"], "failures.shape", "[0.01, 5]"),
    (["failures=weibull", "failures.shape=nan"], "failures.shape", "finite"),
    (["failures=lognormal", "failures.shape=6"], "failures.shape", "[0.01, 5]"),
    (["failures.shape=2"], "failures.shape", "has no shape"),
    (["seed=99999999999999999999"], "seed", "64-bit integer"),
    (["+failures.components.x={scope: node, mtbf_hours: 1e300}"],
     "failures.components.x.mtbf_hours", "at most 1e+12"),
    (["+failures.components.x={scope: node, mtbf_hours: 100, repair_hours: 1e300}"],
     "failures.components.x.repair_hours", f"at most {CENTURY_HOURS:g}"),
    (["max_gpus=0"], "max_gpus", "positive integer"),
    (["workload.model={a: 1}"], "workload.model", "workload.model is null"),
    # silent acceptance before
    (["events=2"], "events", "true or false"),
    (["restart.elastic=2"], "restart.elastic", "restart=elastic"),
    (["events=yes"], "events", "true or false"),
    (["workload=llama3_70b", "workload.parallel.allow_tp_across_domains=1"],
     "workload.parallel.allow_tp_across_domains", "true or false"),
    (["cluster.pue=inf"], "cluster.pue", "finite"),
    (["cluster.pue=5"], "cluster.pue", "at most 3"),
    (["cluster.gpu_hour_usd=nan"], "cluster.gpu_hour_usd", "finite"),
    (["horizon_days=-inf"], "horizon_days", "finite"),
    (["restart.repair_hours=nan"], "restart.repair_hours", "finite"),
    (["storage.write_gb_per_s=inf"], "storage.write_gb_per_s", "finite"),
    (["efficiency.compute=nan"], "efficiency.compute", "finite"),
    (["failures.trace_replicate=3"], "failures.trace_replicate", "failures=trace"),
    (["failures=none", "failures.lemon_fraction=0.5"], "failures.lemon_fraction",
     "no effect with failures=none"),
    # keys that did nothing
    (["work_hours=10", "horizon_days=5"], "horizon_days", "not used with work_hours"),
    (["~cluster"], "cluster", "cannot be deleted"),
    (["~cluster.gpus"], "cluster.gpus", "cannot be deleted"),
    (["workload.step_seconds=1e308"], "workload.step_seconds", "at most"),
    (["workload.step_seconds=3000000"], "workload.step_seconds", "no step could finish"),
    # messages that did not name their key
    (["workload.model.layers=10"], "workload.model.layers", "workload.model is null"),
]


@pytest.mark.parametrize(("overrides", "key", "words"), CASES,
                         ids=[" ".join(c[0]) for c in CASES])
def test_a_bad_value_is_a_config_error_naming_its_key(overrides, key, words) -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    assert info.value.key == key, str(info.value)
    assert words in info.value.allowed, str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("overrides", [
    ["events=true"], ["events=false"], ["restart=elastic"],
    ["failures=weibull", "failures.shape=0.1"], ["failures=lognormal", "failures.shape=5"],
    ["cluster.pue=3"], ["workload.jitter_cv=1e-6"], ["workload.jitter_cv=0"],
    ["work_hours=10"], ["work_hours=10", "max_horizon_days=1"],
    ["workload.step_seconds=2592000"],  # exactly the 30-day horizon: one step can finish
    ["cluster.gpus=8", f"max_gpus={8 + 8}", "cluster.spare_nodes=1"],
])
def test_values_at_their_bounds_are_accepted(overrides) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainsimWarning)
        load_scenario(overrides)


def test_max_gpus_lifts_the_cluster_bound() -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(["cluster.gpus=1024", "max_gpus=1000"])
    assert info.value.key == "cluster.gpus"
    load_scenario(["cluster.gpus=1024", "cluster.spare_nodes=0", "max_gpus=1024"])


def test_an_interpolated_value_is_shown_as_typed(monkeypatch) -> None:
    monkeypatch.setenv("TRAINSIM_TEST_PUE", "9")
    with pytest.raises(ConfigError) as info:
        load_scenario(["cluster.pue=${oc.env:TRAINSIM_TEST_PUE}"])
    assert info.value.key == "cluster.pue"
    assert str(info.value).startswith("cluster.pue=${oc.env:TRAINSIM_TEST_PUE}: ")
    monkeypatch.setenv("TRAINSIM_TEST_GPUS", "many")
    with pytest.raises(ConfigError) as info:  # a type error while composing
        load_scenario(["cluster.gpus=${oc.env:TRAINSIM_TEST_GPUS}"])
    assert "many" not in str(info.value) and "${oc.env:TRAINSIM_TEST_GPUS}" in str(info.value)


@pytest.mark.parametrize(("args", "start"), [
    (["events=2"], "trainsim: config error: events=2: must be true or false"),
    (["~cluster"], "trainsim: config error: cluster=~cluster: a config group cannot"),
    (["workload.model.layers=10"], "trainsim: config error: workload.model.layers=10: "),
    (["cluster.gpus=1000000000"], "trainsim: config error: cluster.gpus=1000000000: "),
])
def test_cli_prints_one_line_and_exits_2(tmp_path, args, start) -> None:
    proc = subprocess.run([sys.executable, "-m", "simulator", *args, "name=t"],
                          cwd=tmp_path, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), proc.stderr
