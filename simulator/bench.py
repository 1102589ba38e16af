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
import os
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
    kind: str = "replicate"  # replicate | fabric (cold build + step profile) | sweep
    min_raw_share: float | None = None  # events/s at least this share of raw SimPy's
    max_ratio: float | None = None  # wall at most this times `reference`'s, in the same run
    reference: str = ""  # sweeps: "loop" (a plain Python loop) or "default" (launcher)
    max_total_s: float | None = None  # set-up + one replicate


LLAMA3 = ("cluster=llama3_16k", "horizon_days=54", "failures=llama3", "topology=llama3_roce",
          "checkpoint=fixed", "checkpoint.interval_minutes=30")
MILLION = ("cluster=llama3_16k", "cluster.gpus=1000000", "max_gpus=1100000",
           "horizon_days=30", "failures=llama3", "topology=llama3_roce", "checkpoint=fixed",
           "checkpoint.interval_minutes=30", "replicates=1")
#: The fabric131k build at 2^20 GPUs (1,000,000 is not a multiple of TP x PP = 128)
FABRIC_1M = ("workload=llama3_405b", "topology=dgx_h100_superpod", "cluster.gpus=1048576",
             "max_gpus=1100000", "workload.global_batch_tokens=134217728")
SWEEP_INTERVALS = ",".join(str(m) for m in range(10, 201, 10))  # 20 intervals
SWEEP_20X50 = (f"checkpoint.interval_minutes={SWEEP_INTERVALS}", "replicates=50")
#: 8 policies (4 restart strategies x synchronous / asynchronous checkpoints) x 125
#: checkpoint intervals, 5 replicates each: 1,000 runs
SWEEP_1000 = ("restart=hot_spares,spare_swap,in_process,elastic",
              "checkpoint=fixed,async", "checkpoint.interval_minutes=range(5,630,5)",
              "replicates=5")

