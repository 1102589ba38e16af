"""`python -m simulator.collectives [key=value ...]`: an nccl-tests-style table.

    python -m simulator.collectives topology=dgx_h100_superpod op=all_reduce group=dp sizes=1M:8G

Keys of its own: `op` (a collective, or `all`), `group` (tp, cp, pp, dp, ep, node, world),
`sizes` (`1M:8G` doubles from 1 MiB to 8 GiB; `64M` one size), `algorithm` (`all`: every
algorithm that applies), `format` (table or csv). Every other argument is a trainsim
config override (topology=..., cluster.gpus=..., workload=..., efficiency.ib=...): the
groups come from the workload's parallel layout, or, for a fixed-step workload, TP over
each node and DP across nodes.
"""

from __future__ import annotations

import re
import sys

from simulator.collectives import ALGORITHMS, DIMS, OPS, Layout, bandwidths
from simulator.errors import ConfigError

UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
OWN_KEYS = {"op": "all_reduce", "group": "node", "sizes": "1M:8G", "algorithm": "all",
            "format": "table"}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", text.strip().upper())
    if not match:
        raise ConfigError("sizes", text, "sizes look like 1M, 512K, 8G (powers of 1024)")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def parse_sizes(text: str) -> list[int]:
    """'1M:8G' -> 1M, 2M, ..., 8G (doubling, as nccl-tests -f 2); '64M' -> [64M]."""
    lo, _, hi = text.partition(":")
    start, stop = parse_size(lo), parse_size(hi or lo)
    if start <= 0 or stop < start:
        raise ConfigError("sizes", text, "need 0 < first <= last, e.g. 1M:8G")
    sizes = []
    while start <= stop:
        sizes.append(start)
        start *= 2
    return sizes


def split_args(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    own, overrides = dict(OWN_KEYS), []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in OWN_KEYS:
            own[key] = value
        else:
            overrides.append(arg)
    return own, overrides


def layout_for(scenario, workload) -> Layout:
    gpn = scenario.cluster.gpus_per_node
    if workload is not None:
        p = workload.parallel
        return Layout(tp=p.tp, cp=p.cp, dp=p.dp, pp=p.pp, ep=p.ep, gpus_per_node=gpn)
    return Layout(tp=gpn, dp=scenario.cluster.gpus // gpn, gpus_per_node=gpn)


def rows(model, ops: list[str], group: str, algorithms: list[str], sizes: list[int]):
    groups = model.layout.groups(group)
    p = groups.shape[1]
    for op in ops:
        for algorithm in algorithms:
            try:
                model.choose(op, groups, algorithm)
            except ValueError:
                continue  # does not apply (e.g. nvls across nodes)
            for size in sizes:
                seconds = model.time_groups(op, groups, size, algorithm)
                algbw, busbw = bandwidths(op, p, size, seconds)
                yield op, algorithm, size, seconds, algbw, busbw


def main(argv: list[str] | None = None) -> int:
    from simulator import stepmodel
    from simulator.api import load_scenario

    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        own, overrides = split_args(argv)
        ops = list(OPS) if own["op"] == "all" else [own["op"]]
        for op in ops:
            if op not in OPS:
                raise ConfigError("op", op, f"must be all or one of {', '.join(OPS)}")
        if own["group"] not in DIMS:
            raise ConfigError("group", own["group"], f"must be one of {', '.join(DIMS)}")
        algorithms = ([a for a in ALGORITHMS if a != "auto"] if own["algorithm"] == "all"
                      else [own["algorithm"]])
        if own["algorithm"] != "all" and own["algorithm"] not in ALGORITHMS:
            raise ConfigError("algorithm", own["algorithm"],
                              f"must be all or one of {', '.join(ALGORITHMS)}")
        if own["format"] not in ("table", "csv"):
            raise ConfigError("format", own["format"], "must be table or csv")
        sizes = parse_sizes(own["sizes"])
        scenario = load_scenario(overrides)
        layout = layout_for(scenario, scenario.workload)
        try:
            model = stepmodel.collective_model(scenario.fabric, scenario.cluster.gpus, layout)
        except ValueError as exc:
            raise ConfigError("topology", scenario.fabric.builder, str(exc)) from None
        table = list(rows(model, ops, own["group"], algorithms, sizes))
    except ConfigError as error:
        print(f"trainsim: config error: {error}", file=sys.stderr)
        return 2
    groups = layout.groups(own["group"])
    if own["format"] == "csv":
        print("op,algorithm,size_bytes,time_s,algbw_GBps,busbw_GBps")
        for op, alg, size, t, algbw, busbw in table:
            print(f"{op},{alg},{size},{t:.9g},{algbw / 1e9:.6g},{busbw / 1e9:.6g}")
        return 0
    print(f"# {scenario.fabric.builder} ({own_topology(argv)}), {scenario.cluster.gpus:,} "
          f"{scenario.cluster.accelerator}; group {own['group']}: {groups.shape[0]:,} "
          f"groups of {groups.shape[1]} ranks, all at once")
    print(f"# {'op':<15}{'algorithm':<14}{'size':>12}{'time (us)':>13}"
          f"{'algbw (GB/s)':>14}{'busbw (GB/s)':>14}")
    for op, alg, size, t, algbw, busbw in table:
        print(f"  {op:<15}{alg:<14}{size:>12,}{t * 1e6:>13.1f}"
              f"{algbw / 1e9:>14.2f}{busbw / 1e9:>14.2f}")
    return 0


def own_topology(argv: list[str]) -> str:
    chosen = [a.partition("=")[2] for a in argv if a.startswith("topology=")]
    return chosen[-1] if chosen else "default"


if __name__ == "__main__":
    sys.exit(main())
