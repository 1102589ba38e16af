"""Job slots: every node in service has its place in the job; failures name the slots
they took out, and a spare takes over the slot of the node it replaces."""

from __future__ import annotations

import simpy

from simulator.reliability.cluster import Cluster
from simulator.reliability.failure_source import FailureRecord, NullListener
from simulator.reliability.failures import FailureModel, TraceFailure
from simulator.reliability.scenario import ClusterSpec, RestartSpec
from simulator.streams import stream


class Recorder(NullListener):
    def __init__(self) -> None:
        self.records: list[FailureRecord] = []

    def on_failure(self, record: FailureRecord) -> None:
        self.records.append(record)


def test_spares_take_the_failed_nodes_slot() -> None:
    env = simpy.Environment()
    trace = (TraceFailure(10.0, node=2), TraceFailure(20.0, node=4), TraceFailure(30.0, node=0))
    listener = Recorder()
    cluster = Cluster(env, ClusterSpec(gpus=32, gpus_per_node=8, spare_nodes=1),
                      FailureModel(kind="trace", trace=trace),
                      RestartSpec(detect_s=0.0, repair_s=15.0),  # repairs start at once
                      lambda name: stream(0, 0, name), listener)
    assert [n.slot for n in cluster.nodes] == [0, 1, 2, 3, -1]
    env.run(until=40.0)
    # t=10: node 2 fails, spare 4 takes slot 2; t=20: node 4 (in slot 2) fails, no spare
    # until node 2 is back at t=25 (repair 15 s) and takes slot 2 again; t=30: node 0
    # fails, no spare (node 4 back only at t=35)
    assert [r.slots for r in listener.records] == [(2,), (2,), (0,)]
    serving = {n.index: n.slot for n in cluster.nodes if n.serving}
    assert serving == {1: 1, 2: 2, 3: 3, 4: 0}
    assert cluster.short == 0
