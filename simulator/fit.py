"""`python -m simulator.fit LOG.csv --hosts N --gpus-per-host G --start T0 --end T1`:
failure rates of your own fleet, fitted from its incident log.

Reads the log (format: simulator/reliability/fleet_log.py), fits every component by
maximum likelihood with right-censoring (simulator/reliability/fitting.py), prints each
one's parameters with 95% intervals and a goodness-of-fit test, and with `--out
DIR/failures/NAME.yaml` writes a `failures` config that runs as is:
`python -m simulator --config-dir DIR failures=NAME`. Errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import re
import sys
from pathlib import Path

from simulator.errors import ConfigError, print_config_error
from simulator.reliability.fitting import MODELS, Fit, fit, ks_pvalue
from simulator.reliability.fleet_log import Fleet, FleetLog, parse_time, read_fleet_log

#: Names failures.components reserves (failures.gpu_mtbf_hours / node_mtbf_hours).
RESERVED = ("gpu", "node")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulator.fit", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", help="the incident log (CSV: timestamp, host, component, "
                   "[scope], [gpu])")
    p.add_argument("--hosts", type=int, required=True, help="hosts in the fleet, "
                   "including those that never failed")
    p.add_argument("--gpus-per-host", type=int, required=True)
    p.add_argument("--start", required=True, help="start of the observation window "
                   "(ISO 8601; no offset: UTC); every host is new then")
    p.add_argument("--end", required=True, help="end of the observation window")
    p.add_argument("--switches", type=int, help="first-tier switches (only for a log "
                   "with scope=switch rows)")
    p.add_argument("--model", default="auto", choices=("auto", *MODELS),
                   help="lifetime model per component; auto: the lower AIC")
    p.add_argument("--gof-samples", type=int, default=199, help="parametric bootstrap "
                   "samples of the goodness-of-fit p-value (0: skip it)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--out", help="write a failures config here (put it in "
                   "DIR/failures/NAME.yaml and run python -m simulator --config-dir DIR "
                   "failures=NAME)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        fleet = _fleet(args)
        log = read_fleet_log(args.log, fleet)
        fits = fit_log(log, args.model)
    except ConfigError as error:
        return print_config_error(error)
    if log.ignored_columns:
        print(f"note: columns not read: {', '.join(log.ignored_columns)}", file=sys.stderr)
    print(format_fits(log, fits, args.gof_samples, args.seed))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(failures_yaml(log, fits, " ".join(["python -m simulator.fit",
                                                           *(argv or sys.argv[1:])])))
        hosts = out.with_name(out.stem + "_hosts.csv")
        with hosts.open("w", newline="") as file:
            csv.writer(file).writerows([("host", "node"), *((name, i) for i, name in
                                                             enumerate(log.host_names))])
        print(f"\nwrote {out} (and the host -> index map, {hosts.name})")
        if out.parent.name == "failures":
            print(f"run it: python -m simulator --config-dir {out.parent.parent} "
                  f"failures={out.stem} cluster.gpus={fleet.hosts * fleet.gpus_per_host} "
                  f"cluster.gpus_per_node={fleet.gpus_per_host}")
        else:
            print("to run it, move it to DIR/failures/NAME.yaml and run python -m simulator "
                  "--config-dir DIR failures=NAME")
    return 0


def _fleet(args: argparse.Namespace) -> Fleet:
    for key in ("hosts", "gpus_per_host", "switches"):
        value = getattr(args, key)
        if value is not None and value < 1:
            raise ConfigError(f"--{key.replace('_', '-')}", value, "must be a positive integer")
    times = []
    for key in ("start", "end"):
        try:
            times.append(parse_time(getattr(args, key), f"--{key}"))
        except ValueError:
            raise ConfigError(f"--{key}", getattr(args, key), "must be an ISO 8601 time "
                              "(e.g. 2025-03-01T00:00:00Z)") from None
    if args.gof_samples < 0:
        raise ConfigError("--gof-samples", args.gof_samples, "must be zero or more")
    return Fleet(args.hosts, args.gpus_per_host, times[0], times[1], args.switches)


def fit_log(log: FleetLog, model: str) -> dict[str, tuple[str, Fit, dict[str, Fit]]]:
    """component -> (scope, chosen fit, every fit tried)."""
    out = {}
    for component, scope in log.scopes().items():
        chosen, tried = fit(log.exposure(component), model)  # pooled, few: exponential
        out[component] = (scope, chosen, tried)
    return out


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _ci(low: float, high: float) -> str:
    return f"[{_num(low)}, {_num(high)}]"


def format_fits(log: FleetLog, fits: dict, gof_samples: int, seed: int) -> str:
    fleet = log.fleet
    lines = [f"fleet: {fleet.hosts:,} hosts x {fleet.gpus_per_host} GPUs, "
             f"{fleet.start.isoformat()} to {fleet.end.isoformat()} ({fleet.window_h:,.1f} h); "
             f"{len(log.incidents):,} failures of {len(fits)} components, "
             f"{len(log.host_names)} hosts in the log",
             f"{'component':<16} {'scope':<6} {'fails':>5}  {'model':<11} "
             f"{'MTBF/unit h [95% CI]':<30} {'shape [95% CI]':<24} {'dAIC':>7}  "
             f"{'KS D':>6} {'p':>6}"]
    for component, (scope, chosen, tried) in fits.items():
        shape = (f"{chosen.shape:.3f} {_ci(*chosen.shape_ci)}" if chosen.model == "weibull"
                 else "1 (exponential)")
        others = [f.aic for name, f in tried.items() if name != chosen.model]
        d_aic = f"{min(others) - chosen.aic:+.1f}" if others else "-"
        gof = "     -      -"
        data = log.exposure(component)
        if gof_samples and data.per_unit:
            d, p = ks_pvalue(data, chosen, log.units(scope), fleet.window_h, gof_samples,
                             seed)
            gof = f"{d:6.3f} {p:6.3f}"
        flag = " (few failures: rough CI)" if chosen.few else ""
        mtbf = f"{_num(chosen.mean_h)} {_ci(*chosen.mean_ci)}"
        lines.append(f"{component:<16} {scope:<6} {chosen.count:>5}  {chosen.model:<11} "
                     f"{mtbf:<30} {shape:<24} {d_aic:>7}  {gof}{flag}")
    lines.append("dAIC: the other model's AIC minus the chosen one's (positive: chosen is "
                 "better); KS D, p: Kaplan-Meier vs fitted survival, p by parametric "
                 "bootstrap (switch and job scopes are pooled counts: no per-unit gaps)")
    return "\n".join(lines)


def config_name(component: str, taken: set[str]) -> str:
    """The component's key in failures.components: lower-case letters, digits and _
    (a Hydra override names it), not a reserved name, not taken."""
    name = re.sub(r"[^a-z0-9_]+", "_", component.lower()).strip("_") or "cause"
    if name[0].isdigit():
        name = f"c_{name}"
    if name in RESERVED:
        name = f"{name}_failure"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def failures_yaml(log: FleetLog, fits: dict, command: str) -> str:
    """A failures config: the schema's defaults, and one catalog entry per component
    with its own lifetime kind and shape."""
    from omegaconf import OmegaConf

    from simulator.config.schema import FailuresConfig

    components, taken, notes = {}, set(), []
    for component, (scope, chosen, _) in fits.items():
        name = config_name(component, taken)
        entry = {"scope": scope, "mtbf_hours": float(f"{chosen.mean_h:.6g}"),
                 "kind": chosen.model, "category": component}
        if chosen.model == "weibull":
            entry["shape"] = float(f"{chosen.shape:.6g}")
        components[name] = entry
        notes.append(f"#   {name}: {chosen.count} failures, {chosen.model}, MTBF per unit "
                     f"{_num(chosen.mean_h)} h, 95% CI {_ci(*chosen.mean_ci)}"
                     + (f", shape {chosen.shape:.3f} {_ci(*chosen.shape_ci)}, scale "
                        f"{_num(chosen.scale_h)} h {_ci(*chosen.scale_ci)}"
                        if chosen.model == "weibull" else ""))
    config = dataclasses.asdict(FailuresConfig(kind="exponential", components=components))
    fleet = log.fleet
    header = [f"# Fitted by: {command}",
              f"# Fleet: {fleet.hosts} hosts x {fleet.gpus_per_host} GPUs, "
              f"{fleet.start.isoformat()} to {fleet.end.isoformat()} "
              f"({fleet.window_h:,.1f} h), {len(log.incidents)} failures.",
              "# Per unit of each scope (gpu: per GPU, node: per host, job: per GPU of the "
              "job); each component's own kind and shape win over failures.kind/shape.",
              *notes]
    return "\n".join(header) + "\n" + OmegaConf.to_yaml(OmegaConf.create(config))


if __name__ == "__main__":
    raise SystemExit(main())
