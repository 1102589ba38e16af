"""Elaboration (simulator/elaborate.py): a StudySpec -> the Scenario the model runs.

Specs come from hand-written configs (validated by simulator/config/validate.py); expected values
are worked out here: switch counts from the topology's definition, Young's interval
from the elaborated MTBI, the stages a study needs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from simulator.config.checkpoint import AdaptiveCheckpointConfig, CheckpointConfig
from simulator.config.schema import Config, ModelConfig, ParallelConfig, WorkloadConfig
from simulator.config.validate import config_dir, to_spec, validate
from simulator.elaborate import elaborate
from simulator.errors import ConfigError
from simulator.experiments import progress as progress_module
from simulator.experiments.progress import LARGE_FABRIC, fabric_progress
from simulator.fabric import stepmodel, structure
from simulator.fabric.topology import build

HOUR = 60 * 60


class Recorder:
    """A progress callback that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls.append((stage, done, total))


def switch_study(policy: CheckpointConfig) -> Config:
    """1,024 H100 (128 nodes of 8) on the default rail-optimized fat-tree, a fixed 10-s
    step; nodes fail every 12,800 h and leaf switches every 3,200 h."""
    cfg = Config()
    cfg.failures.node_mtbf_hours = 12_800.0
    cfg.failures.components = {"leaf": {"scope": "switch", "mtbf_hours": 3_200.0}}
    cfg.checkpoint = policy
    return cfg


def test_a_fixed_step_study_elaborates_without_building_a_graph(monkeypatch) -> None:
    """Without a power model nothing is built; with one (the default H100), its count
    of scale-out switches, from the built-in topology's structure: no graph, no
    routing, no step profile."""
    def no_graph(*args: Any) -> None:
        raise AssertionError("elaboration built a graph for a fixed-step study")

    for name in ("fabric_graph", "fabric_network", "profile", "link_slowdown"):
        monkeypatch.setattr(stepmodel, name, no_graph)
    spec = validate(Config())
    seen = Recorder()
    scenario = elaborate(spec, progress=seen)
    assert seen.calls == [("switches", 0, 1), ("done", 1, 1)]
    assert scenario.power.switches == 32 + 16  # 4 scalable units of 8 leaves, 16 spines
    assert scenario.profile is None and scenario.step_s == 10.0
    assert scenario.failures == spec.failures and scenario.failures.domains is None
    assert scenario.checkpoint.interval_s == 60 * 60  # checkpoint=fixed: as configured
    monkeypatch.setattr(stepmodel, "fabric_graph", no_graph)
    seen = Recorder()
    scenario = elaborate(dataclasses.replace(spec, power=None), progress=seen)
    assert seen.calls == [] and scenario.power is None  # nothing to build or report


def test_switch_units_come_from_the_topology(monkeypatch) -> None:
    """rail_fat_tree: scalable units of 32 servers (su_nodes default), one leaf per rail
    (8 GPUs, so 8 rails) in each: 128 nodes = 4 SUs = 32 leaves in front of the job
    (REFERENCE.md: a 4-SU SuperPOD has 32 leaves). A built-in topology's domains come
    from its structure: no graph is built."""
    def no_graph(*args: Any) -> None:
        raise AssertionError("elaboration built a graph for a built-in topology")

    monkeypatch.setattr(stepmodel, "fabric_graph", no_graph)
    seen = Recorder()
    scenario = elaborate(validate(switch_study(CheckpointConfig())), progress=seen)
    assert scenario.failures.units("switch", 128, 8) == 4 * 8
    assert [stage for stage, _, _ in seen.calls] == ["domains", "switches", "done"]
    assert [(done, total) for _, done, total in seen.calls] == [(0, 2), (1, 2), (2, 2)]


def test_without_a_structure_the_domains_come_from_the_graph(monkeypatch) -> None:
    """A topology the structure does not know (stood in for here by hiding the
    structure) is elaborated from its graph, to the same domains and switch count."""
    spec = validate(switch_study(CheckpointConfig()))
    structural = elaborate(spec)
    monkeypatch.setattr(structure, "fabric_structure", lambda *args: None)
    seen = Recorder()
    from_graph = elaborate(spec, progress=seen)
    assert [stage for stage, _, _ in seen.calls] == ["graph", "domains", "switches", "done"]
    assert from_graph.failures.domains == structural.failures.domains
    assert from_graph.power.switches == structural.power.switches == 32 + 16


def test_the_model_driven_interval_is_young_daly_of_the_elaborated_mtbi() -> None:
    """Failures hitting the job: 128 nodes / 12,800 h + 32 leaves / 3,200 h = 0.02 per
    hour, an MTBI of 50 h (without the switches' domains it would be 100 h); Young's
    interval for a 5-minute write: sqrt(2 x 300 s x 50 h)."""
    policy = CheckpointConfig(policy="young_daly", interval_minutes=None)
    scenario = elaborate(validate(switch_study(policy)))
    mtbi_s = 1 / (128 / (12_800 * HOUR) + 32 / (3_200 * HOUR))
    assert mtbi_s == pytest.approx(50 * HOUR)
    assert scenario.job_mtbi_s == pytest.approx(mtbi_s, rel=1e-12)
    assert scenario.checkpoint.interval_s == pytest.approx(math.sqrt(2 * 300 * mtbi_s),
                                                           rel=1e-12)


