"""The failure sources besides the part clock (simulator/reliability/parts.py), one class each.

Each is started once by the cluster (`start(env, cluster, listener)`, the interface in
simulator/reliability/failure_source.py) and runs its own SimPy process: it decides when something
fails and what, and calls the cluster's effect for it. Every source draws from its own
random stream, named as before the split (`<bundle>_failures`, `stragglers`,
`planned`), so adding or moving a source shifts no other.

`failure_sources` chooses the sources a FailureModel asks for, in the order their
processes have always been created (same seed, same event order, same numbers).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from simulator.fabric.domains import GROUP_SCOPES
from simulator.reliability.failure_source import (
    Bundle,
    ClusterListener,
    ClusterState,
    FailureSource,
    bundles,
)
from simulator.reliability.failures import FailureModel, Stragglers, TraceFailure
from simulator.reliability.parts import PartClock, PartTable
from simulator.reliability.scenario import ClusterSpec
from simulator.reliability.sdc import Corruption, SilentCorruptions, corrupt
from simulator.reliability.trace import resample_by_host

Streams = Callable[[str], np.random.Generator]


class DomainFailures:
    """Switches, racks and scale-up domains, each on its own clock (they age whether or
    not the job uses them): when one fails, every in-service node behind it goes down at
    once; it is replaced and its clock starts over. `units`: (bundle, the nodes behind
    the unit, the bundle's one stream)."""

    def __init__(self, units: list[tuple[Bundle, tuple[int, ...], np.random.Generator]]) -> None:
        self.units = units

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None:
        env.process(self._run(env, cluster))

    def _run(self, env: simpy.Environment, cluster: ClusterState):
        units = self.units
        next_at = np.array([bundle.draw(rng) for bundle, _, rng in units])
        while True:
            unit = int(np.argmin(next_at))
            yield env.timeout(next_at[unit] - env.now)
            bundle, group, rng = units[unit]
            cluster.fail_group([cluster.nodes[i] for i in group], bundle.cause(rng),
                               bundle.scope)
            next_at[unit] = env.now + bundle.draw(rng)


class _Superposed:
    """`count` independent units of one bundle: the gaps between failures of any of them
    are lifetimes / count (exact for exponential lifetimes). Each failure calls
    `_fail(cluster, cause)`."""

    def __init__(self, bundle: Bundle, count: int, rng: np.random.Generator) -> None:
        self.bundle, self.count, self.rng = bundle, count, rng

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None:
        env.process(self._run(env, cluster))

    def _run(self, env: simpy.Environment, cluster: ClusterState):
        while True:
            yield env.timeout(self.bundle.draw(self.rng) / self.count)
            self._fail(cluster, self.bundle.cause(self.rng))

    def _fail(self, cluster: ClusterState, cause: object) -> None:
        raise NotImplementedError


class JobFaults(_Superposed):
    """Software and communication faults: they stop the job and replace no hardware.
    The lifetime is per accelerator (`count` = the job's GPUs)."""

    def _fail(self, cluster: ClusterState, cause: object) -> None:
        cluster.fail_job(cause)


class CableFailures(_Superposed):
    """Redundant cables (`count` of them), each failing independently. A cable down
    slows the job; it does not stop it."""

    def _fail(self, cluster: ClusterState, cause: object) -> None:
        cluster.link_down(cause)


class StragglerArrivals:
    """GPUs of the job turn slow at rate gpus / mean; the slow node is one drawn
    uniformly among the nodes in service, found after an exponential detection time."""

    def __init__(self, spec: Stragglers, gpus: int, rng: np.random.Generator) -> None:
        self.spec, self.gpus, self.rng = spec, gpus, rng

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None:
        env.process(self._run(env, cluster))

    def _run(self, env: simpy.Environment, cluster: ClusterState):
        spec, rng = self.spec, self.rng
        while True:
            yield env.timeout(float(rng.exponential(spec.mean_s / self.gpus)))
            serving = [node for node in cluster.nodes if node.serving]
            if not serving:  # the job holds no node right now
                continue
            node = serving[int(rng.integers(len(serving)))]
            cluster.straggle(node, spec.slowdown, float(rng.exponential(spec.detect_s)))


class Maintenance:
    """Planned maintenance: a Poisson process of requests to stop at a checkpoint
    (mean gap `gap_s`). It touches no hardware: it asks the listener."""

    def __init__(self, gap_s: float, rng: np.random.Generator) -> None:
        self.gap_s, self.rng = gap_s, rng

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None:
        env.process(self._run(env, listener))

    def _run(self, env: simpy.Environment, listener: ClusterListener):
        while True:
            yield env.timeout(float(self.rng.exponential(self.gap_s)))
            listener.on_planned()


class TraceReplay:
    """Scripted failures: exactly the listed ones, at the listed times. Failures of
    nodes (or behind switches) not in service at that moment are ignored."""

    def __init__(self, failures: FailureModel, nodes: int = 0,
                 rng: np.random.Generator | None = None) -> None:
        """With `rng`, a bootstrap of the trace by host over `nodes` physical nodes
        (failures.resample; simulator/reliability/trace.py, `resample_by_host`)."""
        assert failures.trace is not None, "a replay needs a trace"
        self.trace: tuple[TraceFailure, ...] = (
            failures.trace if rng is None else resample_by_host(failures.trace, nodes, rng))
        self.failures = failures

    def start(self, env: simpy.Environment, cluster: ClusterState,
              listener: ClusterListener) -> None:
        env.process(self._run(env, cluster, listener))

    def _run(self, env: simpy.Environment, cluster: ClusterState, listener: ClusterListener):
        for event in sorted(self.trace, key=lambda e: e.time_s):
            yield env.timeout(event.time_s - env.now)
            self._replay(event, cluster, listener, env)

    def _replay(self, event: TraceFailure, cluster: ClusterState, listener: ClusterListener,
                env: simpy.Environment) -> None:
        cause, nodes = event.component or event.kind, cluster.nodes
        if event.kind == "sdc":  # a corruption by a GPU of the node, if it serves the job
            node, latency_s = nodes[event.node], event.repair_s
            if latency_s is None:  # the row gives no latency: the configured mean
                assert self.failures.sdc is not None, "an sdc row needs its detection time"
                latency_s = self.failures.sdc.detect.mean_s
            if node.serving:
                corrupt(env, cluster, listener, Corruption(event.time_s, node.index,
                                                           event.gpu, node.slot, latency_s))
        elif event.kind == "job":
            cluster.fail_job(cause)
        elif event.kind in GROUP_SCOPES:
            group = next(g for g in self.failures.groups(event.kind) if event.node in g)
            cluster.fail_group([nodes[i] for i in group], cause, event.kind, event.repair_s)
        elif event.kind == "link":
            cluster.link_down(cause, event.repair_s)
        elif event.kind == "straggler":
            spec = self.failures.stragglers
            assert spec is not None, "a straggler needs its slowdown"
            cluster.straggle(nodes[event.node], spec.slowdown,
                             spec.detect_s if event.repair_s is None else event.repair_s)
        elif nodes[event.node].serving:
            cluster.fail(nodes[event.node], None, kind=event.kind, index=event.gpu,
                         cause=cause, repair_s=event.repair_s)


def part_clock(failures: FailureModel, spec: ClusterSpec, speed: np.ndarray,
               streams: Streams) -> PartClock | None:
    """The clock of every node's and GPU's parts (first lifetimes drawn per bundle, in
    node order); None if no part of a node fails or the failures are a trace."""
    if failures.trace is not None:
        return None
    components = failures.components
    table = PartTable(len(speed), bundles(components, "node"), bundles(components, "gpu"),
                      spec.gpus_per_node, lambda b: streams(f"{b.name}_failures"), speed,
                      failures.infant)
    return None if table.empty else PartClock(table)


def failure_sources(failures: FailureModel, spec: ClusterSpec,
                    streams: Streams) -> list[FailureSource]:
    """Every source `failures` asks for besides the part clock, in the order their
    processes start: domains, job-scope faults, cables (or the trace replay instead of
    all of them), then maintenance and stragglers."""
    sources: list[FailureSource] = []
    if failures.trace is None:
        components = failures.components
        units = []  # (bundle, group, the bundle's one stream)
        for scope in GROUP_SCOPES:
            for bundle in bundles(components, scope):
                rng = streams(f"{bundle.name}_failures")
                units += [(bundle, group, rng) for group in failures.groups(scope)]
        if units:
            sources.append(DomainFailures(units))
        for bundle in bundles(components, "job"):
            sources.append(JobFaults(bundle, spec.gpus, streams(f"{bundle.name}_failures")))
        for bundle in bundles(components, "link"):
            cables = failures.units("link", spec.nodes, spec.gpus_per_node)
            if cables:
                sources.append(CableFailures(bundle, cables,
                                             streams(f"{bundle.name}_failures")))
    else:
        rng = streams("trace_resample") if failures.resample else None
        sources.append(TraceReplay(failures, spec.nodes + spec.spare_nodes, rng))
    if failures.planned_gap_s is not None:
        sources.append(Maintenance(failures.planned_gap_s, streams("planned")))
    if failures.stragglers is not None and failures.trace is None:
        sources.append(StragglerArrivals(failures.stragglers, spec.gpus, streams("stragglers")))
    if failures.sdc is not None and failures.trace is None:
        sources.append(SilentCorruptions(failures.sdc, spec.nodes, spec.gpus_per_node,
                                         streams("sdc")))
    return sources
