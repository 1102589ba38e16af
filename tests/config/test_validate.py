"""Validation (simulator/config/validate.py): a typed config -> a StudySpec, no graph built.

Configs are written by hand from the schemas (simulator/config/schema.py) with a few
dotted changes; every expected value is worked out here from the schema defaults and
the units in the key names, and every error names its key and the bad value.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
from omegaconf import OmegaConf

from simulator.config.checkpoint import CheckpointConfig
from simulator.config.schema import Config, ModelConfig, ParallelConfig, WorkloadConfig
from simulator.config.topology import BUILDER_PARAMS
from simulator.config.validate import to_spec, validate
from simulator.errors import ConfigError
from simulator.fabric import stepmodel
from simulator.fabric.topology import BUILDERS
from simulator.reliability.study import CheckpointChoice, StudySpec

H100_BF16 = 989e12  # dense BF16 FLOP/s, NVIDIA H100 SXM datasheet (simulator/fabric/hardware.py)


def config(**changes: Any) -> Config:
    """The schema defaults with `changes` ("cluster__gpus": 64 sets cluster.gpus)."""
    cfg = Config()
    for dotted, value in changes.items():
        *path, leaf = dotted.split("__")
        node = cfg
        for key in path:
            node = getattr(node, key)
        setattr(node, leaf, value)
    return cfg


def small_model(**parallel: Any) -> WorkloadConfig:
    """A 7B, 32-layer transformer (the ModelConfig defaults) at TP 8 on 64 GPUs: DP 8, a
    batch of 4 sequences of 4,096 tokens per replica."""
    return WorkloadConfig(step_seconds=None, model=ModelConfig(),
                          parallel=ParallelConfig(**{"tp": 8, **parallel}),
                          global_batch_tokens=4096 * 8 * 4)


def test_the_default_config_validates_to_a_spec_in_seconds() -> None:
    spec = validate(Config())
    assert isinstance(spec, StudySpec)
    assert spec.horizon_s == 30 * 24 * 3600  # horizon_days: 30
    assert spec.max_horizon_s == 3650 * 24 * 3600
    assert spec.work_s is None and spec.step_level is False and spec.jitter is None
    assert spec.cluster.nodes == 1024 // 8
    assert spec.cluster.spare_nodes == math.ceil(128 * 0.03125) == 4
    assert spec.fixed_step_s == 10.0 and spec.workload is None and spec.peak_flops is None
    assert spec.checkpoint == CheckpointChoice("fixed", 60 * 60, 5 * 60, 5 * 60)
    assert (spec.restart.detect_s, spec.restart.restart_s, spec.restart.repair_s) == \
        (5 * 60, 10 * 60, 24 * 3600)
    assert spec.nodes_per_rack == 4 and spec.topology == "rail_fat_tree"
    assert spec.failures.domains is None  # domains come from the graph, at elaboration


def test_restart_times_grow_with_the_job() -> None:
    spec = validate(config(cluster__gpus=2048, restart__init_seconds_per_1k_gpus=30.0,
                           restart__detect_seconds_per_1k_gpus=10.0))
    assert spec.restart.detect_s == pytest.approx(5 * 60 + 10 * 2.048)
    assert spec.restart.restart_s == pytest.approx(10 * 60 + 30 * 2.048)


def test_checkpoint_times_derive_from_the_model_size_and_the_slower_path() -> None:
    """7e9 parameters x 14 bytes = 98 GB; 8 nodes x 50 GB/s = 400 GB/s is slower than the
    storage system (2,000 GB/s write, 7,000 read): 98 / 400 = 0.245 s each way."""
    cfg = config(cluster__gpus=64, workload=small_model())
    cfg.checkpoint = CheckpointConfig(write_minutes=None, load_minutes=None)
    spec = validate(cfg)
    assert spec.checkpoint.size_bytes == pytest.approx(98e9)
    assert spec.checkpoint.write_s == pytest.approx(0.245)
    assert spec.checkpoint.load_s == pytest.approx(0.245)
    assert spec.peak_flops == H100_BF16 and spec.attention_peak_flops == H100_BF16
    assert spec.workload.parallel.dp == 64 // 8 and spec.fixed_step_s is None


def test_a_model_driven_interval_is_left_to_elaboration() -> None:
    cfg = config(failures__node_mtbf_hours=1000.0)
    cfg.checkpoint = CheckpointConfig(policy="young_daly", interval_minutes=None)
    spec = validate(cfg)
    assert spec.checkpoint.policy == "young_daly" and spec.checkpoint.interval_s is None


def test_validating_a_large_model_workload_builds_no_graph() -> None:
    """Llama 3 405B on 16,384 GPUs (scenarios/workload/llama3_405b.yaml's layout):
    validation checks the layout and memory and builds nothing (stepmodel's caches see
    no call)."""
    work = WorkloadConfig(step_seconds=None, model=ModelConfig(
        params_billion=405, layers=126, hidden=16384, heads=128, kv_heads=8, seq_len=8192),
        parallel=ParallelConfig(tp=8, pp=16, virtual_stages=4, zero_stage=2),
        global_batch_tokens=16_777_216)
    cached = [f.cache_info() for f in (stepmodel.fabric_graph, stepmodel.profile)]
    spec = validate(config(cluster__gpus=16384, workload=work,
                           failures__components={"leaf": {"scope": "switch",
                                                          "mtbf_hours": 1e5}}))
    assert [f.cache_info() for f in (stepmodel.fabric_graph, stepmodel.profile)] == cached
    assert spec.workload.parallel.dp == 16384 // (8 * 16)
    assert spec.failures.graph_scopes == {"switch"} and spec.failures.domains is None


def errors() -> list[tuple[dict[str, Any], str, Any, str]]:
    """(changes, key, value, words of what is allowed) for configs validation rejects."""
    return [
        ({"seed": -1}, "seed", -1, "zero or a positive"),
        ({"cluster__gpus": 1004}, "cluster.gpus", 1004, "multiple of cluster.gpus_per_node=8"),
        ({"mode": "events"}, "mode", "events", "segments, steps"),
        ({"workload__jitter_cv": 1.5}, "workload.jitter_cv", 1.5, "[0, 1]"),
        ({"topology__kind": "mesh"}, "topology.kind", "mesh",
         "nvswitch_node, nvl72, rail_fat_tree, leaf_spine_tor, torus_3d"),
        ({"topology__su_racks": 2}, "topology.su_racks", 2, "has no such setting"),
        ({"workload__train_tokens": 1e12}, "workload.train_tokens", 1e12, "model workload"),
        ({"failures__components": {"spine": {"scope": "link", "mtbf_hours": 100.0}}},
         "failures.components", "scope: link", "need a workload with a model"),
        ({"cluster__accelerator": "A100", "cluster__gpus": 64,
          "workload": WorkloadConfig(**{**vars(small_model()), "precision": "fp8"})},
         "workload.precision", "fp8", "A100"),
    ]


@pytest.mark.parametrize(("changes", "key", "value", "allowed"), errors(),
                         ids=lambda x: x if isinstance(x, str) else None)
def test_bad_values_name_their_key_and_value(changes: dict[str, Any], key: str, value: Any,
                                             allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(config(**changes))
    assert (info.value.key, info.value.value) == (key, value)
    assert allowed in info.value.allowed


def test_a_model_driven_policy_without_failures_fails_in_validation() -> None:
    """With no failure that needs the graph, the job's MTBI is known (infinite here), so
    young_daly fails before any elaboration; with an interval set it says so first."""
    cfg = config()
    cfg.checkpoint = CheckpointConfig(policy="young_daly", interval_minutes=None)
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert (info.value.key, info.value.value) == ("checkpoint.policy", "young_daly")
    assert "needs failures to choose an interval" in info.value.allowed
    cfg.checkpoint = CheckpointConfig(policy="young_daly", interval_minutes=30.0)
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert (info.value.key, info.value.value) == ("checkpoint.interval_minutes", 30.0)


def test_to_spec_takes_a_dictconfig_and_rejects_unknown_keys() -> None:
    assert to_spec(OmegaConf.structured(Config)) == validate(Config())
    with pytest.raises(ConfigError) as info:
        to_spec(OmegaConf.create({"sed": 1}))
    assert (info.value.key, info.value.value) == ("sed", 1)
    assert info.value.allowed.startswith("unknown key")


def test_builder_params_are_the_builders_signatures() -> None:
    """Validation knows each builder's arguments from a table (no networkx import); the
    table must be the builders' signatures, in BUILDERS' order (the error text's)."""
    assert list(BUILDER_PARAMS) == list(BUILDERS)
    for kind, builder in BUILDERS.items():
        assert BUILDER_PARAMS[kind] == tuple(inspect.signature(builder).parameters), kind