def test_adaptive_starts_from_the_elaborated_mtbi() -> None:
    scenario = elaborate(validate(switch_study(AdaptiveCheckpointConfig())))
    assert scenario.checkpoint.prior_mtbi_s == pytest.approx(50 * HOUR, rel=1e-12)
    assert scenario.checkpoint.interval_s == pytest.approx(math.sqrt(2 * 300 * 50 * HOUR))


def test_a_switch_failure_on_a_fabric_without_switches_is_a_config_error() -> None:
    """One NVSwitch server has no leaf or ToR switch: only the graph can tell."""
    cfg = switch_study(CheckpointConfig())
    cfg.cluster.gpus, cfg.topology.kind, cfg.cluster.spare_nodes = 8, "nvswitch_node", 0
    spec = validate(cfg)  # validation cannot know
    with pytest.raises(ConfigError) as info:
        elaborate(spec)
    assert (info.value.key, info.value.value) == ("failures.components.leaf.scope", "switch")
    assert info.value.allowed == ("topology nvswitch_node has no leaf or ToR switches; "
                                  "allowed here: gpu, node, rack, scaleup, job")


def test_a_topology_that_cannot_be_built_names_the_topology() -> None:
    """A leaf of 4 ports cannot take the 32 servers of a scalable unit: the builder's own
    message, as a ConfigError naming topology and its kind."""
    cfg = switch_study(CheckpointConfig())
    cfg.topology.switch_radix = 4
    spec = validate(cfg)  # in range: only building the graph finds it
    with pytest.raises(ValueError) as built:
        build("rail_fat_tree", 1024, **dict(spec.fabric.params))
    with pytest.raises(ConfigError) as info:
        elaborate(spec)
    assert (info.value.key, info.value.value) == ("topology", "rail_fat_tree")
    assert info.value.allowed == str(built.value)


def test_a_model_driven_policy_with_only_link_failures_fails_at_elaboration() -> None:
    """Links are redundant (a cable down slows the step, it does not stop the job), so a
    study whose only failures are links has an infinite MTBI once elaborated."""
    cfg = Config()
    cfg.cluster.gpus = 64
    cfg.workload = WorkloadConfig(step_seconds=None, model=ModelConfig(),
                                  parallel=ParallelConfig(tp=8),
                                  global_batch_tokens=4096 * 8 * 4)
    cfg.failures.components = {"cable": {"scope": "link", "mtbf_hours": 1000.0}}
    cfg.checkpoint = CheckpointConfig(policy="young_daly", interval_minutes=None)
    seen = Recorder()
    with pytest.raises(ConfigError) as info:
        elaborate(validate(cfg), progress=seen)
    assert (info.value.key, info.value.value) == ("checkpoint.policy", "young_daly")
    assert info.value.allowed == ("needs failures to choose an interval; with "
                                  "failures=none use checkpoint=fixed")
    # the default rail fat-tree is routed from its plan; the graph comes with the link
    # slowdown (which cable is down)
    assert [stage for stage, _, _ in seen.calls] == [
        "routing", "collectives", "link slowdown", "domains", "switches", "done"]


def test_a_large_fabric_reports_its_stages() -> None:
    """Llama 3 405B on 16,384 H100 of a DGX SuperPOD fabric: the step profile's stages,
    in order, then done (a built-in switched fabric is routed without a graph: no
    graph stage)."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["workload=llama3_405b",
                                           "topology=dgx_h100_superpod"])
    spec = to_spec(cfg)
    assert spec.cluster.gpus >= LARGE_FABRIC
    seen = Recorder()
    scenario = elaborate(spec, progress=seen)
    assert seen.calls == [("routing", 0, 3), ("collectives", 1, 3), ("switches", 2, 3),
                          ("done", 3, 3)]
    assert scenario.profile is not None and scenario.step_s == scenario.profile.step_s


def test_the_entry_points_bar_is_for_large_fabrics_on_a_terminal(monkeypatch) -> None:
    monkeypatch.setattr(progress_module, "progress_enabled", lambda: True)
    assert fabric_progress(LARGE_FABRIC - 8) is None
    bar = fabric_progress(LARGE_FABRIC)
    assert callable(bar)
    for stage, done in (("graph", 0), ("routing", 1), ("collectives", 2), ("done", 3)):
        bar(stage, done, 3)
    assert bar.bar is None  # closed when done == total
    bar("graph", 0, 3)
    bar.close()  # what the entry point does when elaboration stops with an error
    assert bar.bar is None
    monkeypatch.setattr(progress_module, "progress_enabled", lambda: False)
    assert fabric_progress(131_072) is None  # not a terminal, or CI: no bar
