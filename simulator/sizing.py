"""`python -m simulator.sizing mw=N [key=value ...]`: how many GPUs of this system fit in
N MW, uncapped and at each power cap the accelerator's measured curve covers.

    python -m simulator.sizing mw=100
    python -m simulator.sizing mw=100 cluster=gb200_nvl72_4k cluster.pue=1.1

Every other argument is a trainsim config override (the system: cluster, topology,
power figures, PUE). A node's share is its full-load draw at the facility: its GPUs and
host, its share of the scale-out switches and the spare pool, times PUE
(simulator/reliability/power.py `FacilityPower.gpus_within`). Under a cap each GPU
draws at most the cap and each step takes as much longer as the measured curve says
(simulator/fabric/power.py `CAP_CURVES`), so more GPUs fit and each does less: the
`throughput` column is GPUs fit / step time, relative to the uncapped row. It does not
include failures: a larger job fails more often; sweep `cluster.gpus` and
`power.cap_fraction` for the goodput of each row.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass

from simulator.config.power import capped
from simulator.errors import ConfigError, print_config_error
from simulator.fabric.power import CAP_CURVES, CAP_SOURCES, cap_slowdown


@dataclass(frozen=True)
class Fit:
    """One row: a cap (None: uncapped), what a GPU draws and how many fit."""

    cap_fraction: float | None
    gpu_w: float
    node_kw: float
    gpus: int
    step_factor: float
    throughput: float  # GPUs / step time, relative to the uncapped row


def fits(mw: float, overrides: list[str]) -> tuple[str, list[Fit]]:
    """The accelerator of `overrides`' system and how it fits in `mw` MW: uncapped,
    then at each measured cap."""
    from simulator.api import load_scenario  # Hydra and the model: only when run

    if isinstance(mw, bool) or not (math.isfinite(mw) and mw > 0):
        raise ConfigError("mw", mw, "the site's budget in MW: a positive number")
    base = load_scenario(overrides)
    if base.power is None:
        raise ConfigError("cluster.accelerator", base.cluster.accelerator,
                          "has no published power figures: set power.*_w")
    if base.power_cap_fraction is not None:
        raise ConfigError("power.cap_fraction", base.power_cap_fraction,
                          "sizing tries every measured cap itself: leave it out")
    accelerator = base.cluster.accelerator
    caps = [c for c, _ in CAP_CURVES.get(accelerator, ()) if c < 1]
    rows: list[Fit] = []
    for cap in [None, *sorted(caps, reverse=True)]:
        # the capped system as validation builds it (simulator/config/power.py): the
        # GPUs draw at most the cap, each step as much longer as the measured curve says
        p = base.power if cap is None else dataclasses.replace(
            base.power, model=capped(base.power.model, cap))
        step_factor = 1.0 if cap is None else cap_slowdown(accelerator, cap)
        gpus = p.gpus_within(mw * 1e6)
        first = rows[0] if rows else None
        rows.append(Fit(cap, p.model.gpu_compute_w, p.full_w / p.nodes / 1e3, gpus,
                        step_factor,
                        1.0 if first is None else gpus / step_factor / first.gpus))
    return base.cluster.accelerator, rows


def table(mw: float, overrides: list[str]) -> str:
    accelerator, rows = fits(mw, overrides)
    source = CAP_SOURCES.get(accelerator, "no measured curve for it: uncapped only")
    lines = [f"trainsim: what fits in {mw:g} MW of {accelerator} (full-load draw at the "
             f"facility: GPUs, hosts, switches, spares, PUE); caps: {source}"]
    lines += [f"{'cap':>6} {'W/GPU':>7} {'kW/node':>8} {'GPUs fit':>10} {'step x':>7} "
             f"{'throughput':>10}"]
    for r in rows:
        cap = "none" if r.cap_fraction is None else f"{r.cap_fraction:.3f}"
        lines.append(f"{cap:>6} {r.gpu_w:7.0f} {r.node_kw:8.2f} {r.gpus:10,} "
                     f"{r.step_factor:7.3f} {r.throughput:10.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    own = [a for a in argv if a.startswith("mw=")]
    rest = [a for a in argv if not a.startswith("mw=")]
    try:
        if not own:
            raise ConfigError("mw", None, "required: the site's budget in MW, e.g. mw=100")
        text = own[-1].split("=", 1)[1]
        try:
            mw = float(text)
        except ValueError:
            raise ConfigError("mw", text, "the site's budget in MW: a number") from None
        out = table(mw, rest)
    except ConfigError as error:
        print_config_error(error)
        return 2
    try:
        print(out)
    except BrokenPipeError:  # `... | head`: the reader left
        sys.stdout = None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
