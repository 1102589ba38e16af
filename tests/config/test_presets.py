"""Presets that belong together: a cluster preset brings its fabric, a topology fits its
accelerator, and every topology key means something to the builder it configures.

Expected values are written here from the systems the presets describe (their sources
are in scenarios/*/*.yaml) and from the builders' signatures
(simulator/fabric/topology.py's registry),
not read back from the configuration code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from simulator import ConfigError, load_scenario, simulate
from simulator.config.topology import SCALEUP_FORM, builder_keys
from simulator.config.validate import config_dir
from simulator.fabric import stepmodel
from simulator.fabric.hardware import ACCELERATORS
from simulator.fabric.topology import BUILDERS

#: cluster preset -> (its topology preset, that preset's builder): GB200 NVL72 racks, the
#: DGX H100 SuperPOD, Llama 3's RoCE cluster, MegaScale's CLOS, a TPU v5p ICI torus.
OWN_FABRIC = {
    "dgx_h100_1k": ("dgx_h100_superpod", "rail_fat_tree"),
    "gb200_nvl72_4k": ("gb200_nvl72", "nvl72"),
    "llama3_16k": ("llama3_roce", "leaf_spine_tor"),
    "megascale_12k": ("megascale_clos", "rail_fat_tree"),
    "tpu_v5p_8k": ("tpu_v5p", "torus_3d"),
}

LATENCIES = {"nvlink_latency_us", "nic_latency_us", "switch_latency_us"}
#: The topology keys each builder takes, from its signature (nodes_per_rack: always, the
#: power domain of rack failures).
BUILDER_KEYS = {
    "rail_fat_tree": {"nodes_per_rack", "nic_gbps", "nic_kind", "su_nodes", "oversubscription",
                      "tiers", "switch_radix", *LATENCIES},
    "nvl72": {"nodes_per_rack", "nic_gbps", "nic_kind", "su_racks", "oversubscription", "tiers",
              "switch_radix", *LATENCIES},
    "leaf_spine_tor": {"nodes_per_rack", "nic_gbps", "tor_oversubscription", "pod_gpus",
                       "agg_oversubscription", "cluster_switches", *LATENCIES},
    "torus_3d": {"nodes_per_rack", "torus_dims", "wraparound", "ici_latency_us"},
    "nvswitch_node": {"nodes_per_rack", "nvlink_latency_us"},
}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def chosen(overrides: list[str]) -> tuple[str, str]:
    """The (cluster, topology) options Hydra composes for `overrides`."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    return choices["cluster"], choices["topology"]


# ---- a cluster preset is a whole system -----------------------------------------------------


def test_every_cluster_preset_has_its_fabric_listed():
    assert sorted(OWN_FABRIC) == options("cluster")


@pytest.mark.parametrize("cluster", sorted(OWN_FABRIC))
def test_cluster_preset_brings_its_fabric(cluster):
    topology, kind = OWN_FABRIC[cluster]
    assert chosen([f"cluster={cluster}"]) == (cluster, topology)
    assert load_scenario([f"cluster={cluster}"]).fabric.builder == kind


PRECEDENCE = {
    "defaults": ([], "dgx_h100_1k", "dgx_h100_superpod"),
    "topology on the command line wins": (["cluster=dgx_h100_1k", "topology=fat_tree_4to1"],
                                          "dgx_h100_1k", "fat_tree_4to1"),
    "whatever the order": (["topology=fat_tree_4to1", "cluster=dgx_h100_1k"],
                           "dgx_h100_1k", "fat_tree_4to1"),
    "a workload's cluster brings its fabric": (["workload=llama3_405b"],
                                               "llama3_16k", "llama3_roce"),
    "gpt3 on MegaScale's cluster": (["workload=gpt3_175b"], "megascale_12k", "megascale_clos"),
    "cluster on the command line beats the workload's":
        (["workload=llama3_405b", "cluster=gb200_nvl72_4k"], "gb200_nvl72_4k", "gb200_nvl72"),
    "topology on the command line beats the workload's cluster's":
        (["workload=llama3_405b", "topology=dgx_h100_superpod"], "llama3_16k",
         "dgx_h100_superpod"),
    "experiment": (["+experiment=llama3_54d"], "llama3_16k", "llama3_roce"),
    "experiment on another cluster": (["+experiment=llama3_54d", "cluster=dgx_h100_1k"],
                                      "dgx_h100_1k", "dgx_h100_superpod"),
}


@pytest.mark.parametrize("case", PRECEDENCE.values(), ids=PRECEDENCE.keys())
def test_command_line_wins_over_preset_defaults(case):
    overrides, cluster, topology = case
    assert chosen(overrides) == (cluster, topology)


