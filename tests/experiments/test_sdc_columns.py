"""The SDC summary columns (sdc_events, sdc_rework_h) and the configuration columns of
silent data corruption and retention, through `simulate()`."""

from __future__ import annotations

import math
import warnings

import simulator

SMALL = ["cluster.gpus=64", "horizon_days=2"]  # 8 nodes of 8 H100


def rows(overrides: list[str]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feasibility warnings are not the subject
        return simulator.simulate(overrides, progress=False)


def test_without_sdc_the_columns_say_none():
    row = rows(SMALL).iloc[0]
    assert row["sdc_events"] == 0 and row["sdc_rework_h"] == 0.0
    for column in ("failures_sdc_mtbf_h", "failures_sdc_detect_h",
                   "failures_sdc_detect_shape", "checkpoint_keep", "checkpoint_keep_every"):
        assert math.isnan(row[column]), column
    assert row["failures_sdc_detect_kind"] is None


def test_with_sdc_the_columns_carry_the_configuration_in_their_units():
    # 64 GPUs at one corruption per 64 GPU-hours: one an hour, ~48 in two days
    row = rows([*SMALL, "failures.sdc_mtbf_hours=64", "failures.sdc_detect_hours=0.5",
                "failures.sdc_detect_kind=weibull", "failures.sdc_detect_shape=2",
                "checkpoint.keep=3", "checkpoint.keep_every=10"]).iloc[0]
    assert (row["failures_sdc_mtbf_h"], row["failures_sdc_detect_h"]) == (64.0, 0.5)
    assert (row["failures_sdc_detect_kind"], row["failures_sdc_detect_shape"]) == \
        ("weibull", 2.0)
    assert (row["checkpoint_keep"], row["checkpoint_keep_every"]) == (3, 10)
    assert 0 < row["sdc_events"] <= row["gpu_failures"]
    assert 0 < row["sdc_rework_h"] <= row["rework_h"]
