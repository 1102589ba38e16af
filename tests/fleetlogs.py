"""Synthetic incident logs of a fleet with known lifetimes, written independently of
simulator/reliability/fitting.py: each unit (a GPU, a host) is new at the start and
renewed at each failure; its failure times are the partial sums of its lifetimes up to
the end of the window. `python -m tests.fleetlogs` writes tests/data/fleet_log.csv."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

START = datetime(2025, 1, 1, tzinfo=UTC)


def unit_failures(draw, units: int, window_h: float) -> list[tuple[float, int]]:
    """(time in hours, unit) of every failure of `units` renewed units: one unit at a
    time, lifetimes from `draw()` until the window ends."""
    out = []
    for unit in range(units):
        t = draw()
        while t <= window_h:
            out.append((t, unit))
            t += draw()
    return out


def weibull_draw(rng: np.random.Generator, shape: float, scale_h: float):
    return lambda: scale_h * float(rng.weibull(shape))


def exponential_draw(rng: np.random.Generator, mean_h: float):
    return lambda: float(rng.exponential(mean_h))


def fleet_rows(seed: int, hosts: int, gpus: int, window_h: float, gpu_shape: float,
               gpu_scale_h: float, host_mean_h: float,
               job_mean_h: float | None = None) -> list[tuple[float, int, str, str, int]]:
    """(hours, host, component, scope, gpu) rows of a fleet: `hbm` (scope gpu, Weibull),
    `psu` (scope node, exponential) and optionally `nccl_timeout` (scope job,
    exponential per GPU: a Poisson process of rate hosts x gpus / mean), time-sorted."""
    rng = np.random.default_rng(seed)
    rows = [(t, u // gpus, "hbm", "gpu", u % gpus) for t, u in
            unit_failures(weibull_draw(rng, gpu_shape, gpu_scale_h), hosts * gpus, window_h)]
    rows += [(t, h, "psu", "node", 0) for t, h in
             unit_failures(exponential_draw(rng, host_mean_h), hosts, window_h)]
    if job_mean_h is not None:
        gap = job_mean_h / (hosts * gpus)
        rows += [(t, int(rng.integers(hosts)), "nccl_timeout", "job", 0) for t, _ in
                 unit_failures(exponential_draw(rng, gap), 1, window_h)]
    return sorted(rows)


def host_name(host: int) -> str:
    return f"gpu-node-{host:04d}"


def write_log(path: Path, rows, start: datetime = START, timespec: str = "seconds") -> None:
    """The rows as an incident log (the columns `python -m simulator.fit` reads, plus a
    ticket number it reports as not read), times rounded to `timespec` (a unit failing
    twice within it would be a repeated row: use milliseconds for short lifetimes)."""
    lines = ["timestamp,host,component,scope,gpu,ticket"]
    for n, (t, host, component, scope, gpu) in enumerate(rows):
        when = start + timedelta(milliseconds=round(t * 3_600_000))
        stamp = when.replace(tzinfo=None).isoformat(timespec=timespec)
        lines.append(f"{stamp}Z,{host_name(host)},{component},"
                     f"{scope},{gpu if scope == 'gpu' else ''},INC-{10000 + n}")
    path.write_text("\n".join(lines) + "\n")


#: The shipped example: 128 hosts x 8 GPUs over 90 days. HBM: Weibull shape 0.7 (infant
#: mortality), mean 60,000 h per GPU; PSU: exponential, 10,000 h per host; NCCL timeouts:
#: 150,000 h per GPU of the job.
EXAMPLE = dict(seed=2025, hosts=128, gpus=8, window_h=90 * 24.0, gpu_shape=0.7,
               gpu_scale_h=60_000 / math.gamma(1 + 1 / 0.7), host_mean_h=10_000.0,
               job_mean_h=150_000.0)

if __name__ == "__main__":
    out = Path(__file__).parent / "data" / "fleet_log.csv"
    out.parent.mkdir(exist_ok=True)
    write_log(out, fleet_rows(**EXAMPLE))
    print(out)
