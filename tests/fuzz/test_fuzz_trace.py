"""Fuzz trace-file contents through `simulate(failures=trace)`: random rows, bad
encodings, huge fields, unsorted and duplicate rows, header-only and empty files."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given

from tests.fuzz import strategies
from tests.fuzz.check import check
from tests.fuzz.conftest import profile


def check_trace(data: bytes, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.csv"
        path.write_bytes(data)
        return check(["failures=trace", f"failures.trace_path='{path}'", "horizon_days=2",
                      *extra])


@profile(examples=40)
@given(strategies.trace_files())
def test_any_trace_answers_cleanly(data: bytes) -> None:
    check_trace(data)
