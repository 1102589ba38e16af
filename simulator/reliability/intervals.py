"""Checkpoint interval rules: the interval in seconds from the configured one, the write
time C and the job's mean time between interruptions M (closed forms, no state).

The checkpoint policies (simulator/reliability/checkpoint_policies.py) choose among them;
the report marks their optima on its figures.
"""

from __future__ import annotations

import math


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


def daly_interval(interval_s: float | None, write_s: float, mtbi_s: float) -> float:
    """Daly's (2006) higher-order optimum, better than Young's when C is not << M:

    T = sqrt(2 C M) [1 + sqrt(C / 2M) / 3 + (C / 2M) / 9] - C   for C < 2M, else T = M.
    """
    young_daly_interval(None, write_s, mtbi_s)  # same preconditions
    if write_s >= 2 * mtbi_s:
        return mtbi_s
    x = write_s / (2 * mtbi_s)
    return math.sqrt(2 * write_s * mtbi_s) * (1 + math.sqrt(x) / 3 + x / 9) - write_s
