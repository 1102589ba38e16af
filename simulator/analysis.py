"""`python -m simulator.analysis summarize|paired|adaptive ...`: statistics of a sweep.

The statistics live in simulator/experiments/analysis.py; `adaptive` runs the simulator
(simulator/adaptive.py, with its own options). This module keeps the command's name, and
`from simulator.analysis import adaptive_replicates` working.
"""

from __future__ import annotations

import sys

from simulator.experiments import analysis


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["adaptive"]:  # it runs the simulator: its own module and options
        from simulator import adaptive

        return adaptive.main(argv[1:])
    return analysis.main(argv)


def __getattr__(name: str) -> object:
    """The statistics' public names, and `adaptive_replicates` (imported on first use:
    it brings Hydra and the runner with it)."""
    if name == "adaptive_replicates":
        from simulator.adaptive import adaptive_replicates

        return adaptive_replicates
    return getattr(analysis, name)


if __name__ == "__main__":
    raise SystemExit(main())
