"""Running the command line from tests: one subprocess, text output, a clear report."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

TIMEOUT_S = 600  # one CLI process; generous for a loaded 2-core machine
#: Variables that change how the CLI reports errors or where Ray connects.
_DROP = ("TRAINSIM_DEBUG", "HYDRA_FULL_ERROR", "RAY_ADDRESS")


def cli_env(drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """The environment for a CLI run: ours without `_DROP` and `drop`, plus `extra`."""
    gone = (*_DROP, *drop)
    return {**{k: v for k, v in os.environ.items() if k not in gone}, **extra}


def find_console_script(name: str = "trainsim") -> Path:
    """The console script `name` installed with the running interpreter: next to
    `sys.executable` (a virtual environment's bin/ or Scripts/, whether or not it is
    activated), else in the interpreter's scripts folder; never looked up on PATH."""
    folders = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    suffixes = (".exe", "") if os.name == "nt" else ("",)
    for folder in folders:
        for suffix in suffixes:
            if (folder / f"{name}{suffix}").is_file():
                return folder / f"{name}{suffix}"
    raise AssertionError(f"the `{name}` console script is not installed next to "
                         f"{sys.executable} (nor in {folders[1]}): pip install -e . "
                         "with this interpreter")


def run_cli(args: list[str], cwd: Path, *, console_script: bool = False,
            drop: tuple[str, ...] = (), timeout: float = TIMEOUT_S,
            **env: str) -> subprocess.CompletedProcess[str]:
    """Run trainsim with `args` in `cwd` (as `python -m simulator`, or the console
    script) and capture its text output."""
    if console_script:
        command = [str(find_console_script()), *args]
    else:
        command = [sys.executable, "-m", "simulator", *args]
    return subprocess.run(command, cwd=cwd, env=cli_env(drop, **env), capture_output=True,
                          text=True, timeout=timeout, check=False)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """The command, its exit status and the tails of its output, for assertion messages."""
    return (f"command: {' '.join(map(str, proc.args))}\nexit status: {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-4000:]}")
