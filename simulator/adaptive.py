"""Sampling until a confidence interval is narrow enough: runs the simulator in batches
of replicates (the statistics themselves are in `simulator.experiments.analysis`).

    python -m simulator.adaptive --target 0.002 -- checkpoint=young_daly

(`python -m simulator.analysis adaptive ...` is the same command.)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Sequence

import pandas as pd

from simulator.api import load_scenario
from simulator.errors import ConfigError, print_config_error
from simulator.experiments.analysis import SAMPLE_KEYS
from simulator.experiments.budget import check_budget
from simulator.experiments.outputs import format_summary, mean_ci, write_csv_atomic
from simulator.experiments.runner import run_scenario


def adaptive_replicates(overrides: Sequence[str], target_halfwidth: float = 0.005,
                        metric: str = "goodput", batch: int = 10, max_replicates: int = 200,
                        min_replicates: int = 10, level: float = 0.95,
                        progress: Callable[[int, float, float], None] | None = None,
                        config_name: str = "config") -> pd.DataFrame:
    """Run replicates in batches until the CI half-width of `metric`'s mean is at most
    `target_halfwidth` (after at least `min_replicates`), or `max_replicates` ran.

    Replicates are numbered 0, 1, 2, ... across batches (`first_replicate`), so the rows
    equal those of one run with that many replicates. `progress(n, mean, halfwidth)` is
    called after each batch. The result's `attrs` hold `target_met`, `halfwidth`, `mean`,
    `metric` and `target_halfwidth`.
    """
    if not target_halfwidth > 0:
        raise ValueError(f"target_halfwidth must be positive, got {target_halfwidth}")
    if batch < 1 or max_replicates < 2:
        raise ValueError("batch must be >= 1 and max_replicates >= 2")
    taken = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in SAMPLE_KEYS[:2]]
    if taken:
        raise ValueError(f"{', '.join(taken)}: adaptive_replicates chooses the replicates")
    scenario = load_scenario(list(overrides), config_name)  # compose, validate, elaborate once
    check_budget(dataclasses.replace(scenario, replicates=max_replicates))  # the whole run
    frames: list[pd.DataFrame] = []
    n, mean, half = 0, math.nan, math.nan
    while n < max_replicates:
        size = min(batch, max_replicates - n)
        part = dataclasses.replace(scenario, replicates=size, first_replicate=n)
        frames.append(run_scenario(part, progress=False))
        n += size
        if metric not in frames[-1].columns:
            raise ValueError(f"no metric {metric!r} in the summary row")
        mean, half = mean_ci(pd.concat([f[metric] for f in frames]), level)
        if math.isnan(mean):
            raise ValueError(f"{metric} is nan in this scenario: nothing to estimate")
        if progress is not None:
            progress(n, mean, half)
        if n >= min(min_replicates, max_replicates) and half <= target_halfwidth:
            break
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update(metric=metric, target_halfwidth=target_halfwidth, mean=mean,
                       halfwidth=half, target_met=bool(half <= target_halfwidth))
    return frame


# ---- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the adaptive command (here and under `simulator.experiments.analysis`)."""
    parser.add_argument("--target", type=float, default=0.005, help="CI half-width to reach")
    parser.add_argument("--metric", default="goodput")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--max", type=int, default=200, dest="max_replicates")
    parser.add_argument("--min", type=int, default=10, dest="min_replicates")
    parser.add_argument("--out", help="write the rows to this CSV file")
    parser.add_argument("overrides", nargs="*", help="scenario overrides (after --)")


def run(args: argparse.Namespace) -> None:
    """Sample as `args` say, printing each batch's estimate and the summary."""
    def show(n: int, mean: float, half: float) -> None:
        print(f"  n={n:<4} {args.metric} {mean:.6g} ± {half:.3g}", flush=True)

    frame = adaptive_replicates(args.overrides, args.target, args.metric, args.batch,
                                args.max_replicates, args.min_replicates, progress=show)
    met = "reached" if frame.attrs["target_met"] else "NOT reached (cap)"
    print(f"target ± {args.target:g} {met}: {len(frame)} replicates")
    print(format_summary(frame))
    if args.out:
        print(f"-> {write_csv_atomic(frame, args.out)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.adaptive",
                                     description="Replicates until the CI is narrow enough.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(args)
    except ConfigError as error:
        return print_config_error(error)
    except ValueError as error:
        print(f"trainsim adaptive: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
