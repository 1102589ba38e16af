"""`python -m simulator.collectives [key=value ...]`: an nccl-tests-style table.

    python -m simulator.collectives topology=dgx_h100_superpod op=all_reduce group=dp sizes=1M:8G
    python -m simulator.collectives reference=true

Keys of its own: `op` (a collective, or `all`), `group` (tp, cp, pp, dp, ep, node, world),
`sizes` (`1M:8G` doubles from 1 MiB to 8 GiB; `64M` one size), `algorithm` (`all`: every
algorithm that applies, each with its best protocol; `auto`: what NCCL's tuner would
run, one row per size; or ring, tree, nvls, nvls_tree, collnet, hierarchical, direct),
`protocol` (auto, ll, ll128, simple), `channels` (auto, or rings per communicator across
nodes), `collnet` (false; true offers CollNet / SHARP on InfiniBand, as
NCCL_COLLNET_ENABLE=1 does), `reference` (true: predicted vs measured for the published
nccl-tests figures of results/reference/nccl_tests.csv), `format` (table or
csv). Every other argument is a trainsim config override (topology=..., cluster.gpus=...,
workload=..., efficiency.ib=...): the groups come from the workload's parallel layout,
or, for a fixed-step workload, TP over each node and DP across nodes.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from simulator.errors import ConfigError, print_config_error
from simulator.fabric.collectives import ALGORITHMS, DIMS, OPS, CollectiveModel, Layout, bandwidths
from simulator.fabric.protocols import NCCL_PROTOCOLS, PROTOCOLS
from simulator.units import BINARY_PREFIXES

UNITS = BINARY_PREFIXES
OWN_KEYS = {"op": "all_reduce", "group": "node", "sizes": "1M:8G", "algorithm": "all",
            "protocol": "auto", "channels": "auto", "collnet": "false",
            "reference": "false", "format": "table"}
REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference" / \
    "nccl_tests.csv"
TOLERANCE = 0.15  # predicted busbw within 15% of the measured one


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


def parse_bool(key: str, text: str) -> bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise ConfigError(key, text, "must be true or false")


def parse_channels(text: str) -> int | None:
    if text == "auto":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ConfigError("channels", text, "must be auto or a positive integer")


def layout_for(scenario, workload) -> Layout:
    gpn = scenario.cluster.gpus_per_node
    if workload is not None:
        p = workload.parallel
        return Layout(tp=p.tp, cp=p.cp, dp=p.dp, pp=p.pp, ep=p.ep, gpus_per_node=gpn)
    return Layout(tp=gpn, dp=scenario.cluster.gpus // gpn, gpus_per_node=gpn)


def nccl_model(scenario, layout: Layout, *, channels: int | None = None,
               collnet: bool = False) -> CollectiveModel:
    """The collectives of `scenario`'s fabric as the step model prices them, with the
    CLI's channel count and CollNet switch."""
    from simulator.fabric import stepmodel

    fabric = scenario.fabric
    try:
        network = stepmodel.fabric_network(fabric, scenario.cluster.gpus)
    except ValueError as exc:
        raise ConfigError("topology", fabric.builder, str(exc)) from None
    return CollectiveModel(network, layout, step_latency_s=fabric.step_latency_s,
                           nvls_efficiency=fabric.nvls_efficiency,
                           protocols=NCCL_PROTOCOLS, channels=channels, collnet=collnet)


def rows(model, ops: list[str], group: str, algorithm: str, protocol: str,
         sizes: list[int]):
    """(op, algorithm, protocol, size, seconds, algbw, busbw) for every op and size:
    with algorithm 'all', one row per algorithm that applies (others are skipped), else
    the one asked for (ConfigError, naming why, if it does not apply)."""
    groups = model.layout.groups(group)
    p = groups.shape[1]
    for op in ops:
        if algorithm == "all":
            names = [a for a in ALGORITHMS if a != "auto" and _applies(model, op, groups, a)]
        else:
            try:
                model.candidates(op, groups, algorithm)
            except ValueError as exc:
                raise ConfigError("algorithm", algorithm, f"{exc} ({op} over "
                                  f"{p} ranks of group {group})") from None
            names = [algorithm]
        for name in names:
            for size in sizes:
                try:
                    choice = model.best(op, groups, size, name, protocol)
                except ValueError as exc:
                    raise ConfigError("protocol", protocol, str(exc)) from None
                algbw, busbw = bandwidths(op, p, size, choice.seconds)
                yield op, choice.algorithm, choice.protocol, size, choice.seconds, algbw, busbw


def _applies(model, op: str, groups, algorithm: str) -> bool:
    try:
        return model.choose(op, groups, algorithm) == algorithm
    except ValueError:
        return False


# ---- published nccl-tests figures, predicted vs measured ---------------------------------


@dataclass(frozen=True)
class Reference:
    """One row of results/reference/nccl_tests.csv and its prediction."""

    id: str
    system: str
    nodes: int
    op: str
    size: int
    algorithm: str
    measured: float  # busbw, GB/s
    role: str  # validation | calibration | outside (explained in `note`)
    overrides: tuple[str, ...]
    source: str
    note: str
    predicted: float = float("nan")  # busbw, GB/s
    ran: str = ""  # algorithm/protocol the model ran

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1


def read_references(path: Path = REFERENCE) -> list[Reference]:
    with open(path, newline="") as f:
        return [Reference(r["id"], r["system"], int(r["nodes"]), r["op"], int(r["size_bytes"]),
                          r["algorithm"], float(r["measured_busbw_GBps"]), r["role"],
                          tuple(r["overrides"].split()), r["source"], r["note"])
                for r in csv.DictReader(f)]