#: Sizes every workload preset divides: 1,152 GB200 = 16 NVL72 racks; 1,024 otherwise.
SMALL = {"gb200_nvl72_4k": 1152}


@pytest.mark.parametrize("workload", options("workload"))
@pytest.mark.parametrize("cluster", sorted(OWN_FABRIC))
def test_every_cluster_composes_with_every_workload(cluster, workload):
    """At a reduced size (the fabric of 16k GPUs takes seconds to route), each pair runs
    on the cluster's own fabric. A workload that cannot fit a cluster would be a clear
    error about the workload, never about the pair of presets."""
    overrides = [f"cluster={cluster}", f"workload={workload}",
                 f"cluster.gpus={SMALL.get(cluster, 1024)}"]
    try:
        scenario = load_scenario(overrides)
    except ConfigError as error:
        assert error.key.startswith("workload."), f"{overrides}: {error}"
        return
    assert scenario.fabric.builder == OWN_FABRIC[cluster][1]
    if scenario.profile is not None:
        assert 0 < scenario.profile.mfu < 1


def test_gb200_runs_on_nvl72_racks():
    """The issue's case: GB200 and llama3_70b used to run on the DGX H100 graph (4-GPU
    NVSwitch servers); now 4,032 GPUs are 56 NVLink domains of 72 (4,032 / 72)."""
    overrides = ["cluster=gb200_nvl72_4k", "workload=llama3_70b"]
    scenario = load_scenario(overrides)
    graph = stepmodel.fabric_graph(scenario.fabric, scenario.cluster.gpus)
    assert graph.graph["name"] == "nvl72"
    assert graph.graph["domain_size"] == 72
    assert len({graph.nodes[g]["domain"] for g in range(4032)}) == 56


# ---- a topology that contradicts the accelerator is an error ----------------------------------

CONTRADICTIONS = {
    "GB200 on 4-GPU NVSwitch servers": (["cluster=gb200_nvl72_4k",
                                          "topology=dgx_h100_superpod"],
                                         "topology.kind", ("cluster.accelerator=GB200",
                                                           "gb200_nvl72")),
    "GB200 on Llama 3's RoCE": (["cluster=gb200_nvl72_4k", "topology=llama3_roce"],
                                "topology.kind", ("GB200",)),
    "GB200 accelerator on the default fabric": (["cluster.accelerator=GB200"],
                                                "topology.kind", ("GB200",)),
    "H100 on NVL72": (["topology=gb200_nvl72"], "topology.kind",
                      ("cluster.accelerator=H100", "dgx_h100_superpod")),
    "H100 on a torus": (["topology=tpu_v5p"], "topology.kind", ("H100",)),
    "TPU on a fat-tree": (["cluster=tpu_v5p_8k", "topology=dgx_h100_superpod"],
                          "topology.kind", ("TPUv5p", "tpu_v5p")),
    "TPU on NVL72": (["cluster=tpu_v5p_8k", "topology=gb200_nvl72"], "topology.kind",
                     ("TPUv5p",)),
    "H100 in servers of 4": (["cluster.gpus_per_node=4"], "cluster.gpus_per_node",
                             ("topology.kind=rail_fat_tree", "H100", "8")),
    "H100 in servers of 16": (["cluster.gpus_per_node=16"], "cluster.gpus_per_node",
                              ("8",)),
    "GB200 trays of 72": (["cluster=gb200_nvl72_4k", "cluster.gpus_per_node=72"],
                          "cluster.gpus_per_node", ("72",)),
    "GB200 trays of 5": (["cluster=gb200_nvl72_4k", "cluster.gpus_per_node=5",
                          "cluster.gpus=4030"], "cluster.gpus_per_node", ("72",)),
    "a partial NVL72 rack": (["cluster=gb200_nvl72_4k", "cluster.gpus=4000"], "cluster.gpus",
                             ("72",)),
    "a torus larger than a pod": (["cluster=tpu_v5p_8k", "cluster.gpus=16384"], "cluster.gpus",
                                  ("8,960",)),
    "a single server of 1,024 GPUs": (["topology=nvswitch_node"], "cluster.gpus",
                                      ("cluster.gpus_per_node=8",)),
}


@pytest.mark.parametrize("case", CONTRADICTIONS.values(), ids=CONTRADICTIONS.keys())
def test_contradictions_name_both_keys(case):
    overrides, key, mentions = case
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)  # a fixed-step workload: caught without building a graph
    message = str(info.value)
    assert info.value.key == key, message
    assert "\n" not in message
    for word in mentions:
        assert word in message, message
    other = "topology.kind" if key.startswith("cluster.") else "cluster."
    assert other in message, message  # both sides of the contradiction are named


