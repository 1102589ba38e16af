"""Elaboration: a validated StudySpec -> the Scenario the model runs.

desmod's second stage (build -> elaborate -> run -> collect). Configuration
(simulator/config/validate.py) has checked every value and built no graph; here, once per study,
the fabric is built and solved: the topology graph, its routing and the collectives of
one step (the step profile), the failure domains the graph puts behind each switch, rack
and scale-up domain, the step time with one cable down (link failures), and the
checkpoint interval a model-driven policy chooses for the elaborated failure model's mean
time between interruptions. The expensive parts are cached on the frozen specs
(simulator/fabric/stepmodel.py), so a sweep over reliability settings builds its fabric once
per process.

No Hydra or OmegaConf here. What only elaboration can find (a topology that cannot be
built as configured, a switch failure on a fabric without switches, a model-driven
checkpoint policy with nothing that fails) is a ConfigError naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.errors import ConfigError, require_positive
from simulator.fabric.domains import (
    GROUP_SCOPES,
    FailureDomains,
    domains_from_graph,
    failure_domains,
)
from simulator.fabric.workload import StepProfile
from simulator.reliability.failures import FailureModel
from simulator.reliability.power import FacilityPower
from simulator.reliability.scenario import Scenario
from simulator.reliability.study import StudySpec
from simulator.units import HOUR

if TYPE_CHECKING:
    from simulator.fabric.fabric_spec import FabricSpec
    from simulator.fabric.structure import Structure

Progress = Callable[[str, int, int], None]
"""`progress(stage, done, total)`: called before each stage with the number of stages
done so far, and once more as `progress("done", total, total)` at the end. Stages:
"graph", "routing", "collectives" (the step profile), "link slowdown", "domains",
"switches" (the power model's count of scale-out switches); a
study that builds no graph (a fixed step, no switch, rack, scale-up or link failures,
no power model) has none, and the callback is never called."""

Stage = tuple[str, Callable[[], Any]]


def elaborate(spec: StudySpec, progress: Progress | None = None) -> Scenario:
    """The Scenario of `spec`: its step profile, failure domains and checkpoint interval.

    Raises ConfigError where the fabric decides: `topology` (cannot be built or routed as
    configured), `failures.components.<name>.scope` (a switch failure on a fabric without
    leaf or ToR switches), `checkpoint.policy` (a model-driven policy with no failures).
    """
    done: dict[str, Any] = {}
    stages = _stages(spec, done)
    for count, (name, run) in enumerate(stages):
        if progress is not None:
            progress(name, count, len(stages))
        done[name] = run()
    if progress is not None and stages:
        progress("done", len(stages), len(stages))
    profile: StepProfile | None = done.get("collectives")
    failures: FailureModel = done.get("domains", spec.failures)
    cluster = spec.cluster
    checkpoint = spec.checkpoint.resolve(failures.job_mtbi_s(cluster.nodes,
                                                             cluster.gpus_per_node))
    step_s = profile.step_s if spec.fixed_step_s is None else spec.fixed_step_s
    if spec.jitter is not None:  # the mean step waits for the slowest GPU
        step_s *= spec.jitter.expected_max
    step_s *= spec.cap_slowdown  # a per-GPU power cap (1 without)
    power = _facility(spec, done.get("switches", 0), profile)
    check_budget(spec, power)
    return Scenario(
        seed=spec.seed,
        replicates=spec.replicates,
        first_replicate=spec.first_replicate,
        horizon_s=spec.horizon_s,
        work_s=spec.work_s,
        max_horizon_s=spec.max_horizon_s,
        step_s=step_s,
        step_level=spec.step_level,
        jitter=spec.jitter,
        cluster=cluster,
        failures=failures,
        checkpoint=checkpoint,
        restart=spec.restart,
        fabric=spec.fabric,
        workload=spec.workload,
        profile=profile,
        train_tokens=spec.train_tokens,
        train_steps=spec.train_steps,
        max_events=spec.max_events,
        power=power,
        power_cap_fraction=spec.cap_fraction,
        mw_budget_w=spec.mw_budget_w,
        power_series=spec.power_series,
        timeline=spec.timeline,
        storage=spec.storage,
    )


def _facility(spec: StudySpec, switches: int, profile: StepProfile | None
              ) -> FacilityPower | None:
    """What the facility draws in each state of the job (None without a power model)."""
    if spec.power is None:
        return None
    c = spec.cluster
    share = 1.0 if profile is None or spec.fixed_step_s is not None \
        else profile.compute_s / profile.step_s
    return FacilityPower(spec.power, c.gpus, c.gpus_per_node, c.spare_nodes, switches,
                         c.pue, share, spec.swing_threshold_w, spec.floor_share,
                         spec.smoothing)


def _stepmodel() -> Any:
    """simulator.fabric.stepmodel, imported on first use: it brings networkx and scipy's
    sparse graphs (~0.3-0.5 s), which a scenario without a fabric never needs."""
    from simulator.fabric import stepmodel

    return stepmodel


def _structure(fabric: FabricSpec, gpus: int) -> Structure | None:
    """simulator.fabric.structure's cached `fabric_structure`, imported on first use
    (without the step model: the default scenario's power model needs only this)."""
    from simulator.fabric import structure

    return structure.fabric_structure(fabric, gpus)


def _stages(spec: StudySpec, done: dict[str, Any]) -> list[Stage]:
    """What `spec` needs built, in order; a stage may read earlier results in `done`.
    Failure domains and the switch count of a built-in topology come from its structure
    (simulator/fabric/structure.py), and so does the network of a built-in switched
    fabric (simulator/fabric/plan_network.py); the graph is built for routing and
    collectives over the other topologies, and for what only a graph can tell."""
    fabric, gpus = spec.fabric, spec.cluster.gpus
    stages: list[Stage] = []
    graph: Stage = ("graph", lambda: _buildable(spec, _stepmodel().fabric_graph, fabric, gpus))
    if spec.workload is not None:
        # a built-in switched fabric's network comes from the builder's arguments (no
        # graph); the graph is built for the others
        needs = _buildable(spec, _stepmodel().needs_graph, fabric, gpus)
        stages += [graph] if needs else []
        stages += [("routing", lambda: _buildable(spec, _stepmodel().fabric_network, fabric,
                                                  gpus)),
                   ("collectives", lambda: _buildable(spec, _stepmodel().profile,
                                                      *_profile_args(spec)))]
    scopes = spec.failures.graph_scopes
    structure = None
    if scopes or spec.power is not None:
        structure = _buildable(spec, _structure, fabric, gpus)
    if scopes:
        if spec.workload is None and structure is None:
            stages.append(graph)
        if "link" in scopes:  # validation made sure there is a workload to slow
            stages.append(("link slowdown",
                           lambda: _stepmodel().link_slowdown(*_profile_args(spec))))
        stages.append(("domains", lambda: with_domains(
            spec, _domains(spec, structure, done.get("link slowdown", 1.0)))))
    if spec.power is not None:  # the scale-out switches draw power too (a graph is
        # cached: built once whichever stage needs it first)
        stages.append(("switches", lambda: structure.switches if structure is not None
                       else _stepmodel().switch_count(
                           _buildable(spec, _stepmodel().fabric_graph, fabric, gpus))))
    return stages


def _domains(spec: StudySpec, structure: Structure | None,
             link_slowdown: float) -> FailureDomains:
    """The failure domains of the job's topology (switch, rack and scale-up groups,
    redundant cables; spares in racks of their own): from the structure of a built-in
    topology, else read from its graph."""
    require_positive("topology.nodes_per_rack", spec.nodes_per_rack)
    cluster = spec.cluster
    total = cluster.nodes + cluster.spare_nodes
    if structure is None:
        graph = _buildable(spec, _stepmodel().fabric_graph, spec.fabric, cluster.gpus)
        return domains_from_graph(graph, spec.nodes_per_rack, total, link_slowdown)
    return failure_domains(structure.job_nodes, structure.switch_groups,
                           structure.scaleup_groups, structure.cables, spec.nodes_per_rack,
                           total, link_slowdown)


def check_budget(spec: StudySpec, power: FacilityPower | None) -> None:
    """`power.mw_budget` needs the facility's draw: a ConfigError without power figures.
    (A cluster over the budget is `over_budget`'s: an error for one run, a column and a
    warning in a sweep.)"""
    if spec.mw_budget_w is not None and power is None:
        raise ConfigError("power.mw_budget", spec.mw_budget_w / 1e6,
                          f"needs power figures; cluster.accelerator="
                          f"{spec.cluster.accelerator} has none: set power.*_w")


def over_budget(scenario: Scenario) -> ConfigError | None:
    """The ConfigError of a cluster drawing more than `power.mw_budget` at full load,
    saying by how much and how many GPUs fit (None within the budget or without one).
    A single run raises it; a sweep runs on and shows `power_mw_over_budget`."""
    power, budget_w = scenario.power, scenario.mw_budget_w
    if power is None or budget_w is None or power.full_w <= budget_w:
        return None
    c = scenario.cluster
    return ConfigError("power.mw_budget", budget_w / 1e6,
                       f"is below the cluster's full-load draw of {power.full_w / 1e6:.2f} "
                       f"MW ({c.gpus:,} {c.accelerator}, switches, spares, PUE "
                       f"{c.pue:g}), {power.full_w / budget_w - 1:.1%} over; about "
                       f"{power.gpus_within(budget_w):,} GPUs fit: lower "
                       "cluster.gpus, cap power (power.cap_fraction) or raise "
                       "power.mw_budget")


def _buildable(spec: StudySpec, build: Callable[..., Any], *args: Any) -> Any:
    """`build(*args)`, with a builder's or router's ValueError as a ConfigError."""
    try:
        return build(*args)
    except ValueError as exc:  # the topology cannot be built or routed as configured
        raise ConfigError("topology", spec.topology, str(exc)) from None


def _profile_args(spec: StudySpec) -> tuple:
    """stepmodel.profile's arguments: the workload on the fabric at the peaks."""
    return (spec.workload, spec.fabric, spec.cluster.gpus_per_node, spec.peak_flops,
            spec.compute_efficiency, spec.attention_peak_flops)


def with_domains(spec: StudySpec, domains: FailureDomains) -> FailureModel:
    """`spec.failures` with the failure domains of the job's topology, checked against
    the switch failures and trace rows that need them."""
    for component in spec.failures.components:
        if component.scope == "switch" and not domains.of("switch"):
            raise ConfigError(f"failures.components.{component.name}.scope", "switch",
                              f"topology {spec.topology} has no leaf or ToR switches; "
                              "allowed here: gpu, node, rack, scaleup, job")
    for row in spec.failures.trace or ():
        if row.kind in GROUP_SCOPES and not any(row.node in g for g in domains.of(row.kind)):
            raise ConfigError("failures.trace_path", f"kind={row.kind} node={row.node}",
                              f"topology {spec.topology} puts node {row.node} behind no "
                              f"{row.kind} (the trace row at time_hours="
                              f"{row.time_s / HOUR:g}); allowed kinds here: "
                              + ", ".join(k for k in ("gpu", "node", *GROUP_SCOPES, "job",
                                                      "link", "straggler")
                                          if k not in GROUP_SCOPES or domains.of(k)))
    return dataclasses.replace(spec.failures, domains=domains)
