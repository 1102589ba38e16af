"""Benchmark: `python -m simulator.bench [--repeat N] [--case NAME ...]`.

For each case, in a fresh process (so peak RSS is the case's own): wall seconds per
replicate (median of --repeat), SimPy events processed, events/s, peak RSS, and the wall
time raw SimPy needs for the same number of events on this machine, measured in the
same run. The ratio wall / raw is the figure that matters: it says how much the model
costs per event beyond SimPy itself. Exits 1 when a case misses its target by > 20%.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
from dataclasses import dataclass

import simpy

TOLERANCE = 1.2  # a case fails when it exceeds its target by more than 20%


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    overrides: tuple[str, ...]
    max_wall_s: float | None = None
    max_rss_mb: float | None = None
    kind: str = "replicate"  # "replicate": one run of the job; "fabric": build + step profile


CASES = {
    c.name: c
    for c in (
        Case("llama3_exp",
             "16,384 H100, 54 days, exponential per-node MTBF 6,300 h, 30-min checkpoints",
             ("cluster=llama3_16k", "horizon_days=54", "failures=exponential",
              "failures.node_mtbf_hours=6300", "checkpoint=fixed",
              "checkpoint.interval_minutes=30"),
             max_wall_s=2.0, max_rss_mb=500.0),
        Case("llama3_gpus",
             "as llama3_exp, the same job rate split half GPUs (each GPU a failing process, "
             "MTBF 100,800 h) and half hosts (12,600 h)",
             ("cluster=llama3_16k", "horizon_days=54", "failures=exponential",
              "failures.node_mtbf_hours=12600", "failures.gpu_mtbf_hours=100800",
              "checkpoint=fixed", "checkpoint.interval_minutes=30"),
             max_wall_s=2.0, max_rss_mb=500.0),
        Case("default", "the default scenario: 1,024 H100, 30 days, RSC-1 failure rate", ()),
        Case("fabric",
             "cold: build the 16,384-GPU rail-optimized fat-tree and time every collective "
             "of one llama3_405b step (events: collective calls; raw: a cached lookup)",
             ("workload=llama3_405b", "topology=dgx_h100_superpod"),
             max_wall_s=5.0, kind="fabric"),
    )
}


def raw_simpy_seconds(events: int) -> float:
    """Wall time for SimPy alone to process `events` timeouts in one process."""

    def ticker(env: simpy.Environment, n: int):
        for _ in range(n):
            yield env.timeout(1.0)

    env = simpy.Environment()
    env.process(ticker(env, max(events - 1, 0)))
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _measure_fabric(case: Case, queue) -> None:
    """Runs in a child process: the step profile from a cold start, then a cached lookup."""
    from simulator import stepmodel
    from simulator.api import load_scenario
    from simulator.hardware import ACCELERATORS

    plain = load_scenario(list(case.overrides))
    stepmodel.clear_caches()
    base_rss = _peak_rss_mb()
    peak = ACCELERATORS[plain.cluster.accelerator].bf16_tflops * 1e12
    args = (plain.workload, plain.fabric, plain.cluster.gpus_per_node, peak, 0.6)
    start = time.perf_counter()
    stepmodel.profile(*args)
    wall = time.perf_counter() - start
    layout = stepmodel.layout_of(plain.workload, plain.cluster.gpus_per_node)
    calls = stepmodel.collective_model(plain.fabric, plain.cluster.gpus, layout).computed
    start = time.perf_counter()
    for _ in range(1000):
        stepmodel.profile(*args)
    cached = (time.perf_counter() - start) / 1000
    queue.put({"wall_s": wall, "events": calls, "failures": 0, "rss_mb": _peak_rss_mb(),
               "base_rss_mb": base_rss, "raw_s": cached})


def _measure(case: Case, repeat: int, queue) -> None:
    """Runs in a child process: compose the scenario, time `repeat` replicates."""
    from simulator.api import load_scenario
    from simulator.runner import run_replicate

    if case.kind == "fabric":
        _measure_fabric(case, queue)
        return
    scenario = load_scenario(list(case.overrides))
    base_rss = _peak_rss_mb()
    walls, events, failures = [], [], []
    for replicate in range(repeat):
        start = time.perf_counter()
        result = run_replicate(scenario, replicate)
        walls.append(time.perf_counter() - start)
        events.append(result.sim_events)
        failures.append(result.row["failures"])
    wall = statistics.median(walls)
    n_events = int(statistics.median(events))
    queue.put({"wall_s": wall, "events": n_events, "failures": statistics.mean(failures),
               "rss_mb": _peak_rss_mb(), "base_rss_mb": base_rss,
               "raw_s": raw_simpy_seconds(n_events)})


def run_case(case: Case, repeat: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_measure, args=(case, repeat, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def verdict(case: Case, result: dict) -> tuple[str, bool]:
    """('target text', passed) for a case's result."""
    parts, ok = [], True
    if case.max_wall_s is not None:
        parts.append(f"<= {case.max_wall_s:g} s")
        ok &= result["wall_s"] <= case.max_wall_s * TOLERANCE
    if case.max_rss_mb is not None:
        parts.append(f"<= {case.max_rss_mb:g} MB")
        ok &= result["rss_mb"] <= case.max_rss_mb * TOLERANCE
    return (", ".join(parts) or "-"), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=sorted(CASES),
                        help="run only this case (repeatable); default: all")
    parser.add_argument("--repeat", type=int, default=3,
                        help="replicates per case; the median wall time is reported")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    header = (f"{'case':<12}{'wall s':>9}{'events':>10}{'events/s':>11}{'failures':>10}"
              f"{'peak MB':>9}{'raw SimPy s':>13}{'ratio':>7}  {'target':<20}{'ok':>4}")
    print(header)
    print("-" * len(header))
    all_ok, bases = True, []
    for name in args.case or list(CASES):
        case = CASES[name]
        r = run_case(case, args.repeat)
        target, ok = verdict(case, r)
        all_ok &= ok
        bases.append(r["base_rss_mb"])
        if case.kind == "fabric":
            raw, ratio = f"{r['raw_s'] * 1e6:.1f} us", "-"
        else:
            raw, ratio = f"{r['raw_s']:.3f}", f"{r['wall_s'] / r['raw_s']:.1f}"
        print(f"{name:<12}{r['wall_s']:>9.3f}{r['events']:>10,}"
              f"{r['events'] / r['wall_s']:>11,.0f}{r['failures']:>10.0f}{r['rss_mb']:>9.0f}"
              f"{raw:>13}{ratio:>7}  {target:<20}{'yes' if ok else 'NO':>4}")
    print("\nfabric: wall is the cold build + every collective of one step; events are the "
          "distinct collectives timed; raw SimPy s is one cached step-profile lookup.")
    print(f"peak MB is the whole process (Python + numpy/pandas/hydra imports are "
          f"~{min(bases):.0f} MB before the model runs).")
    for name in args.case or list(CASES):
        print(f"  {name}: {CASES[name].what}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
