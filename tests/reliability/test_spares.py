"""The spare pool and the repair shop (simulator/reliability/spares.py), on scripted cases.

Every expectation is worked out by hand in the test: which node fills which slot, when
a repaired node is back, what an escalation or a failed repair adds.
"""

from __future__ import annotations

import collections

import pytest
import simpy

from simulator.reliability.failure_source import PartRef
from simulator.reliability.failures import Lemons
from simulator.reliability.scenario import RestartSpec
from simulator.reliability.spares import RepairShop, SparePool, flagged

HOUR = 3600.0


class FakeNode:
    """A node that notes when it entered service."""

    def __init__(self, env: simpy.Environment, name: str, index: int = 0) -> None:
        self.env, self.name, self.index = env, name, index
        self.entered: list[float] = []
        self.failure_times: collections.deque[float] = collections.deque()

    def enter_service(self) -> None:
        self.entered.append(self.env.now)


class ScriptedRng:
    """`random()` returns the scripted values in order (and fails the test if asked for
    more): each escalation and each redo decision is chosen by the test."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def random(self) -> float:
        assert self.values, "the repair drew more numbers than scripted"
        return self.values.pop(0)


def shop(env, plan, rng, spares=()):
    pool = SparePool(env, spares)
    renewed: list[PartRef] = []
    return RepairShop(env, plan, rng, pool, renewed.append), pool, renewed


def test_spares_fill_empty_slots_oldest_first_and_the_rest_stay_short():
    env = simpy.Environment()
    a, b = FakeNode(env, "a"), FakeNode(env, "b")
    pool = SparePool(env, [a, b])
    for _ in range(3):  # three slots lost their nodes
        pool.vacate()
    pool.refill()
    assert (a.entered, b.entered) == ([0.0], [0.0])
    assert pool.short == 1 and len(pool) == 0 and not pool.is_full


def test_when_full_fires_once_a_returned_node_fills_the_last_slot():
    env = simpy.Environment()
    pool = SparePool(env, [])
    pool.vacate()
    pool.refill()
    full = pool.when_full()
    assert not full.triggered
    c = FakeNode(env, "c")
    pool.give_back(c)
    assert full.triggered and c.entered == [0.0] and pool.short == 0
    assert pool.when_full().triggered  # a full pool's event fires at once


def test_a_returned_node_waits_in_the_pool_when_no_slot_is_empty():
    env = simpy.Environment()
    pool = SparePool(env, [])
    d = FakeNode(env, "d")
    pool.give_back(d)
    assert d.entered == [] and len(pool) == 1


def test_a_repair_returns_the_node_after_repair_s_with_its_part_renewed():
    env = simpy.Environment()
    repairs, pool, renewed = shop(env, RestartSpec(repair_s=4 * HOUR), ScriptedRng())
    node, part = FakeNode(env, "n"), PartRef(0, 3, "gpu", 2, 100.0)
    pool.vacate()  # its slot is empty until it comes back
    repairs.repair(node, part, 4 * HOUR)
    env.run(until=4 * HOUR - 1)
    assert node.entered == [] and renewed == []
    env.run(until=4 * HOUR + 1)
    assert node.entered == [4 * HOUR] and renewed == [part] and pool.is_full


def test_an_escalated_repair_adds_the_manual_time():
    # p_manual 0.3: a draw of 0.1 < 0.3 escalates; p_redo 0.2: a draw of 0.5 does not
    # redo. Back after 4 h + 72 h = 76 h.
    env = simpy.Environment()
    plan = RestartSpec(repair_s=4 * HOUR, manual_probability=0.3, manual_repair_s=72 * HOUR,
                       repair_failure_probability=0.2)
    repairs, pool, _ = shop(env, plan, ScriptedRng(0.1, 0.5))
    node = FakeNode(env, "n")
    pool.vacate()
    repairs.repair(node, None, plan.repair_s)
    env.run()
    assert node.entered == [76 * HOUR]
    assert repairs.log == [(76 * HOUR, 0, "node", "repaired")]  # its end, for the timeline


def test_a_repair_that_does_not_fix_the_node_is_done_again():
    # attempt 1: 0.9 (no escalation), 0.1 < 0.2 (did not fix); attempt 2: 0.9, 0.9.
    # Back after two plain repairs, 8 h.
    env = simpy.Environment()
    plan = RestartSpec(repair_s=4 * HOUR, manual_probability=0.3,
                       repair_failure_probability=0.2)
    repairs, pool, _ = shop(env, plan, ScriptedRng(0.9, 0.1, 0.9, 0.9))
    node = FakeNode(env, "n")
    pool.vacate()
    repairs.repair(node, None, plan.repair_s)
    env.run()
    assert node.entered == [8 * HOUR]


def test_a_retired_lemon_never_comes_back():
    env = simpy.Environment()
    repairs, pool, renewed = shop(env, RestartSpec(repair_s=HOUR), ScriptedRng())
    node = FakeNode(env, "n")
    pool.vacate()
    repairs.repair(node, PartRef(0, 0, "node", 0, 1.0), HOUR, retire=True)
    env.run()
    assert node.entered == [] and renewed == [] and repairs.retired == 1 and pool.short == 1
    assert repairs.log == [(HOUR, 0, "node", "retired")]


@pytest.mark.parametrize(("times", "expected"), [
    ((0.0, 20.0), False),  # the first failure left the 10-s window before the second
    ((0.0, 20.0, 25.0), True),  # 20 and 25 are two failures within 10 s
    ((0.0, 5.0), True),
])
def test_a_lemon_is_flagged_after_retire_after_failures_within_the_window(times, expected):
    lemons = Lemons(fraction=0.1, factor=5.0, retire_after=2, window_s=10.0)
    node = FakeNode(simpy.Environment(), "n")
    answers = [flagged(node, t, lemons) for t in times]
    assert answers[-1] is expected
    assert not flagged(FakeNode(simpy.Environment(), "m"), 0.0, None)  # never retired
