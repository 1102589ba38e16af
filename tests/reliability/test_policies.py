"""The checkpoint and restart policies as strategy objects
(simulator/reliability/checkpoint_policies.py, restart_policies.py).

Each policy is driven here by a scripted job (a real SimPy clock and Ledger, a stand-in
for TrainingJob) and checked against timelines worked out by hand in the comments;
intervals against the closed forms written out with numbers chosen to come out round.
Times in seconds, one-second steps unless said otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import simpy
import yaml

from simulator import CheckpointSpec, ConfigError, RestartSpec, load_scenario
from simulator.config.checkpoint import SCHEMAS, CheckpointConfig
from simulator.config.validate import config_dir
from simulator.reliability.checkpoint_policies import (
    CHECKPOINT_POLICIES,
    MODEL_DRIVEN,
    CheckpointPolicy,
    Rollback,
    checkpoint_policy,
)
from simulator.reliability.metrics import Ledger, Phase
from simulator.reliability.restart_policies import Elastic, FullWidth, restart_policy
from simulator.reliability.storage_io import Storage

NODE = SimpleNamespace(scope="node", slots=(0,))  # job slot 0 (FailureRecord.slots)
PEER = SimpleNamespace(scope="node", slots=(1,))  # its in-memory peer (groups of 2)
SWITCH = SimpleNamespace(scope="switch", slots=(0, 1))


class ScriptedJob:
    """What a policy sees of the job (policies.JobHooks): compute and checkpoint
    segments on a script, durable steps counted."""

    def __init__(self, spec: CheckpointSpec, segments: list[int], work_steps: int | None = None,
                 draining: bool = False) -> None:
        self.env = simpy.Environment()
        self.ledger = Ledger()
        self.durable = 0
        self.durable_calls: list[int] = []
        self.work_steps = work_steps
        self.draining = draining
        self.swapping = False
        self.nodes = 4  # job slots 0-3
        self.storage = Storage(self.env)  # unlimited, never down: writes take their time
        self.policy = checkpoint_policy(spec, step_s=1.0)
        self.process = self.env.process(self._run(segments))
        self.policy.attach(self)

    def made_durable(self, steps: int) -> None:
        self.durable += steps
        self.durable_calls.append(steps)

    def completes(self, pending_steps: int) -> bool:
        return self.work_steps is not None and self.durable + pending_steps >= self.work_steps

    def _run(self, segments: list[int]):
        for steps in segments:
            self.ledger.enter(Phase.COMPUTE, self.env.now)
            yield self.env.timeout(steps)
            self.ledger.enter(Phase.CHECKPOINT, self.env.now)
            yield from self.policy.save(steps)
        self.ledger.enter(Phase.COMPUTE, self.env.now)
        yield self.env.timeout(math.inf)  # computes on

    def fail(self, at: float, cause: object = NODE) -> Rollback:
        self.env.run(until=at)
        return self.policy.roll_back(cause)


# ---- registry and intervals ---------------------------------------------------------------


def test_every_option_has_a_policy_a_schema_and_a_yaml():
    yamls = {p.stem for p in (config_dir() / "checkpoint").glob("*.yaml")}
    assert set(CHECKPOINT_POLICIES) == yamls == set(SCHEMAS)
    assert {p.name for p in CHECKPOINT_POLICIES.values()} == yamls
    assert set(MODEL_DRIVEN) == {"young_daly", "daly", "adaptive"}


@pytest.mark.parametrize(("policy", "expected"), [
    ("fixed", 1234.0),  # as configured
    ("async", 1234.0),
    ("in_memory", 1234.0),
    # C = 200 s, M = 10,000 s: sqrt(2 C M) = sqrt(4,000,000) = 2,000 s
    ("young_daly", 2000.0),
    ("adaptive", 2000.0),  # its first interval: Young's for the prior
    # C/2M = 0.01: 2000 (1 + 0.1/3 + 0.01/9) - 200 = 1800 + 620/9
    ("daly", 1800.0 + 620.0 / 9.0),
])
def test_interval_each_policy_chooses(policy: str, expected: float):
    configured = None if policy in MODEL_DRIVEN else 1234.0
    chosen = CHECKPOINT_POLICIES[policy].choose_interval(configured, 200.0, 10_000.0)
    assert chosen == pytest.approx(expected, rel=1e-12)


def test_daly_is_the_mtbi_when_the_write_is_over_twice_it():
    assert CHECKPOINT_POLICIES["daly"].choose_interval(None, 500.0, 200.0) == 200.0


@pytest.mark.parametrize(("interval_s", "step_s", "steps"), [
    (1800.0, 7.0, 257),  # 257.14 -> 257
    (35.0, 10.0, 4),  # 3.5: a tie rounds up
    (34.0, 10.0, 3),
    (1.0, 10.0, 1),  # at least one step
])
def test_fixed_interval_in_whole_steps(interval_s: float, step_s: float, steps: int):
    policy = checkpoint_policy(CheckpointSpec(interval_s=interval_s), step_s)
    assert policy.interval_steps(now_s=5e5, failures=9) == steps  # neither matters


@pytest.mark.parametrize(("now_s", "failures", "steps"), [
    (0.0, 0, 200),  # M = M0 = 10,000 s: T = 2,000 s = 200 steps of 10 s
    (30_000.0, 3, 200),  # M = (10,000 + 30,000) / 4 = 10,000 s again
    (6_000.0, 15, 63),  # M = 16,000 / 16 = 1,000 s: T = sqrt(400,000) = 632.5 s
    (90_000.0, 0, 632),  # M = 100,000 s: T = sqrt(40,000,000) = 6,324.6 s
])
def test_adaptive_re_estimates_the_mtbi(now_s: float, failures: int, steps: int):
    spec = CheckpointSpec(policy="adaptive", interval_s=2000.0, write_s=200.0,
                          prior_mtbi_s=10_000.0)
    assert checkpoint_policy(spec, 10.0).interval_steps(now_s, failures) == steps


@pytest.mark.parametrize("spec", [
    CheckpointSpec(policy="fixed", snapshot_s=60.0),  # a field of async
    CheckpointSpec(policy="async"),  # without its snapshot time
    CheckpointSpec(policy="adaptive"),  # without its prior
    CheckpointSpec(policy="young_daly", durable_every=3),
    CheckpointSpec(policy="in_memory", memory_load_s=30.0),  # no memory write time
    CheckpointSpec(policy="nope"),
])
def test_a_spec_that_contradicts_its_policy_is_refused(spec: CheckpointSpec):
    with pytest.raises(ValueError, match=spec.policy):
        checkpoint_policy(spec, 1.0)


# ---- what a checkpoint costs, what a failure rolls back to ----------------------------------


def test_synchronous_write_blocks_and_a_failure_loses_the_open_segment():
    # compute 0-100, write 100-110 (durable: 100 steps), compute 110-150, failure at 150
    job = ScriptedJob(CheckpointSpec(interval_s=100.0, write_s=10.0, load_s=20.0), [100])
    assert job.fail(at=150.0) == Rollback(load_s=20.0, lost_writes=0)
    assert job.durable == 100
    assert job.ledger.totals["useful"] == 100.0
    assert job.ledger.totals["checkpoint"] == 10.0
    assert job.ledger.totals["rework"] == 40.0
    assert job.policy.planned_load_s == 20.0


def test_async_writes_share_the_bandwidth_and_a_failure_loses_those_in_flight():
    # compute 0-60, snapshot 60-61 (write 1 starts: 100 s alone); compute 61-121,
    # snapshot 121-122; write 1 has 100 - 61 = 39 s left, now at half speed: done at
    # 122 + 78 = 200; write 2 then has 100 - 39 = 61 s left alone: done at 261.
    spec = CheckpointSpec(policy="async", interval_s=60.0, write_s=100.0, load_s=30.0,
                          snapshot_s=1.0)
    job = ScriptedJob(spec, [60, 60])
    job.env.run(until=199.0)
    assert (job.durable, job.policy.pending_steps) == (0, 120)
    job.env.run(until=201.0)
    assert (job.durable, job.policy.pending_steps) == (60, 60)
    # a failure at 230: write 2 is lost; segment 2 (60 + 1) and compute 122-230 are rework
    assert job.fail(at=230.0) == Rollback(load_s=30.0, lost_writes=1)
    assert job.policy.pending_steps == 0
    assert job.ledger.totals["useful"] == 60.0
    assert job.ledger.totals["checkpoint"] == 1.0
    assert job.ledger.totals["rework"] == 61.0 + 108.0
    job.env.run(until=400.0)  # the lost write never completes
    assert job.durable == 60


def test_async_waits_for_durability_at_the_end_of_the_work():
    # 60 steps of work: snapshot 60-61, then blocked until the write ends at 161
    spec = CheckpointSpec(policy="async", interval_s=60.0, write_s=100.0, snapshot_s=1.0)
    job = ScriptedJob(spec, [60], work_steps=60)
    job.env.run(until=500.0)
    assert job.durable == 60
    job.ledger.finish(job.env.now)
    assert job.ledger.totals["checkpoint"] == 101.0  # snapshot + the wait for the write


IN_MEMORY = CheckpointSpec(policy="in_memory", interval_s=100.0, write_s=10.0, load_s=50.0,
                           memory_write_s=2.0, memory_load_s=5.0, durable_every=3)


def test_in_memory_every_third_checkpoint_is_durable():
    # copies 100-102 and 202-204, the third (304-314) written to storage with all 300 steps
    job = ScriptedJob(IN_MEMORY, [100, 100, 100])
    job.env.run(until=315.0)  # past the write (`until` is exclusive)
    assert job.durable_calls == [300]
    assert job.ledger.totals["useful"] == 300.0
    assert job.ledger.totals["checkpoint"] == 2.0 + 2.0 + 10.0


def test_in_memory_drain_writes_to_storage():
    job = ScriptedJob(IN_MEMORY, [100], draining=True)
    job.env.run(until=111.0)
    assert job.durable_calls == [100]


def test_in_memory_failure_reloads_the_copy_unless_its_peer_failed_too():
    # copies at 100-102 and 202-204; a failure of slot 0 at 250 loses only 204-250 and
    # loads the copy (5 s); slot 0's replacement failing at 255 still finds it on slot 1;
    # slot 1 failing at 260, before a new checkpoint, wipes the group {0, 1}: back to
    # storage, everything so far is rework
    job = ScriptedJob(IN_MEMORY, [100, 100])
    assert job.fail(at=250.0) == Rollback(load_s=5.0, from_storage=False)  # from the peer
    assert job.ledger.totals["rework"] == 46.0
    assert job.policy.pending_steps == 200
    assert job.fail(at=255.0) == Rollback(load_s=5.0, from_storage=False)  # from the peer
    assert job.ledger.totals["rework"] == 51.0
    assert job.fail(at=260.0, cause=PEER) == Rollback(load_s=50.0)
    assert job.ledger.totals["rework"] == 260.0
    assert job.policy.pending_steps == 0 and job.durable == 0


def test_in_memory_switch_failure_loses_the_peer_copy_too():
    job = ScriptedJob(IN_MEMORY, [100, 100])
    assert job.fail(at=250.0, cause=SWITCH) == Rollback(load_s=50.0)
    assert job.ledger.totals["rework"] == 250.0


# ---- restart policies ---------------------------------------------------------------------


def test_restart_policies():
    assert isinstance(restart_policy(RestartSpec()), FullWidth)
    assert isinstance(restart_policy(RestartSpec(policy="elastic")), Elastic)
    full, elastic = FullWidth(), Elastic()
    assert (full.waits(0, 10), full.waits(1, 10)) == (False, True)
    assert (elastic.waits(9, 10), elastic.waits(10, 10)) == (False, True)
    assert not full.grows_back(7, 10, True)
    assert elastic.grows_back(7, 10, True)
    assert not elastic.grows_back(7, 10, False) and not elastic.grows_back(10, 10, True)


# ---- one schema per option ----------------------------------------------------------------


def option_keys(path: Path) -> set[str]:
    return set(yaml.safe_load(path.read_text())) - {"defaults"}


def test_every_yaml_lists_only_its_own_keys():
    common = {"interval_minutes", "write_minutes", "load_minutes"}
    for path in (config_dir() / "checkpoint").glob("*.yaml"):
        schema = SCHEMAS[path.stem]
        own = {f for f in schema.__dataclass_fields__} - {"policy"}
        keys = option_keys(path)
        assert keys <= own, path.name
        assert own - common <= keys, path.name  # its own keys are documented in it
        assert type(schema) is CheckpointConfig or own - common, path.name


@pytest.mark.parametrize(("overrides", "key", "mentions"), [
    (["checkpoint.snapshot_minutes=1"], "checkpoint.snapshot_minutes", "checkpoint=async"),
    (["checkpoint=async", "checkpoint.durable_every=3"], "checkpoint.durable_every",
     "checkpoint=in_memory"),
    (["checkpoint=young_daly", "checkpoint.prior_mtbi_hours=9"], "checkpoint.prior_mtbi_hours",
     "checkpoint=adaptive"),
    (["checkpoint.policy=async"], "checkpoint.policy", "checkpoint=async"),
    (["checkpoint=in_memory", "checkpoint.memory_write_minutes=null"],
     "checkpoint.memory_write_minutes", "needs it"),
])
def test_another_policys_key_names_its_owner(overrides, key, mentions):
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    assert info.value.key == key
    assert mentions in str(info.value)


def test_an_unknown_option_lists_the_policies_not_their_schemas():
    with pytest.raises(ConfigError) as info:
        load_scenario(["checkpoint=foo"])
    assert info.value.key == "checkpoint"
    assert info.value.allowed == "no such option; allowed: " + ", ".join(sorted(SCHEMAS))


def test_options_carry_their_own_keys_into_the_spec():
    spec = load_scenario(["checkpoint=in_memory", "checkpoint.durable_every=4"]).checkpoint
    assert (spec.policy, spec.memory_write_s, spec.memory_load_s, spec.durable_every) == \
        ("in_memory", 0.2 * 60, 0.5 * 60, 4)  # scenarios/checkpoint/in_memory.yaml
    spec = load_scenario(["checkpoint=adaptive", "checkpoint.prior_mtbi_hours=2"]).checkpoint
    assert spec.prior_mtbi_s == 7200.0
    assert spec.interval_s == pytest.approx(math.sqrt(2 * 300.0 * 7200.0))  # C = 5 min
    assert isinstance(checkpoint_policy(spec, 10.0), CheckpointPolicy)


def test_what_each_policy_costs_before_any_run():
    """The costs feasibility checks read from the policy, worked by hand: in-memory with
    every 4th checkpoint durable blocks (3 x 10 s + 100 s) / 4 = 32.5 s on average and
    loads the 5 s copy; async blocks only for its 20 s snapshot and writes 100 s behind;
    a synchronous policy blocks for the whole 100 s write and loads the 60 s checkpoint."""
    memory = CheckpointSpec("in_memory", write_s=100.0, load_s=60.0, memory_write_s=10.0,
                            memory_load_s=5.0, durable_every=4)
    background = CheckpointSpec("async", write_s=100.0, load_s=60.0, snapshot_s=20.0)
    plain = CheckpointSpec("fixed", write_s=100.0, load_s=60.0)
    in_memory, asynchronous = CHECKPOINT_POLICIES["in_memory"], CHECKPOINT_POLICIES["async"]
    assert in_memory.mean_blocking_s(memory) == 32.5
    assert in_memory.usual_load_s(memory) == 5.0
    assert in_memory.background_write_s(memory) is None
    assert "durable_every=4" in in_memory.blocking_keys(memory)
    assert asynchronous.mean_blocking_s(background) == 20.0
    assert asynchronous.background_write_s(background) == 100.0
    assert asynchronous.usual_load_s(background) == 60.0
    fixed = CHECKPOINT_POLICIES["fixed"]
    assert (fixed.mean_blocking_s(plain), fixed.usual_load_s(plain)) == (100.0, 60.0)
    assert fixed.blocking_keys(plain) is None and fixed.background_write_s(plain) is None
