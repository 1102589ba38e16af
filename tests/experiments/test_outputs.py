"""simulator/experiments/outputs.py: the one atomic writer (CSV, text, PNG) and the
printed summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator.experiments.outputs import (
    SUMMARY_HEADLINE,
    format_summary,
    write_atomic,
    write_csv_atomic,
)


def test_write_atomic_text_and_binary(tmp_path: Path) -> None:
    text = tmp_path / "sub" / "report.md"
    assert write_atomic(text, lambda handle: handle.write("goodput ± 95% CI\n")) == text
    assert text.read_text(encoding="utf-8") == "goodput ± 95% CI\n"
    png = tmp_path / "figure.png"
    write_atomic(png, lambda handle: handle.write(b"\x89PNG\r\n"), binary=True)
    assert png.read_bytes() == b"\x89PNG\r\n"  # bytes as given: no newline translation
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["figure.png", "report.md", "sub"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "summary.csv"
    write_csv_atomic(pd.DataFrame({"goodput": [0.9]}), path)

    def half_then_fail(handle) -> None:
        handle.write("goodput\n0.")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, half_then_fail)
    assert pd.read_csv(path)["goodput"].tolist() == [0.9]
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]


def test_printed_summary_lists_the_headline_metrics() -> None:
    frame = pd.DataFrame({c: [1.0, 3.0] for c in SUMMARY_HEADLINE})
    lines = format_summary(frame).splitlines()
    assert [line.split()[0] for line in lines[1:]] == list(SUMMARY_HEADLINE)
    # mean 2, half-width t(0.975, 1) x s / sqrt(2) = 12.706 x 1.414 / 1.414 = 12.706
    assert lines[1].split()[1:] == ["2.0000", "12.7062"]