@pytest.mark.parametrize("overrides", [
    ["cluster.accelerator=B200"],  # 8-GPU NVLink5 servers: the SuperPOD's shape
    ["cluster.accelerator=H200", "topology=llama3_roce"],
    ["topology=nvswitch_node", "cluster.gpus=8"],
    ["cluster=tpu_v5p_8k", "cluster.gpus=8960"],  # a full v5p pod
    ["cluster=gb200_nvl72_4k", "cluster.gpus=72"],  # one rack
], ids=lambda o: " ".join(o))
def test_consistent_systems_validate(overrides):
    load_scenario(overrides)


def test_every_accelerator_has_a_scaleup_form():
    """A new accelerator must say whether its NVLink/ICI domain is a server, a rack or a
    torus, or the fabric checks cannot hold it to its topology."""
    assert set(SCALEUP_FORM) == set(ACCELERATORS)


# ---- every topology key means something to its builder ---------------------------------------


def test_builder_keys_follow_the_signatures():
    assert set(BUILDER_KEYS) == set(BUILDERS)
    for kind, keys in BUILDER_KEYS.items():
        assert set(builder_keys(kind)) == keys, kind


@pytest.mark.parametrize("path", sorted((config_dir() / "topology").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_topology_presets_list_only_their_builders_keys(path: Path):
    preset = OmegaConf.to_container(OmegaConf.load(path))
    assert set(preset) - {"kind"} <= BUILDER_KEYS[preset["kind"]], path.name


IGNORED = {
    "oversubscription on Llama 3's ToR fabric": (["topology=llama3_roce",
                                                  "topology.oversubscription=2"],
                                                 "topology.oversubscription", "leaf_spine_tor"),
    "nic_kind on a RoCE-only builder": (["topology=llama3_roce", "topology.nic_kind=ib"],
                                        "topology.nic_kind", "leaf_spine_tor"),
    "oversubscription on a torus": (["cluster=tpu_v5p_8k", "topology.oversubscription=2"],
                                    "topology.oversubscription", "torus_3d"),
    "NIC speed on a torus": (["cluster=tpu_v5p_8k", "topology.nic_gbps=800"],
                             "topology.nic_gbps", "torus_3d"),
    "switch latency on a torus": (["cluster=tpu_v5p_8k", "topology.switch_latency_us=0.3"],
                                  "topology.switch_latency_us", "torus_3d"),
    "su_nodes on NVL72 (it takes su_racks)": (["cluster=gb200_nvl72_4k",
                                               "topology.su_nodes=16"],
                                              "topology.su_nodes", "nvl72"),
    "su_racks on a fat-tree": (["topology.su_racks=2"], "topology.su_racks", "rail_fat_tree"),
    "ToR oversubscription on a rail fat-tree": (["topology.tor_oversubscription=2"],
                                                "topology.tor_oversubscription",
                                                "rail_fat_tree"),
    "pod_gpus on a rail fat-tree": (["topology.pod_gpus=3072"], "topology.pod_gpus",
                                    "rail_fat_tree"),
    "torus dims on a fat-tree": (["topology.torus_dims=[8,8,16]"], "topology.torus_dims",
                                 "rail_fat_tree"),
    "ICI latency on a fat-tree": (["topology.ici_latency_us=1"], "topology.ici_latency_us",
                                  "rail_fat_tree"),
    "a fat-tree key on one server": (["topology=nvswitch_node", "cluster.gpus=8",
                                      "topology.switch_radix=64"],
                                     "topology.switch_radix", "nvswitch_node"),
}


@pytest.mark.parametrize("case", IGNORED.values(), ids=IGNORED.keys())
def test_a_key_the_builder_ignores_is_an_error(case):
    overrides, key, kind = case
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    message = str(info.value)
    assert info.value.key == key, message
    assert f"topology.kind={kind}" in message and "leave it null" in message, message
    for taken in BUILDER_KEYS[kind]:
        assert taken in message, message  # the message lists what the builder does take


@pytest.mark.parametrize("overrides, key", [
    (["topology.su_nodes=0"], "topology.su_nodes"),
    (["topology.tiers=4"], "topology.tiers"),
    (["topology.switch_radix=1"], "topology.switch_radix"),
    (["topology.nic_latency_us=-1"], "topology.nic_latency_us"),
    (["topology.nic_kind=ethernet"], "topology.nic_kind"),
    (["topology=llama3_roce", "topology.tor_oversubscription=0"], "topology.tor_oversubscription"),
    (["cluster=tpu_v5p_8k", "topology.torus_dims=[16,16,16]"], "topology.torus_dims"),
    (["cluster=tpu_v5p_8k", "topology.torus_dims=[16,512]"], "topology.torus_dims"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_topology_values_are_checked_without_a_model(overrides, key):
    """A fixed-step run builds no graph unless failures need one: values are still checked."""
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    assert info.value.key == key, str(info.value)


# ---- what builders take, config can now set ------------------------------------------------


def _graph(overrides: list[str]):
    scenario = load_scenario(overrides)
    return stepmodel.fabric_graph(scenario.fabric, scenario.cluster.gpus)


def test_tor_oversubscription_reaches_the_tor_uplinks():
    """Llama 3 ToR of 16 GPUs x 50 GB/s, split over 16 cluster switches: 50 GB/s per
    uplink at 1:1, 25 GB/s at 2:1."""
    def tor_spine(ratio: float) -> set[float]:
        graph = _graph(["topology=llama3_roce", "cluster.gpus=256",
                        f"topology.tor_oversubscription={ratio}"])
        return {d["bandwidth"] for u, v, d in graph.edges(data=True)
                if {type(u), type(v)} == {tuple} and {u[0], v[0]} == {"tor", "spine"}}

    assert tor_spine(1) == {16 * 50e9 / 16}
    assert tor_spine(2) == {16 * 50e9 / 2 / 16}


def test_latencies_by_link_reach_the_edges():
    graph = _graph(["cluster.gpus=64", "topology.nvlink_latency_us=0.3",
                    "topology.nic_latency_us=0.7", "topology.switch_latency_us=0.2"])
    by_role: dict[str, set[float]] = {"nvlink": set(), "nic": set(), "switch": set()}
    for u, v, d in graph.edges(data=True):
        if d["kind"] == "nvlink":
            by_role["nvlink"].add(d["latency"])
        elif isinstance(u, int) or isinstance(v, int):
            by_role["nic"].add(d["latency"])
        else:
            by_role["switch"].add(d["latency"])
    assert by_role == {"nvlink": {0.3e-6}, "nic": {0.7e-6}, "switch": {0.2e-6}}


def test_ici_latency_and_wraparound_reach_the_torus():
    """64 chips in a 4 x 4 x 4 torus: 3 x 64 = 192 links; as a mesh 3 x (3 x 4 x 4) = 144."""
    torus = _graph(["cluster=tpu_v5p_8k", "cluster.gpus=64", "topology.ici_latency_us=0.4"])
    mesh = _graph(["cluster=tpu_v5p_8k", "cluster.gpus=64", "topology.wraparound=false"])
    assert torus.number_of_edges() == 192 and mesh.number_of_edges() == 144
    assert {d["latency"] for _, _, d in torus.edges(data=True)} == {0.4e-6}


def test_su_racks_reaches_the_nvl72_leaves():
    """16 racks of 18 trays with 4 rails: one rack per SU = 16 x 4 leaves; two racks per
    SU = 8 x 4 (a leaf then takes 36 trays + 36 uplinks: 128-port switches)."""
    def leaves(*extra: str) -> int:
        graph = _graph(["cluster=gb200_nvl72_4k", "cluster.gpus=1152", *extra])
        return sum(1 for n, d in graph.nodes(data=True) if d["kind"] == "leaf")

    assert leaves() == 64
    assert leaves("topology.su_racks=2", "topology.switch_radix=128") == 32


# ---- the price follows the accelerator; a fixed step takes no model keys ------------------

#: The catalog's assumed prices per accelerator-hour (simulator/fabric/hardware.py cites them).
PRICES = {"H100": 2.5, "H200": 3.5, "B200": 4.5, "A100": 1.5}


@pytest.mark.parametrize("accelerator", PRICES)
def test_price_follows_an_accelerator_override(accelerator):
    """A preset's price is the catalog's for its accelerator, so `cluster.accelerator=`
    on top of an H100 preset is priced as the new accelerator, not as an H100."""
    s = load_scenario(["cluster=dgx_h100_1k", f"cluster.accelerator={accelerator}"])
    assert s.cluster.gpu_hour_usd == PRICES[accelerator]


def test_an_explicit_price_wins_and_no_price_means_no_cost():
    s = load_scenario(["cluster.accelerator=B200", "cluster.gpu_hour_usd=7.25"])
    assert s.cluster.gpu_hour_usd == 7.25
    frame = simulate(["cluster.accelerator=MI300X", "horizon_days=0.5"])
    assert frame["cost_usd"].isna().all()  # no price assumed for MI300X


@pytest.mark.parametrize("key, value", [
    ("workload.parallel.tp", 8), ("workload.parallel.zero_stage", 3),
    ("workload.overlap.dp", 0.5), ("workload.global_batch_tokens", 4194304)])
def test_model_keys_on_a_fixed_step_are_errors(key, value):
    """workload=fixed_step has no model: its parallelism, overlap and batch would be
    silently ignored."""
    with pytest.raises(ConfigError) as info:
        load_scenario([f"{key}={value}"])
    assert info.value.key == key
    assert "needs a workload with a model" in str(info.value)
