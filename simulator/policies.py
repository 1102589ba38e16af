"""Checkpoint policies, chosen by name: each turns the scenario into an interval.

A policy sees the checkpoint write time C and the job's mean time between
interruptions M (from the failure model) and returns the compute time between
checkpoints, in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

IntervalRule = Callable[[float | None, float, float], float]


def fixed_interval(interval_s: float | None, write_s: float, mtbi_s: float) -> float:
    """The interval the user configured, as is."""
    if interval_s is None:
        raise ValueError("the fixed policy needs an interval")
    return interval_s


def young_daly_interval(interval_s: float | None, write_s: float, mtbi_s: float) -> float:
    """Young's (1974) first-order optimum T = sqrt(2 C M).

    It minimises the first-order waste C/T + (T/2 + R)/M; it is accurate while C << M.
    """
    if not (write_s > 0 and math.isfinite(mtbi_s)):
        raise ValueError("young_daly needs a positive write time and a finite MTBI")
    return math.sqrt(2.0 * write_s * mtbi_s)


CHECKPOINT_POLICIES: dict[str, IntervalRule] = {
    "fixed": fixed_interval,
    "young_daly": young_daly_interval,
}
