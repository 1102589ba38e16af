"""Several command lines in one process: `python -m tests.fuzz.cli_batch '<json>'`.

Starting Python, pandas and Hydra takes seconds per process on a loaded 2-core machine;
the fuzz and corpus tests run many command lines, so one subprocess runs them all, each
exactly as `python -m simulator <args>` would (`simulator.__main__.main`, its exit
status from SystemExit, an escaping exception printed as the interpreter prints it).
Each run's output is framed by marker lines on stdout and stderr; `run_batch` splits it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from tests.clirun import cli_env

MARK = "\x1etrainsim-fuzz-run"


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"command: python -m simulator {' '.join(self.args)}\nexit status: "
                f"{self.returncode}\n--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n"
                f"{self.stderr[-4000:]}")


def _run_one(args: list[str]) -> int:
    from hydra.core.global_hydra import GlobalHydra

    import simulator.__main__ as cli

    GlobalHydra.instance().clear()
    if hasattr(cli, "_task_started"):
        cli._task_started = False
    sys.argv = ["trainsim", *args]
    try:
        cli.main()
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:  # what the interpreter would print
        traceback.print_exc()
        return 1
    return 0


def _main(batch: list[list[str]]) -> None:
    for i, args in enumerate(batch):
        for stream in (sys.stdout, sys.stderr):
            print(f"{MARK} {i}", file=stream, flush=True)
        code = _run_one(args)
        sys.stderr.flush()
        print(f"{MARK} exit {code}", flush=True)


def run_batch(batch: list[list[str]], cwd: Path, timeout: float, **env: str) -> list[Result]:
    """Run each argument list as one command line, in one subprocess started in `cwd`."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz.cli_batch", json.dumps(batch)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=cli_env(PYTHONPATH=str(root), **env), check=False)
    outs = proc.stdout.split(MARK)[1:]
    errs = proc.stderr.split(MARK)[1:]
    results = []
    for i, args in enumerate(batch):
        out = next((o for o in outs if o.startswith(f" {i}\n")), None)
        err = next((e for e in errs if e.startswith(f" {i}\n")), "")
        exit_line = next((o for o in outs[outs.index(out) + 1:outs.index(out) + 2]
                          if o.startswith(" exit ")), None) if out is not None else None
        if exit_line is None:  # the process died in this run
            results.append(Result(args, proc.returncode or -1, proc.stdout[-3000:],
                                  proc.stderr[-4000:]))
            break
        code = int(exit_line.split()[1])
        results.append(Result(args, code, out.split("\n", 1)[1], err.split("\n", 1)[1]))
    return results


if __name__ == "__main__":
    _main(json.loads(sys.argv[1]))