CASES = {
    c.name: c
    for c in (
        Case("llama3", "16,384 H100, 54 days, the llama3 failure catalog (ToR domains from "
             "the llama3_roce graph), fixed 30-min checkpoints", LLAMA3,
             max_wall_s=1.0, max_rss_mb=300.0),
        Case("colossus", "220,000 H100 (27,500 nodes, 860 spares), 90 days, llama3 catalog "
             "rates, hot spares with a repair pipeline",
             ("cluster=llama3_16k", "cluster.gpus=220000", "cluster.spare_nodes=860",
              "horizon_days=90", "failures=llama3", "topology=llama3_roce",
              "restart=hot_spares", "checkpoint=fixed", "checkpoint.interval_minutes=30"),
             max_wall_s=10.0, max_rss_mb=2000.0, max_total_s=1.5),
        Case("fleet", "4,096 nodes of 8 GPUs, 256 days, per-node MTBF 100 days, 15% lemon "
             "nodes at 5x (retired after 3 failures in 30 days), automated + manual repair",
             ("cluster.gpus=32768", "cluster.spare_nodes=128", "horizon_days=256",
              "failures.node_mtbf_hours=2400", "failures.lemon_fraction=0.15",
              "failures.lemon_factor=5", "failures.lemon_retire_after=3",
              "restart=hot_spares"),
             max_wall_s=1.0),
        Case("default", "the default scenario: 1,024 H100, 30 days, RSC-1 failure rate", ()),
        Case("fabric", "cold: build the 16,384-GPU rail-optimized fat-tree and time every "
             "collective of one llama3_405b step (events: collectives timed; raw: a cached "
             "lookup)", ("workload=llama3_405b", "topology=dgx_h100_superpod"),
             max_wall_s=5.0, kind="fabric"),
        Case("fabric131k", "as fabric, 131,072 GPUs (a 3-tier fat-tree)",
             ("workload=llama3_405b", "topology=dgx_h100_superpod", "cluster.gpus=131072"),
             max_wall_s=5.0, max_rss_mb=1000.0, kind="fabric"),
        Case("roce131k", "as fabric131k on the Llama 3 RoCE fabric (not rail-optimized: "
             "a ToR per 2 servers, 3,072-GPU pods, aggregation 1:7)",
             ("workload=llama3_405b", "topology=llama3_roce", "cluster.gpus=131072"),
             max_wall_s=5.0, max_rss_mb=1000.0, kind="fabric"),
        Case("fabric1m", "as fabric, 1,048,576 GPUs (2^20: TP 8 x PP 16 x DP 8,192; the "
             "global batch grown with DP to 2 microbatches per rank, as at 131,072)",
             FABRIC_1M, max_wall_s=30.0, kind="fabric"),
        Case("startup", "`python -m simulator`, the default scenario (one replicate), as "
             "a whole process: imports, composing, the run, its files", (),
             max_wall_s=1.2, kind="process"),
        Case("sweep", "20 checkpoint intervals x 50 replicates of the default scenario "
             "(1,000 replicates) as one Hydra multirun on the default launcher; wall is "
             "the whole command, ratio against a plain Python loop composing and running "
             "the same 20 configurations in one process",
             ("-m", *SWEEP_20X50), max_ratio=1.15, kind="sweep", reference="loop"),
        Case("laptop", "the same sweep with hydra/launcher=laptop (2 forked workers, each "
             "run composed once) on 2 cores; ratio against the default launcher",
             ("-m", "hydra/launcher=laptop", "hydra.launcher.n_jobs=2", *SWEEP_20X50),
             max_ratio=1.0, kind="sweep", reference="default"),
        Case("sweep1000", "1,000 runs: 8 policies (4 restart strategies x fixed / async "
             "checkpoints) x 125 intervals, 5 replicates each, hydra/launcher=laptop on 2 "
             "cores; wall is the whole command",
             ("-m", "hydra/launcher=laptop", "hydra.launcher.n_jobs=2", *SWEEP_1000),
             max_wall_s=60.0, kind="sweep"),
        Case("million", "1,000,000 H100 (125,000 nodes, 3,907 spares), 30 days, llama3 "
             "catalog (ToR domains of the llama3_roce fabric), one replicate; wall is the "
             "whole command (start-up, set-up, replicate, outputs)", MILLION,
             max_wall_s=5.0, max_rss_mb=1000.0, kind="process"),
        Case("steps", "step-level mode: 512 GPUs, per-GPU jitter (cv 5%), 30 days: one "
             "event per 10-s step", ("cluster.gpus=512", "mode=steps",
                                     "workload.jitter_cv=0.05"),
             min_raw_share=0.5),
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
    from simulator.api import load_scenario
    from simulator.fabric import stepmodel
    from simulator.fabric.hardware import peak_flops

    plain = load_scenario(list(case.overrides))
    stepmodel.clear_caches()
    base_rss = _peak_rss_mb()
    peak = peak_flops(plain.cluster.accelerator, plain.workload.precision)
    args = (plain.workload, plain.fabric, plain.cluster.gpus_per_node, peak, 0.6,
            peak_flops(plain.cluster.accelerator, "bf16"))
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
               "base_rss_mb": base_rss, "raw_s": cached, "setup_s": 0.0})


def _measure(case: Case, repeat: int, queue) -> None:
    """Runs in a child process: compose the scenario, time `repeat` replicates. (Imports
    after the dispatch: a whole-process case's children start as copies of this process,
    so their peak RSS would count whatever it imported.)"""
    if case.kind == "fabric":
        _measure_fabric(case, queue)
        return
    if case.kind == "sweep":
        _measure_sweep(case, queue)
        return
    if case.kind == "process":
        _measure_process(case, repeat, queue)
        return
    from simulator.api import load_scenario
    from simulator.experiments.runner import run_replicate

    start = time.perf_counter()
    scenario = load_scenario(list(case.overrides))
    setup = time.perf_counter() - start
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
               "raw_s": raw_simpy_seconds(n_events), "setup_s": setup})


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], cwd: str) -> tuple[float, float]:
    """Wall seconds of `command` as a whole process (CI=true: no progress bars), and the
    CPU seconds (user + sys) it and its own children took: the steadier figure on a
    shared machine."""
    import subprocess

    cpu = _children_cpu_s()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "CI": "true"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return wall, _children_cpu_s() - cpu