def predict(refs: list[Reference]) -> list[Reference]:
    """Each reference with the model's busbw for its system, op, size and algorithm (the
    world group: every GPU of `nodes` nodes, as nccl-tests runs)."""
    from dataclasses import replace

    from simulator.api import load_scenario

    scenarios: dict[tuple[str, ...], object] = {}
    out = []
    for ref in refs:
        if ref.overrides not in scenarios:
            scenarios[ref.overrides] = load_scenario(list(ref.overrides))
        scenario = scenarios[ref.overrides]
        layout = layout_for(scenario, None)
        model = nccl_model(scenario, layout, collnet=ref.algorithm == "collnet")
        groups = layout.groups("world")
        choice = model.best(ref.op, groups, ref.size, ref.algorithm)
        busbw = bandwidths(ref.op, groups.shape[1], ref.size, choice.seconds)[1] / 1e9
        out.append(replace(ref, predicted=busbw,
                           ran=f"{choice.algorithm}/{choice.protocol}"))
    return out


def print_references(refs: list[Reference], fmt: str) -> None:
    if fmt == "csv":
        print("id,nodes,op,size_bytes,algorithm,ran,measured_GBps,predicted_GBps,error,role")
        for r in refs:
            print(f"{r.id},{r.nodes},{r.op},{r.size},{r.algorithm},{r.ran},{r.measured:.6g},"
                  f"{r.predicted:.6g},{r.error:.4f},{r.role}")
        return
    print(f"# published nccl-tests busbw vs trainsim ({REFERENCE.name}); within "
          f"{TOLERANCE:.0%} unless marked outside")
    print(f"# {'id':<27}{'nodes':>5}  {'op':<15}{'size':>8}  {'ran':<17}"
          f"{'measured':>9}{'predicted':>10}{'error':>8}  role")
    for r in refs:
        size = _short(r.size)
        print(f"  {r.id:<27}{r.nodes:>5}  {r.op:<15}{size:>8}  {r.ran:<17}"
              f"{r.measured:>9.1f}{r.predicted:>10.1f}{r.error:>+8.1%}  {r.role}")


def _short(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size >= UNITS[unit]:
            return f"{size / UNITS[unit]:.0f}{unit}"
    return str(size)


# ---- the command ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from simulator.api import load_scenario

    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        own, overrides = split_args(argv)
        if own["format"] not in ("table", "csv"):
            raise ConfigError("format", own["format"], "must be table or csv")
        if parse_bool("reference", own["reference"]):
            if overrides:
                raise ConfigError("reference", "true", "takes no overrides: every row "
                                  "names its own system (" + " ".join(overrides) + ")")
            print_references(predict(read_references()), own["format"])
            return 0
        ops = list(OPS) if own["op"] == "all" else [own["op"]]
        for op in ops:
            if op not in OPS:
                raise ConfigError("op", op, f"must be all or one of {', '.join(OPS)}")
        if own["group"] not in DIMS:
            raise ConfigError("group", own["group"], f"must be one of {', '.join(DIMS)}")
        if own["algorithm"] != "all" and own["algorithm"] not in ALGORITHMS:
            raise ConfigError("algorithm", own["algorithm"],
                              f"must be all or one of {', '.join(ALGORITHMS)}")
        if own["protocol"] not in PROTOCOLS:
            raise ConfigError("protocol", own["protocol"],
                              f"must be one of {', '.join(PROTOCOLS)}")
        channels = parse_channels(own["channels"])
        collnet = parse_bool("collnet", own["collnet"])
        sizes = parse_sizes(own["sizes"])
        scenario = load_scenario(overrides)
        layout = layout_for(scenario, scenario.workload)
        model = nccl_model(scenario, layout, channels=channels, collnet=collnet)
        table = list(rows(model, ops, own["group"], own["algorithm"], own["protocol"],
                          sizes))
    except ConfigError as error:
        return print_config_error(error)
    groups = layout.groups(own["group"])
    if own["format"] == "csv":
        print("op,algorithm,protocol,size_bytes,time_s,algbw_GBps,busbw_GBps")
        for op, alg, proto, size, t, algbw, busbw in table:
            print(f"{op},{alg},{proto},{size},{t:.9g},{algbw / 1e9:.6g},{busbw / 1e9:.6g}")
        return 0
    print(f"# {scenario.fabric.builder} ({own_topology(argv)}), {scenario.cluster.gpus:,} "
          f"{scenario.cluster.accelerator}; group {own['group']}: {groups.shape[0]:,} "
          f"groups of {groups.shape[1]} ranks, all at once")
    print(f"# {'op':<15}{'algorithm':<13}{'protocol':<9}{'size':>14}{'time (us)':>13}"
          f"{'algbw (GB/s)':>14}{'busbw (GB/s)':>14}")
    for op, alg, proto, size, t, algbw, busbw in table:
        print(f"  {op:<15}{alg:<13}{proto:<9}{size:>14,}{t * 1e6:>13.1f}"
              f"{algbw / 1e9:>14.2f}{busbw / 1e9:>14.2f}")
    return 0


def own_topology(argv: list[str]) -> str:
    chosen = [a.partition("=")[2] for a in argv if a.startswith("topology=")]
    return chosen[-1] if chosen else "the cluster preset's"


if __name__ == "__main__":
    sys.exit(main())
