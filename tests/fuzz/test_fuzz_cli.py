"""Fuzzed inputs through the command line: exit 0 or 2, never a traceback, and an
error is one line. The examples of one hypothesis example run in one subprocess
(tests/fuzz/cli_batch.py), each as `python -m simulator <args>`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import strategies
from tests.fuzz.cli_batch import run_batch
from tests.fuzz.conftest import profile

WALL_S = 300  # the whole batch (Python and Hydra start once)
BATCH = 6  # command lines per subprocess


def _args(overrides: list[str]) -> list[str]:
    """A short run named `fuzz` (a fuzzed name or horizon is dropped: the run's folder
    stays in the scratch folder, the run short)."""
    return ["name=fuzz", "horizon_days=2", *[
        o for o in overrides if o.split("=", 1)[0] not in ("name", "horizon_days")]]


@profile(examples=1)
@given(st.lists(strategies.overrides, min_size=BATCH, max_size=BATCH))
def test_cli_exits_0_or_2_without_traceback(batch: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = run_batch([_args(o) for o in batch], cwd=Path(folder), timeout=WALL_S)
    assert len(results) == len(batch), results[-1].describe()
    for result in results:
        assert result.returncode in (0, 2), result.describe()
        assert "Traceback" not in result.stderr, result.describe()
        if result.returncode == 2:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert len(lines) == 1, result.describe()
