"""Every failure source (simulator/reliability/sources.py, the part clock in
simulator/reliability/parts.py),
started on a recording cluster, with fixed lifetimes or scripted draws: the times and
effects below follow by hand from the lifetimes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from simulator.reliability.failure_source import Bundle, NullListener
from simulator.reliability.failures import Exponential, FailureModel, Stragglers, TraceFailure
from simulator.reliability.parts import PartClock, PartTable
from simulator.reliability.scenario import ClusterSpec
from simulator.reliability.sources import (
    CableFailures,
    DomainFailures,
    JobFaults,
    Maintenance,
    StragglerArrivals,
    TraceReplay,
    failure_sources,
    part_clock,
)
from simulator.streams import stream


@dataclass(frozen=True)
class Fixed:
    """A lifetime that is always `mean_s` (a deterministic clock for hand calculations)."""

    mean_s: float

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.mean_s)

    def cdf(self, t_s: np.ndarray) -> np.ndarray:
        return (np.asarray(t_s) >= self.mean_s).astype(float)


class Node:
    def __init__(self, index: int, serving: bool = True) -> None:
        self.index, self.serving = index, serving


class Recording:
    """A ClusterState that notes every effect as (time, effect, detail)."""

    def __init__(self, env: simpy.Environment, nodes: int, clock: PartClock | None = None):
        self.env, self.clock = env, clock
        self.nodes = [Node(i) for i in range(nodes)]
        self.effects: list[tuple] = []

    def fail(self, node, part, kind="node", index=0, cause=None, repair_s=None):
        age = None if part is None else part.age_s
        self.effects.append((self.env.now, "fail", node.index, cause, age))
        if self.clock is not None:  # out of service for good (no repair here)
            node.serving = False
            self.clock.service_changed(node.index, False, self.env.now)

    def fail_group(self, group, cause, scope, repair_s=None):
        self.effects.append((self.env.now, scope, tuple(n.index for n in group), cause))

    def link_down(self, cause, repair_s=None):
        self.effects.append((self.env.now, "link", cause, repair_s))

    def straggle(self, node, slowdown, find_s):
        self.effects.append((self.env.now, "straggler", node.index, slowdown, find_s))

    def fail_job(self, cause):
        self.effects.append((self.env.now, "job", cause))


class ScriptedRng:
    """exponential(mean) returns the next scripted multiple of `mean`; integers(n) the
    next scripted index."""

    def __init__(self, units: list[float], picks: list[int] = ()) -> None:
        self.units, self.picks = list(units), list(picks)

    def exponential(self, mean: float) -> float:
        return self.units.pop(0) * mean

    def integers(self, n: int) -> int:
        return self.picks.pop(0)


def one(name: str, scope: str, life_s: float) -> Bundle:
    return Bundle(scope, Fixed(life_s), (name,), (1.0,))


def run(source, nodes: int, until: float, listener=None) -> Recording:
    env = simpy.Environment()
    cluster = Recording(env, nodes)
    source.start(env, cluster, listener or NullListener())
    env.run(until=until)
    return cluster


def test_domains_fail_on_their_own_clocks_and_start_over():
    # unit A (nodes 0, 1) every 10 s, unit B (node 2) every 15 s: A at 10, 20, 30;
    # B at 15, 30 (A first at the tie: it comes first in the list)
    rng = np.random.default_rng(0)
    a, b = one("tor", "switch", 10.0), one("pdu", "rack", 15.0)
    source = DomainFailures([(a, (0, 1), rng), (b, (2,), rng)])
    effects = run(source, 3, until=31).effects
    assert effects == [(10, "switch", (0, 1), "tor"), (15, "rack", (2,), "pdu"),
                       (20, "switch", (0, 1), "tor"), (30, "switch", (0, 1), "tor"),
                       (30, "rack", (2,), "pdu")]


def test_job_faults_come_per_gpu_lifetime_over_the_gpu_count():
    # one fault per 1,000 GPU-seconds on 100 GPUs: every 10 s
    source = JobFaults(one("nccl", "job", 1000.0), 100, np.random.default_rng(0))
    assert [e[0] for e in run(source, 1, until=35).effects] == [10, 20, 30]
    assert run(source, 1, until=11).effects == [(10, "job", "nccl")]


def test_cable_failures_come_per_cable_lifetime_over_the_cable_count():
    # 6 cables, each failing every 600 s: one down every 100 s, repair time by cause
    source = CableFailures(one("cable", "link", 600.0), 6, np.random.default_rng(0))
    assert run(source, 1, until=250).effects == [(100, "link", "cable", None),
                                                 (200, "link", "cable", None)]


def test_stragglers_arrive_at_gpus_over_mean_and_pick_a_serving_node():
    # mean 800 s per GPU, 8 GPUs: gaps of 100 s x the scripted unit draws (1, then 2);
    # detection draws 0.5 x 60 s; the picks index the serving nodes (node 1 is out)
    spec = Stragglers(mean_s=800.0, slowdown=1.5, detect_s=60.0)
    rng = ScriptedRng([1.0, 0.5, 2.0, 0.25, 10.0], picks=[1, 0])  # 10: the next gap
    env = simpy.Environment()
    cluster = Recording(env, 3)
    cluster.nodes[1].serving = False
    StragglerArrivals(spec, 8, rng).start(env, cluster, NullListener())
    env.run(until=301)
    assert cluster.effects == [(100, "straggler", 2, 1.5, 30.0),
                               (300, "straggler", 0, 1.5, 15.0)]


def test_maintenance_asks_the_listener_not_the_hardware():
    calls = []

    class Planned(NullListener):
        def on_planned(self) -> None:
            calls.append(env.now)

    env = simpy.Environment()
    cluster = Recording(env, 1)
    Maintenance(3600.0, ScriptedRng([0.5, 2.0, 10.0])).start(env, cluster, Planned())
    env.run(until=3 * 3600.0)
    assert calls == [1800.0, 1800.0 + 7200.0] and cluster.effects == []


def test_trace_replay_plays_exactly_the_listed_failures_in_time_order():
    trace = (TraceFailure(30.0, kind="job", component="nccl"),
             TraceFailure(10.0, node=1),
             TraceFailure(20.0, node=0, kind="gpu", gpu=3, repair_s=5.0),
             TraceFailure(40.0, kind="link", repair_s=7.0),
             TraceFailure(50.0, node=2, kind="straggler", repair_s=9.0))
    failures = FailureModel(kind="trace", trace=trace,
                            stragglers=Stragglers(mean_s=1.0, slowdown=2.0, detect_s=60.0))
    effects = run(TraceReplay(failures), 3, until=100).effects
    assert effects == [(10, "fail", 1, "node", None), (20, "fail", 0, "gpu", None),
                       (30, "job", "nccl"), (40, "link", "link", 7.0),
                       (50, "straggler", 2, 2.0, 9.0)]


def test_trace_replay_skips_nodes_out_of_service():
    env = simpy.Environment()
    cluster = Recording(env, 2)
    cluster.nodes[1].serving = False
    TraceReplay(FailureModel(kind="trace", trace=(TraceFailure(1.0, node=1),))).start(
        env, cluster, NullListener())
    env.run()
    assert cluster.effects == []


def clock_of(nodes: int, life_s: float) -> PartClock:
    table = PartTable(nodes, [one("host", "node", life_s)], [], 8,
                      lambda b: np.random.default_rng(0), np.ones(nodes), None)
    return PartClock(table)


def test_the_part_clock_fails_each_node_when_its_part_runs_out():
    env = simpy.Environment()
    clock = clock_of(2, 10.0)
    cluster = Recording(env, 2, clock)
    clock.start(env, cluster, NullListener())
    for node in range(2):
        clock.service_changed(node, True, 0.0)
    env.run(until=100)
    assert cluster.effects == [(10, "fail", 0, "host", 10.0), (10, "fail", 1, "host", 10.0)]


def test_a_part_keeps_its_age_while_its_node_is_out_of_service():
    # a 10-s part serves 0-3 s, rests 3-5 s, serves again: it fails at 5 + 7 = 12 s
    # with an age of 10 s (in-service time), not at 10 s
    env = simpy.Environment()
    clock = clock_of(1, 10.0)
    cluster = Recording(env, 1, clock)
    clock.start(env, cluster, NullListener())
    clock.service_changed(0, True, 0.0)

    def out_and_back():
        yield env.timeout(3.0)
        clock.service_changed(0, False, env.now)
        yield env.timeout(2.0)
        clock.service_changed(0, True, env.now)

    env.process(out_and_back())
    env.run(until=100)
    assert cluster.effects == [(12.0, "fail", 0, "host", 10.0)]


def test_failure_sources_are_chosen_from_the_failure_model():
    spec = ClusterSpec(gpus=16, gpus_per_node=8, spare_nodes=0)
    streams = lambda name: stream(0, 0, name)  # noqa: E731
    plain = FailureModel(kind="exponential", gpu=Exponential(1e6), planned_gap_s=1e5,
                         stragglers=Stragglers(1e6, 1.2, 600.0))
    assert [type(s).__name__ for s in failure_sources(plain, spec, streams)] == [
        "Maintenance", "StragglerArrivals"]
    assert part_clock(plain, spec, np.ones(2), streams) is not None
    trace = FailureModel(kind="trace", trace=(TraceFailure(1.0),), planned_gap_s=1e5,
                         stragglers=Stragglers(1e6, 1.2, 600.0))
    assert [type(s).__name__ for s in failure_sources(trace, spec, streams)] == [
        "TraceReplay", "Maintenance"]  # a trace brings its own stragglers
    assert part_clock(trace, spec, np.ones(2), streams) is None
    assert part_clock(FailureModel(kind="none"), spec, np.ones(2), streams) is None
