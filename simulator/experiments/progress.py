"""Progress bars: only on a terminal and never under CI, and never able to break a run.

A sweep on the default launcher gets a bar over its runs; while it is open, standard
output goes through a small wrapper so that Hydra's log lines and each run's line print
above the bar. Large fabrics show their build stages (`fabric_progress`, the callback
the entry points give elaboration, simulator/elaborate.py). No Hydra
here: the sweep callback (simulator/experiments/results.py) says whether jobs run in this process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from tqdm import tqdm

LARGE_FABRIC = 16_384  # GPUs from which building the fabric shows progress


def progress_enabled(stream: IO[str] | None = None,
                     environ: Mapping[str, str] | None = None) -> bool:
    """Draw progress bars only on a terminal, and never when the environment says CI."""
    stream = sys.stderr if stream is None else stream
    environ = os.environ if environ is None else environ
    if environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _LinesAboveBars:
    """Stands in for sys.stdout while a bar is drawn: each complete line is written with
    the bars cleared and then redrawn (tqdm.external_write_mode), so Hydra's log lines
    and the runs' lines scroll above the bar instead of running into it."""

    def __init__(self, stream: IO[str], bars: IO[str]) -> None:
        self._stream, self._bars, self._pending = stream, bars, ""

    def write(self, text: str) -> int:
        self._pending += text
        lines, newline, self._pending = self._pending.rpartition("\n")
        if newline:
            with tqdm.external_write_mode(file=self._bars):
                self._stream.write(lines + newline)
                self._stream.flush()
        return len(text)

    def flush(self) -> None:
        if self._pending:
            with tqdm.external_write_mode(file=self._bars):
                self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self._stream, name)


class SweepProgress:
    """A bar counting a sweep's finished runs (reused ones too), in the launching process.

    While it is open, sys.stdout is replaced so that printed lines go above the bar;
    `close` restores it. Every method swallows its own errors: progress never breaks a sweep.
    """

    def __init__(self, total: int, desc: str, file: IO[str] | None = None) -> None:
        self._file = sys.stderr if file is None else file
        self._bar = tqdm(total=total, desc=desc, unit="run", file=self._file,
                         dynamic_ncols=True, leave=True)
        self._failed = 0
        self._stdout: IO[str] | None = None
        if progress_enabled(sys.stdout, {}) and sys.stdout is sys.__stdout__:
            self._stdout = sys.stdout
            sys.stdout = _LinesAboveBars(sys.stdout, self._file)  # type: ignore[assignment]

    @property
    def n(self) -> int:
        return int(self._bar.n)

    def advance(self, failed: bool = False) -> None:
        try:
            self._bar.update(1)
            self._failed += failed
            if failed:
                self._bar.set_postfix(failed=self._failed)
            if self._bar.total is not None and self._bar.n >= self._bar.total:
                self.close()  # done: Hydra's report of a failed job starts on a new line
        except Exception:
            self.close()

    def close(self) -> None:
        if self._stdout is not None:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            sys.stdout, self._stdout = self._stdout, None
        with contextlib.suppress(Exception):
            self._bar.close()


_progress: SweepProgress | None = None  # the bar of the sweep this process launches


def start_progress(jobs: list[list[str]] | None, desc: str,
                   in_process: bool) -> SweepProgress | None:
    """Open the sweep's bar if its jobs run in this process (`in_process`: Hydra's basic
    launcher), their number is known and stderr is a terminal (not CI). Other launchers
    run jobs in other processes, whose `on_job_end` cannot reach this bar: none is drawn."""
    global _progress
    close_progress()
    if jobs is None or not in_process or not progress_enabled():
        return None
    try:
        _progress = SweepProgress(len(jobs), desc)
    except Exception:
        _progress = None
    return _progress


def advance_progress(failed: bool = False) -> None:
    """One more run of the sweep finished (no-op without a bar, e.g. in a worker process)."""
    if _progress is not None:
        _progress.advance(failed)


def close_progress() -> None:
    """Close the sweep's bar, if any, and give sys.stdout back (before printing an error)."""
    global _progress
    progress, _progress = _progress, None
    if progress is not None:
        progress.close()


def fabric_progress(gpus: int) -> _FabricBar | None:
    """Elaboration's progress callback for a fabric of `gpus` accelerators: a bar of its
    build stages (graph, routing, collectives, ...) on a terminal outside CI when the
    fabric is large enough for building it to take seconds (about 30 at 131,072 GPUs);
    None (no callback) otherwise."""
    if gpus < LARGE_FABRIC or not progress_enabled():
        return None
    return _FabricBar(gpus)


class _FabricBar:
    """Elaboration's `progress(stage, done, total)` drawn as a transient tqdm bar, opened
    on the first call and closed when done == total (or by `close`)."""

    def __init__(self, gpus: int) -> None:
        self.desc = f"fabric of {gpus:,} GPUs"
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="stage", leave=False)
        self.bar.set_postfix_str(stage)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        """Take the bar off the terminal (also when elaboration stopped with an error)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