def _sweep_command(overrides: tuple[str, ...], scratch: str, name: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *overrides, f"name={name}",
            f"hydra.sweep.dir={scratch}/{name}"]


#: A plain Python loop over a sweep's configurations: compose each once, run its
#: replicates, nothing written (argv: the overrides of each run, one JSON list each).
PLAIN_LOOP = """
import json, sys
from simulator.api import load_scenario
from simulator.experiments.runner import run_scenario
for run in sys.argv[1:]:
    run_scenario(load_scenario(json.loads(run)))
"""


def _sweep_runs(overrides: tuple[str, ...]) -> list[list[str]]:
    """Each run's overrides, in Hydra's job order, for a command line sweep of `a,b` lists
    (the plain loop's input)."""
    import itertools

    fixed = [o for o in overrides if o != "-m" and "," not in o and "hydra" not in o]
    swept = [[f"{o.split('=', 1)[0]}={v}" for v in o.split("=", 1)[1].split(",")]
             for o in overrides if "," in o and "hydra" not in o]
    return [[*fixed, *combo] for combo in itertools.product(*swept)]


def _measure_sweep(case: Case, queue) -> None:
    """Runs the sweep as a user would: the CLI in a subprocess, into a scratch dir; then,
    for a ratio, its reference in the same way."""
    import json
    import tempfile

    import pandas as pd

    with tempfile.TemporaryDirectory() as scratch:
        wall, cpu = _timed(_sweep_command(case.overrides, scratch, "bench_sweep"), scratch)
        runs = pd.read_csv(f"{scratch}/bench_sweep/runs.csv")
        reference = ref_cpu = float("nan")
        if case.reference == "loop":
            runs_args = [json.dumps(r) for r in _sweep_runs(case.overrides)]
            reference, ref_cpu = _timed([sys.executable, "-c", PLAIN_LOOP, *runs_args],
                                        scratch)
        elif case.reference == "default":
            plain = tuple(o for o in case.overrides if not o.startswith("hydra"))
            reference, ref_cpu = _timed(_sweep_command(plain, scratch, "bench_default"),
                                        scratch)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    queue.put({"wall_s": wall, "events": len(runs), "failures": runs.failures.mean(),
               "rss_mb": max(children, _peak_rss_mb()), "base_rss_mb": _peak_rss_mb(),
               "raw_s": reference, "setup_s": 0.0, "cpu_s": cpu, "ref_cpu_s": ref_cpu})


def _measure_process(case: Case, repeat: int, queue) -> None:
    """Runs one run as a user would, `repeat` times: the CLI in a subprocess, into a
    scratch dir; wall is the median whole command, cpu the median of its CPU seconds,
    peak MB the largest process. No pandas here (the children would count it)."""
    import csv
    import tempfile

    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for attempt in range(repeat):
            wall, cpu = _timed([sys.executable, "-m", "simulator", *case.overrides,
                                "name=bench_run", f"hydra.run.dir={scratch}/run{attempt}"],
                               scratch)
            walls.append(wall)
            cpus.append(cpu)
        with open(f"{scratch}/run0/summary.csv", newline="", encoding="utf-8") as summary:
            failures = [float(row["failures"]) for row in csv.DictReader(summary)]
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    queue.put({"wall_s": statistics.median(walls), "events": len(failures),
               "failures": statistics.fmean(failures), "rss_mb": children,
               "base_rss_mb": _peak_rss_mb(), "raw_s": float("nan"), "setup_s": 0.0,
               "cpu_s": statistics.median(cpus), "ref_cpu_s": float("nan")})


