"""Failures correlated by the topology graph, degraded links and stragglers.

Expected values are hand calculations on hand-built graphs and scripted timelines.
"""

from __future__ import annotations

from functools import partial

import networkx as nx
import pytest
import simpy

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, run_replicate
from simulator.errors import ConfigError
from simulator.fabric.domains import domains_from_graph, representative_uplink, without_cable
from simulator.fabric.network import Network
from simulator.fabric.topology import build
from simulator.fabric.topology_graph import check_topology
from simulator.reliability.cluster import Cluster
from simulator.reliability.failures import FailureModel, Stragglers, TraceFailure
from simulator.streams import stream
from tests.listeners import Recorder

MIN = 60.0


def two_tor_graph(spines: int = 2) -> nx.Graph:
    """4 servers of 2 GPUs: servers 0-1 under ToR A, 2-3 under ToR B; A and B joined by
    `spines` spines, each ToR uplink one edge of 2 cables (100 GB/s), NICs 50 GB/s."""
    G = nx.Graph(name="hand", gpus=8, gpus_per_node=2, domain_size=2, routing="switched")
    for r in range(8):
        G.add_node(r, kind="gpu", server=r // 2, local=r % 2, domain=r // 2, rail=None)
    for d in range(4):
        G.add_node(("nvswitch", d), kind="nvswitch", reduction=True)
        for r in (2 * d, 2 * d + 1):
            G.add_edge(r, ("nvswitch", d), bandwidth=450e9, latency=0.0, kind="nvlink",
                       links=1)
    for tor, servers in (("A", (0, 1)), ("B", (2, 3))):
        G.add_node(("tor", tor), kind="tor")
        for s in servers:
            for r in (2 * s, 2 * s + 1):
                G.add_edge(r, ("tor", tor), bandwidth=50e9, latency=0.0, kind="ib", links=1)
        for spine in range(spines):
            G.add_node(("spine", 0, spine), kind="spine")
            G.add_edge(("tor", tor), ("spine", 0, spine), bandwidth=100e9, latency=0.0,
                       kind="ib", links=2)
    check_topology(G)
    return G


def test_domains_of_a_hand_built_graph():
    G = two_tor_graph()
    domains = domains_from_graph(G, nodes_per_rack=2, total_nodes=6)  # 2 spare nodes
    assert domains.of("switch") == ((0, 1), (2, 3), (4, 5))  # spares: a ToR of their own
    assert domains.of("scaleup") == ((0,), (1,), (2,), (3,), (4,), (5,))
    assert domains.of("rack") == ((0, 1), (2, 3), (4, 5))
    assert domains.units("switch", job_nodes=4) == 2
    assert domains.link_cables == 2 * 2 * 2  # 2 ToRs x 2 spines x 2 cables


def test_switch_failure_takes_down_exactly_the_nodes_the_graph_puts_behind_it():
    G = two_tor_graph()
    failures = FailureModel(kind="trace", trace=(TraceFailure(10 * MIN, node=3,
                                                              kind="switch"),),
                            domains=domains_from_graph(G, 2, total_nodes=6))
    env = simpy.Environment()
    listener = Recorder(env)
    cluster = Cluster(env, ClusterSpec(gpus=8, gpus_per_node=2, spare_nodes=2), failures,
                      RestartSpec(repair_s=1e9), partial(stream, 0, 0), listener)
    env.run(until=11 * MIN)
    assert [(r.scope, r.node) for r in listener.failures] == [("switch", 2)]
    assert [n.serving for n in cluster.nodes] == [True, True, False, False, True, True]
    assert cluster.short == 0  # both spares took the two slots


@pytest.mark.parametrize(("topology", "gpus", "gpn", "switch", "scaleup", "rack"), [
    # rail fat-tree, SUs of 32 DGX: 8 rail leaves per SU, each in front of all 32 nodes
    ("rail_fat_tree", 1024, 8, (32, 32), (128, 1), (32, 4)),
    # Llama 3 RoCE: a ToR per rack of 2 nodes
    ("leaf_spine_tor", 16384, 8, (1024, 2), (2048, 1), (1024, 2)),
    # NVL72: 4 racks of 18 trays; one NVLink domain per rack
    ("nvl72", 288, 4, (16, 18), (4, 18), (4, 18)),
])
def test_domains_of_the_built_topologies(topology, gpus, gpn, switch, scaleup, rack):
    params = {"rail_fat_tree": {"gpus_per_node": 8, "su_nodes": 32},
              "leaf_spine_tor": {"gpus_per_node": 8, "nodes_per_rack": 2},
              "nvl72": {"gpus_per_node": 4}}[topology]
    G = build(topology, gpus, **params)
    domains = domains_from_graph(G, nodes_per_rack=rack[1], total_nodes=gpus // gpn)
    for scope, (count, size) in (("switch", switch), ("scaleup", scaleup), ("rack", rack)):
        groups = domains.of(scope)
        assert len(groups) == count, scope
        assert {len(g) for g in groups} == {size}, scope


def test_llama3_catalog_switch_units_are_the_graphs_tors():
    # Table 5's switch rate was turned into a per-ToR MTBF over 1,024 ToRs: the graph of
    # the llama3_roce topology must have exactly that many, 2 nodes each.
    from simulator import load_scenario

    scenario = load_scenario(["+experiment=llama3_54d"])
    assert scenario.failures.units("switch", 2048, 8) == 1024
    assert {len(g) for g in scenario.failures.domains.of("switch")} == {2}


def test_one_cable_down_halves_a_two_cable_uplink():
    # One spine: everything from ToR A to ToR B crosses A's uplink, 2 cables of 50 GB/s.
    # Both GPUs of server 0 send 8 GiB to server 2: healthy, each flow gets its NIC's
    # 50 GB/s (the uplink carries 100). One cable down: the uplink's 50 GB/s is shared,
    # 25 GB/s each, so the transfer takes exactly twice as long.
    G = two_tor_graph(spines=1)
    cable = representative_uplink(G)
    assert cable == (("tor", "A"), ("spine", 0, 0))
    degraded = without_cable(G, cable)
    assert degraded.edges[cable]["bandwidth"] == pytest.approx(50e9)
    assert degraded.edges[cable]["links"] == 1
    size, pairs = 8 * 2**30, [(0, 4), (1, 5)]
    efficiency = {"ib": 1.0, "nvlink": 1.0}
    healthy_t = Network(G, efficiency).transfer_times(pairs, [size] * 2)
    degraded_t = Network(degraded, efficiency).transfer_times(pairs, [size] * 2)
    assert list(healthy_t) == pytest.approx([size / 50e9] * 2, rel=1e-9)
    assert list(degraded_t) == pytest.approx([size / 25e9] * 2, rel=1e-9)
    # a single-cable edge is removed outright, and traffic takes the other spine
    G2 = two_tor_graph(spines=2)
    G2.edges[("tor", "A"), ("spine", 0, 0)].update(links=1, bandwidth=50e9)
    assert not without_cable(G2, (("tor", "A"), ("spine", 0, 0))).has_edge(
        ("tor", "A"), ("spine", 0, 0))


def test_link_slowdown_of_a_real_workload_is_the_degraded_graphs_step_time():
    from simulator import load_scenario
    from simulator.fabric import stepmodel

    scenario = load_scenario(["workload=llama3_70b",
                              "+failures.components.cable={scope: link, mtbf_hours: 1e5}"])
    factor = scenario.failures.domains.link_slowdown
    fabric, work = scenario.fabric, scenario.workload
    graph = stepmodel.fabric_graph(fabric, work.parallel.gpus)
    cable = representative_uplink(graph)
    import dataclasses

    degraded = stepmodel.profile(work, dataclasses.replace(fabric, failed_cable=cable),
                                 8, 989e12, 0.6)
    assert factor == pytest.approx(degraded.step_s / scenario.profile.step_s, rel=1e-12)
    assert factor >= 1.0


def link_run(horizon_min: float, trace: list[TraceFailure], slowdown: float = 1.5,
             stragglers: Stragglers | None = None) -> dict:
    domains = domains_from_graph(two_tor_graph(), 2, total_nodes=6, link_slowdown=slowdown)
    scenario = Scenario(
        horizon_s=horizon_min * MIN, step_s=MIN,
        cluster=ClusterSpec(gpus=8, gpus_per_node=2, spare_nodes=2),
        failures=FailureModel(kind="trace", trace=tuple(trace), domains=domains,
                              stragglers=stragglers),
        checkpoint=CheckpointSpec(interval_s=60 * MIN, write_s=5 * MIN, load_s=3 * MIN),
        restart=RestartSpec(detect_s=2 * MIN, restart_s=10 * MIN, repair_s=1e9),
    )
    row = run_replicate(scenario).row
    return {k: (v * 60 if k.endswith("_h") else v) for k, v in row.items()}


def test_a_redundant_link_failure_slows_the_job_without_stopping_it():
    # Cable down 10-40 min at slowdown 1.5: the 30 min give 20 min of work and 10 of
    # degraded time. Segment 1 computes 0-70 (60 min of work), writes 70-75; segment 2
    # computes 75-125 and the horizon ends there: useful 60 + 50, degraded 10.
    row = link_run(125, [TraceFailure(10 * MIN, kind="link", repair_s=30 * MIN)])
    assert row["failures"] == 0 and row["link_failures"] == 1
    assert row["degraded_h"] == pytest.approx(10)
    assert row["useful_h"] == pytest.approx(110)
    assert row["checkpoint_h"] == pytest.approx(5)
    assert row["rework_h"] == 0


def test_overlapping_link_failures_slow_once_until_the_last_is_repaired():
    # Two cables down 10-40 and 30-50: degraded 10-50 (40 min -> 40 (1 - 1/1.5) = 40/3)
    row = link_run(125, [TraceFailure(10 * MIN, kind="link", repair_s=30 * MIN),
                         TraceFailure(30 * MIN, kind="link", repair_s=20 * MIN)])
    assert row["degraded_h"] == pytest.approx(40 / 3)
    assert row["link_failures"] == 2


def test_a_failure_during_degraded_running_loses_the_degraded_time_too():
    # Cable down 10-40; node 0 fails at 30: 0-30 (10 nominal + 20 slow) is rework.
    row = link_run(60, [TraceFailure(10 * MIN, kind="link", repair_s=30 * MIN),
                        TraceFailure(30 * MIN, node=0)])
    assert row["rework_h"] == pytest.approx(30)
    assert row["degraded_h"] == 0.0  # none of the slow time survived
    # restart 30-45 (2 + 10 + 3), computing again 45-60 of which 45-... the cable is
    # still down until 40 < 45: full speed
    assert row["restart_h"] == pytest.approx(15)
    assert row["useful_h"] == pytest.approx(15)


def test_a_straggler_slows_every_step_until_found_and_swapped_at_the_next_checkpoint():
    # Node 1 turns slow (x2) at 10 min and is found 20 min later. The segment's 50 min of
    # work left take 100 min: compute ends at 110, the write 110-115 commits, the job
    # drains there, swaps node 1 for a spare, restarts and loads (10 + 3): 115-128, then
    # computes at full speed 128-188.
    slow = Stragglers(mean_s=float("inf"), slowdown=2.0, detect_s=1e9)
    row = link_run(188, [TraceFailure(10 * MIN, node=1, kind="straggler",
                                      repair_s=20 * MIN)], stragglers=slow)
    assert row["stragglers"] == 1 and row["failures"] == 0
    assert row["degraded_h"] == pytest.approx(50)
    assert row["useful_h"] == pytest.approx(120)
    assert row["checkpoint_h"] == pytest.approx(5)
    assert row["restart_h"] == pytest.approx(13)


def test_a_straggler_that_fails_stops_slowing_the_job():
    # Node 1 slow (x2) from 10; it fails at 30: rework 0-30, restart 30-45 on a spare at
    # full speed; 45-60 useful.
    slow = Stragglers(mean_s=float("inf"), slowdown=2.0, detect_s=1e9)
    row = link_run(60, [TraceFailure(10 * MIN, node=1, kind="straggler", repair_s=1e6),
                        TraceFailure(30 * MIN, node=1)], stragglers=slow)
    assert row["rework_h"] == pytest.approx(30)
    assert row["useful_h"] == pytest.approx(15)
    assert row["degraded_h"] == 0.0


def test_straggler_rate_and_slowdown_match_the_expected_degraded_time():
    # Stragglers arrive at rate gpus / mean = 8 / 200 h while the job runs. Each one slows
    # the job (x2) for its detection time D (exponential, mean 60 min) plus the rest of
    # the checkpoint interval it is found in: 10 steps of 1 min take 20 min when slow, and
    # D is long against that, so the rest is ~uniform: 10 min on average. Half of that
    # slow time is degraded: 0.5 x (60 + 10) = 35 min per straggler. Overlaps (~4% of
    # stragglers) add no slowdown, so the simulated mean may be a little lower.
    slow = Stragglers(mean_s=200 * 3600.0, slowdown=2.0, detect_s=3600.0)
    scenario = Scenario(
        seed=3, horizon_s=10_000 * 3600.0, step_s=MIN,
        cluster=ClusterSpec(gpus=8, gpus_per_node=2, spare_nodes=2),
        failures=FailureModel(kind="stragglers", stragglers=slow),
        checkpoint=CheckpointSpec(interval_s=10 * MIN, write_s=0.0, load_s=0.0),
        restart=RestartSpec(detect_s=0.0, restart_s=0.0, repair_s=3600.0),
    )
    row = run_replicate(scenario).row
    expected_count = 10_000 * 8 / 200
    # the rate applies while the job holds its nodes, which is always here
    assert abs(row["stragglers"] - expected_count) < 4 * expected_count**0.5
    per_straggler_min = row["degraded_h"] * 60 / row["stragglers"]
    # sd of the mean of ~400 exponential D's is ~5%: 3 sd
    assert per_straggler_min == pytest.approx(35.0, rel=0.15)


def test_link_failures_need_a_workload_model():
    from simulator import load_scenario

    with pytest.raises(ConfigError) as info:
        load_scenario(["+failures.components.cable={scope: link, mtbf_hours: 1000}"])
    assert info.value.key == "failures.components"
    assert "workload" in str(info.value)


def test_switch_scope_on_a_topology_without_switches_is_an_error():
    from simulator import load_scenario

    with pytest.raises(ConfigError) as info:
        load_scenario(["topology=tpu_v5p", "cluster.accelerator=TPUv5p",
                       "cluster.gpus=64", "cluster.gpus_per_node=4",
                       "+failures.components.tor={scope: switch, mtbf_hours: 1000}"])
    assert info.value.key == "failures.components.tor.scope"
