"""Restart options: one schema per policy, per-replica sizes, in-process shares."""

from __future__ import annotations

import pytest

from simulator import load_scenario
from simulator.config.restart import SCHEMAS
from simulator.config.validate import config_dir
from simulator.errors import ConfigError
from simulator.reliability.restart_policies import RESTART_POLICIES


def error(overrides: list[str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    return info.value


def test_every_restart_policy_has_a_schema_and_every_option_a_policy() -> None:
    assert set(SCHEMAS) == set(RESTART_POLICIES)
    options = sorted(p.stem for p in (config_dir() / "restart").glob("*.yaml"))
    assert options == ["elastic", "hot_spares", "in_process", "per_replica", "spare_swap"]
    policies = {o: load_scenario([f"restart={o}"] + (["restart.replica_gpus=64"]
                                                     if o == "per_replica" else []))
                .restart.policy for o in options}
    assert policies == {"elastic": "elastic", "hot_spares": "full_width",
                        "in_process": "full_width", "per_replica": "per_replica",
                        "spare_swap": "full_width"}


def test_per_replica_sizes_a_replica_from_the_workload() -> None:
    # llama3_70b on 1,024 GPUs: TP 8 x PP 4 = 32 GPUs a replica (GPUs / DP), 4 nodes
    spec = load_scenario(["restart=per_replica", "workload=llama3_70b"]).restart
    assert (spec.replica_nodes, spec.min_replicas) == (4, 1)
    assert spec.replica_stall_s == 180.0 and spec.catch_up_s == 60.0


@pytest.mark.parametrize(("overrides", "key", "words"), [
    (["restart=per_replica"], "restart.replica_gpus", "fixed-step workload"),
    (["restart=per_replica", "restart.replica_gpus=12"], "restart.replica_gpus", "whole nodes"),
    (["restart=per_replica", "restart.replica_gpus=48"], "restart.replica_gpus", "dividing"),
    (["restart=per_replica", "workload=llama3_70b", "restart.replica_gpus=64"],
     "restart.replica_gpus", "GPUs / DP = 32"),
    (["restart=per_replica", "restart.replica_gpus=512", "restart.min_replicas=3"],
     "restart.min_replicas", "2 replicas"),
    (["restart=per_replica", "restart.replica_gpus=64", "restart.min_replicas=0"],
     "restart.min_replicas", "positive"),
    (["restart=per_replica", "restart.replica_gpus=64", "restart.replica_stall_minutes=-1"],
     "restart.replica_stall_minutes", "zero or"),
    (["restart.replica_stall_minutes=3"], "restart.replica_stall_minutes",
     "only used by restart=per_replica"),
    (["restart.elastic=true"], "restart.elastic", "restart=elastic"),
    (["restart.policy=per_replica"], "restart.policy", "group option"),
    (["restart.policy=fastest"], "restart.policy", "per_replica"),
    (["restart.in_process_seconds=-5"], "restart.in_process_seconds", "zero or"),
    (["failures=llama3", "cluster=llama3_16k",
      "failures.components.software_bug.in_process_share=1.5"],
     "failures.components.software_bug.in_process_share", "[0, 1]"),
])
def test_bad_restart_input_names_the_key(overrides, key, words) -> None:
    err = error(overrides)
    assert err.key == key, str(err)
    assert words in err.allowed, str(err)


def test_in_process_shares_come_from_the_catalog() -> None:
    scenario = load_scenario(["failures=llama3", "cluster=llama3_16k", "restart=in_process"])
    shares = {c.name: c.in_process_share for c in scenario.failures.components
              if c.in_process_share}
    assert shares == {"faulty_gpu": 0.1, "software_bug": 0.8, "nccl_watchdog": 1.0,
                      "dependency": 0.5}
    assert scenario.restart.in_process_s == 90.0
