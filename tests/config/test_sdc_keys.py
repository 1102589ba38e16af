"""The keys of silent data corruption (failures.sdc_*) and checkpoint retention
(checkpoint.keep, keep_every): what each sets, and the error naming key, value and what is
allowed for every bad value."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from simulator.config.schema import Config
from simulator.config.validate import validate
from simulator.errors import ConfigError
from simulator.reliability.failures import Exponential, LogNormal, Weibull
from tests.clirun import describe, run_cli
from tests.config.test_validate import config

HOUR = 3600.0


def test_sdc_is_off_by_default_and_retention_keeps_everything():
    spec = validate(Config())
    assert spec.failures.sdc is None and not spec.failures.has_sdc
    assert (spec.checkpoint.keep, spec.checkpoint.keep_every) == (None, None)


def test_the_sdc_keys_in_seconds():
    spec = validate(config(failures__sdc_mtbf_hours=3_538_944.0, failures__sdc_detect_hours=3.0,
                           checkpoint__keep=4, checkpoint__keep_every=24))
    sdc = spec.failures.sdc
    assert (sdc.mtbf_s, sdc.detect_s, sdc.detect_kind) == (3_538_944 * HOUR, 3 * HOUR,
                                                          "exponential")
    assert sdc.detect == Exponential(3 * HOUR)
    assert (spec.checkpoint.keep, spec.checkpoint.keep_every) == (4, 24)
    resolved = spec.checkpoint.resolve(math.inf)
    assert (resolved.keep, resolved.keep_every) == (4, 24)
    # the corruptions count in the job's interruption rate (the schema's failures have
    # no other rate): 1,024 GPUs x 1 / MTBF, one every 3,456 h
    assert spec.failures.job_mtbi_s(128, 8) == pytest.approx(3_538_944 / 1024 * HOUR)


@pytest.mark.parametrize(("kind", "shape", "lifetime"), [
    ("weibull", 2.0, Weibull(HOUR, 2.0)), ("lognormal", 0.5, LogNormal(HOUR, 0.5))])
def test_the_detection_latency_distribution(kind, shape, lifetime):
    spec = validate(config(failures__sdc_mtbf_hours=1e6, failures__sdc_detect_hours=1.0,
                           failures__sdc_detect_kind=kind, failures__sdc_detect_shape=shape))
    assert spec.failures.sdc.detect == lifetime


BAD: list[tuple[dict[str, Any], str, Any, str]] = [
    ({"failures__sdc_mtbf_hours": 0.0}, "failures.sdc_mtbf_hours", 0.0, "positive"),
    ({"failures__sdc_mtbf_hours": -5.0}, "failures.sdc_mtbf_hours", -5.0, "positive"),
    ({"failures__sdc_mtbf_hours": 1e13}, "failures.sdc_mtbf_hours", 1e13, "at most"),
    ({"failures__sdc_mtbf_hours": 1e6, "failures__kind": "none", "failures__node_mtbf_hours":
      None}, "failures.sdc_mtbf_hours", 1e6, "failures=none"),
    ({"failures__sdc_detect_hours": 0.0}, "failures.sdc_detect_hours", 0.0, "positive"),
    ({"failures__sdc_detect_hours": -1.0}, "failures.sdc_detect_hours", -1.0, "positive"),
    ({"failures__sdc_detect_kind": "gamma"}, "failures.sdc_detect_kind", "gamma",
     "exponential"),
    ({"failures__sdc_detect_shape": 2.0}, "failures.sdc_detect_shape", 2.0, "no shape"),
    ({"failures__sdc_detect_kind": "weibull", "failures__sdc_detect_shape": 0.01},
     "failures.sdc_detect_shape", 0.01, "[0.1, 10]"),
    ({"failures__sdc_detect_kind": "lognormal", "failures__sdc_detect_shape": 9.0},
     "failures.sdc_detect_shape", 9.0, "[0.01, 5]"),
    ({"failures__sdc_detect_hours": 3.0}, "failures.sdc_detect_hours", 3.0,
     "only matters with silent data corruption"),
    ({"failures__sdc_detect_kind": "weibull", "failures__sdc_detect_shape": 2.0},
     "failures.sdc_detect_kind", "weibull", "only matters with silent data corruption"),
    ({"failures__sdc_detect_shape": math.nan}, "failures.sdc_detect_shape", math.nan,
     "finite"),
    ({"checkpoint__keep": 3}, "checkpoint.keep", 3, "silent data corruption"),
    ({"checkpoint__keep_every": 10}, "checkpoint.keep_every", 10, "silent data corruption"),
    ({"checkpoint__keep": 0, "failures__sdc_mtbf_hours": 1e6}, "checkpoint.keep", 0,
     "whole number of 1 or more"),
    ({"checkpoint__keep": 2.5, "failures__sdc_mtbf_hours": 1e6}, "checkpoint.keep", 2.5,
     "whole number of 1 or more"),
    ({"checkpoint__keep_every": -1, "failures__sdc_mtbf_hours": 1e6},
     "checkpoint.keep_every", -1, "whole number of 1 or more"),
    ({"checkpoint__keep_every": True, "failures__sdc_mtbf_hours": 1e6},
     "checkpoint.keep_every", True, "whole number of 1 or more"),
]


@pytest.mark.parametrize(("changes", "key", "value", "allowed"), BAD,
                         ids=[f"{k}={v}" for _, k, v, _ in BAD])
def test_a_bad_value_names_key_value_and_what_is_allowed(changes, key, value, allowed):
    with pytest.raises(ConfigError) as caught:
        validate(config(**changes))
    error = caught.value
    assert error.key == key
    assert error.value == value or (isinstance(value, float) and math.isnan(value))
    assert allowed in error.allowed


def test_sdc_mtbf_with_a_trace_is_an_error(tmp_path: Path):
    trace = tmp_path / "t.csv"
    trace.write_text("time_hours,kind,node\n1,node,0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        validate(config(failures__kind="trace", failures__trace_path=str(trace),
                        failures__sdc_mtbf_hours=1e6))
    assert caught.value.key == "failures.sdc_mtbf_hours"
    assert "trace" in caught.value.allowed


def test_sdc_rows_of_a_trace_turn_sdc_on_with_the_configured_latency(tmp_path: Path):
    trace = tmp_path / "t.csv"
    trace.write_text("time_hours,kind,node,gpu,repair_hours\n1,sdc,0,3,\n2,sdc,1,0,0.5\n",
                     encoding="utf-8")
    spec = validate(config(failures__kind="trace", failures__trace_path=str(trace),
                           failures__sdc_detect_hours=4.0, checkpoint__keep=2))
    assert spec.failures.has_sdc and spec.failures.sdc.detect_s == 4 * HOUR
    assert math.isinf(spec.failures.sdc.mtbf_s)  # nothing sampled: the rows are the SDCs
    assert [(t.kind, t.gpu, t.repair_s) for t in spec.failures.trace] == \
        [("sdc", 3, None), ("sdc", 0, 0.5 * HOUR)]


def test_a_bad_retention_key_is_one_line_and_exit_2(tmp_path: Path):
    proc = run_cli(["horizon_days=0.5", "checkpoint.keep=3"], tmp_path)
    info = describe(proc)
    assert proc.returncode == 2, info
    assert "Traceback" not in proc.stderr + proc.stdout, info
    (line,) = proc.stderr.splitlines()
    assert "checkpoint.keep" in line and "3" in line and "silent data corruption" in line