def run_case(case: Case, repeat: int) -> dict:
    """The case's figures from a fresh process; RuntimeError if that process dies
    without them (its traceback is on stderr; e.g. out of memory) instead of waiting
    for them forever."""
    import queue as queues

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_measure, args=(case, repeat, queue))
    child.start()
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except queues.Empty:
            if child.is_alive():
                continue
            try:  # it may have sent its figures just before it ended
                result = queue.get(timeout=1.0)
                break
            except queues.Empty:
                raise RuntimeError(f"bench case {case.name}: its process ended (exit code "
                                   f"{child.exitcode}) without its figures") from None
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
    if case.max_ratio is not None:
        parts.append(f"<= {case.max_ratio:g}x {case.reference}")
        ok &= result["wall_s"] / result["raw_s"] <= case.max_ratio * TOLERANCE
    if case.max_total_s is not None:
        parts.append(f"setup+wall <= {case.max_total_s:g} s")
        ok &= result["setup_s"] + result["wall_s"] <= case.max_total_s * TOLERANCE
    if case.min_raw_share is not None:
        parts.append(f">= {case.min_raw_share:.0%} raw ev/s")
        ok &= result["raw_s"] / result["wall_s"] >= case.min_raw_share / TOLERANCE
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
    header = (f"{'case':<11}{'setup s':>8}{'wall s':>8}{'events':>10}{'events/s':>11}"
              f"{'failures':>9}{'peak MB':>8}{'raw SimPy s':>12}{'ratio':>6}"
              f"{'ok':>4}  target")
    print(header)
    print("-" * len(header))
    all_ok, bases = True, []
    for name in args.case or list(CASES):
        case = CASES[name]
        r = run_case(case, args.repeat)
        target, ok = verdict(case, r)
        all_ok &= ok
        if case.kind == "replicate":  # the others' children are whole processes
            bases.append(r["base_rss_mb"])
        if case.kind == "fabric":
            raw, ratio = f"{r['raw_s'] * 1e6:.1f} us", "-"
        elif case.kind == "sweep" and case.reference:
            raw, ratio = f"{r['raw_s']:.2f}", f"{r['wall_s'] / r['raw_s']:.2f}"
        elif case.kind in ("sweep", "process"):
            raw, ratio = "-", "-"
        else:
            raw, ratio = f"{r['raw_s']:.3f}", f"{r['wall_s'] / r['raw_s']:.1f}"
        print(f"{name:<11}{r['setup_s']:>8.2f}{r['wall_s']:>8.3f}{r['events']:>10,}"
              f"{r['events'] / r['wall_s']:>11,.0f}{r['failures']:>9.0f}{r['rss_mb']:>8.0f}"
              f"{raw:>12}{ratio:>6}{'yes' if ok else 'NO':>4}  {target}")
        if "cpu_s" in r:
            print(f"{'':<11}cpu s (user + sys, every process): {r['cpu_s']:.2f}"
                  + ("" if r["ref_cpu_s"] != r["ref_cpu_s"] else
                     f", reference {r['ref_cpu_s']:.2f}, ratio "
                     f"{r['cpu_s'] / r['ref_cpu_s']:.2f}"))
    print("\nsetup: composing, validating and elaborating the scenario (the topology graph, "
          "the step profile) once per scenario, shared by its replicates; wall: one "
          "replicate (median of --repeat).")
    print("fabric: wall is the cold build + every collective of one step; events are the "
          "distinct collectives timed; raw SimPy s is one cached step-profile lookup.")
    print("process: wall is the whole command (median of --repeat runs), events the "
          "replicates run; peak MB is the command's process.")
    print("sweep: events are the replicates run (rows of runs.csv), events/s replicates per "
          "second; peak MB is the largest process; raw SimPy s is the reference's wall "
          "(sweep: a plain Python loop, laptop: the default launcher), measured in the "
          "same run, ratio = wall / reference.")
    print("startup: wall is the whole process `python -m simulator` (median of --repeat).")
    if bases:
        print(f"peak MB is the whole process (Python + numpy/pandas/hydra imports are "
              f"~{min(bases):.0f} MB before the model runs).")
    for name in args.case or list(CASES):
        print(f"  {name}: {CASES[name].what}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
