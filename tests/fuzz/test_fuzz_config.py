"""Fuzz every config key and group through `simulate()` (in-process, short horizons).

Each example is 1-4 overrides (tests/fuzz/strategies.py) on top of a short run; the
answer must be a one-line ConfigError naming a key, or rows that make sense
(tests/fuzz/check.py). Profiles: tests/fuzz/conftest.py.
"""

from __future__ import annotations

from hypothesis import given

from tests.fuzz import strategies
from tests.fuzz.check import check
from tests.fuzz.conftest import profile

#: A short run, so that an example takes a fraction of a second; a fuzzed key wins.
BASE = {"horizon_days": "2", "replicates": "1"}


def with_base(overrides: list[str]) -> list[str]:
    keys = {o.split("=", 1)[0].lstrip("~+") for o in overrides}
    return [f"{k}={v}" for k, v in BASE.items() if k not in keys] + overrides


@profile(examples=60)
@given(strategies.overrides)
def test_any_overrides_answer_cleanly(overrides: list[str]) -> None:
    check(with_base(overrides))


@profile(examples=15)
@given(strategies.overrides)
def test_overrides_on_a_model_workload(overrides: list[str]) -> None:
    """The model's keys (workload.model.*, parallel, overlap) matter only with a model."""
    keys = {o.split("=", 1)[0] for o in overrides}
    base = [] if "workload" in keys else ["workload=llama3_70b"]
    check(with_base(base + overrides))
