"""The cluster (simulator/reliability/cluster.py): effects of failures on nodes, the pool and the
slowdown, and what it tells its listener, on scripted traces worked out by hand."""

from __future__ import annotations

from functools import partial

import pytest
import simpy

from simulator.fabric.domains import FailureDomains
from simulator.reliability.cluster import Cluster
from simulator.reliability.failures import FailureModel, Stragglers, TraceFailure
from simulator.reliability.scenario import ClusterSpec, RestartSpec
from simulator.streams import stream
from tests.listeners import Recorder

HOUR = 3600.0


def cluster_of(env, trace, listener, nodes=2, spares=1, repair_s=4 * HOUR, **model):
    failures = FailureModel(kind="trace", trace=tuple(trace), **model)
    return Cluster(env, ClusterSpec(gpus=nodes, gpus_per_node=1, spare_nodes=spares),
                   failures, RestartSpec(repair_s=repair_s), partial(stream, 0, 0), listener)


def test_the_listener_hears_of_a_failure_after_the_spare_is_in():
    env = simpy.Environment()
    seen = []

    class Checking(Recorder):
        def on_failure(self, record):
            super().on_failure(record)
            seen.append((cluster.short, [n.serving for n in cluster.nodes]))

    cluster = cluster_of(env, [TraceFailure(HOUR, node=0)], Checking(env))
    env.run(until=2 * HOUR)
    assert seen == [(0, [False, True, True])]  # node 0 out, spare 2 in, none short


def test_a_repaired_node_comes_back_to_the_pool_after_repair_s():
    # node 0 fails at 1 h; no spare: short until the repair, started once the failure is
    # detected (RestartSpec's default 5 min), is done at 1 h + 5 min + 4 h
    env = simpy.Environment()
    listener = Recorder(env)
    cluster = cluster_of(env, [TraceFailure(HOUR, node=0)], listener, spares=0)
    env.run(until=2 * HOUR)
    full = cluster.when_full()
    assert cluster.short == 1 and not full.triggered
    back = HOUR + 5 * 60 + 4 * HOUR
    env.run(until=back - 1)
    assert not full.triggered
    env.run(until=back + 1)
    assert full.triggered and cluster.short == 0 and cluster.nodes[0].serving
    assert [(r.time_s, r.node, r.scope) for r in listener.failures] == [(HOUR, 0, "node")]


def test_a_domain_failure_takes_its_serving_nodes_and_records_one_failure():
    # rack (0, 1) fails: both in service, two slots empty; one spare (node 2) fills one
    env = simpy.Environment()
    listener = Recorder(env)
    domains = FailureDomains((("rack", ((0, 1), (2,))),))
    cluster = cluster_of(env, [TraceFailure(HOUR, node=1, kind="rack")], listener,
                         domains=domains)
    env.run(until=2 * HOUR)
    assert [n.serving for n in cluster.nodes] == [False, False, True]
    assert cluster.short == 1
    assert [(r.node, r.scope) for r in listener.failures] == [(0, "rack")]
    assert len(cluster.records) == 1


def test_slowdown_is_the_straggler_times_the_degraded_fabric_while_a_cable_is_down():
    # straggler x2 on node 1 at 10 s, found 50 s later (60 s); a cable down 20-50 s with
    # the fabric at x1.5: slowdown 2 -> 3 -> 2; the swap at 70 s brings the spare in: 1
    env = simpy.Environment()
    listener = Recorder(env)
    trace = [TraceFailure(10.0, node=1, kind="straggler", repair_s=50.0),
             TraceFailure(20.0, kind="link", repair_s=30.0)]
    cluster = cluster_of(env, trace, listener, stragglers=Stragglers(1e9, 2.0, 600.0),
                         domains=FailureDomains((), link_cables=4, link_slowdown=1.5))
    observed = {}

    def watch():
        for t in (15.0, 25.0, 55.0):
            yield env.timeout(t - env.now)
            observed[t] = cluster.slowdown
        yield env.timeout(70.0 - env.now)
        cluster.swap_out(listener.found[0])
        observed[70.0] = cluster.slowdown

    env.process(watch())
    env.run(until=80.0)
    assert observed == {15.0: 2.0, 25.0: pytest.approx(3.0), 55.0: 2.0, 70.0: 1.0}
    assert listener.calls == [(10.0, "speed"), (20.0, "speed"), (50.0, "speed"),
                              (60.0, "found")]
    assert [n.serving for n in cluster.nodes] == [True, False, True]
    assert (cluster.stragglers, cluster.link_failures) == (1, 1)


def test_a_job_fault_stops_the_job_and_touches_no_node():
    env = simpy.Environment()
    listener = Recorder(env)
    cluster = cluster_of(env, [TraceFailure(5.0, kind="job", component="nccl")], listener)
    env.run(until=10.0)
    assert [(r.node, r.component, r.scope) for r in listener.failures] == [(-1, "nccl", "job")]
    assert [n.serving for n in cluster.nodes] == [True, True, False]
