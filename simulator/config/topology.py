"""Validation of the topology part of the config -> FabricSpec (see simulator/config/validate.py).

A cluster and its fabric are one system. Two kinds of rule hold them together:

* **Every topology key means something to the builder.** `topology.<key>` sets one
  argument of the builder named by `topology.kind` (`TOPOLOGY_KEYS`); a key the builder
  does not take must be left null, or it is a ConfigError naming it (never silently
  ignored). Null means the builder's default. `topology.nodes_per_rack` is always used:
  it is the power domain of `rack` failures (and the ToR size of `leaf_spine_tor`).
* **The fabric fits the accelerator.** Each accelerator's scale-up domain has a form
  (`SCALEUP_FORM`): a server (an NVSwitch baseboard: one server = one domain), a rack
  (GB200 NVL72: trays of 4 GPUs in a 72-GPU NVLink domain) or a torus (TPU v5p: chips
  forward over ICI). A topology kind models one form (`KIND_FORM`), and its server and
  domain sizes must be the accelerator's (`check_system`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from simulator.errors import ConfigError, require_non_negative, require_one_of, require_positive
from simulator.fabric.fabric_spec import FabricSpec
from simulator.fabric.hardware import Accelerator
from simulator.reliability.scenario import ClusterSpec
from simulator.units import GB, GBIT

if TYPE_CHECKING:
    from simulator.config.schema import EfficiencyConfig, TopologyConfig

#: Each topology builder's keyword arguments (simulator/fabric/topology.py's BUILDERS, in its
#: order), so that validation knows what a kind takes without importing the builders and
#: networkx; tests/test_config.py holds this table to the builders' signatures.
BUILDER_PARAMS: dict[str, tuple[str, ...]] = {
    "nvswitch_node": ("gpus", "nvlink_bandwidth", "nvlink_latency"),
    "nvl72": ("racks", "gpus_per_rack", "nvlink_bandwidth", "nic_bandwidth", "gpus_per_node",
              "su_racks", "oversubscription", "tiers", "switch_radix", "nic_kind",
              "nvlink_latency", "nic_latency", "switch_latency"),
    "rail_fat_tree": ("nodes", "gpus_per_node", "nic_bandwidth", "nvlink_bandwidth",
                      "su_nodes", "oversubscription", "tiers", "switch_radix", "nic_kind",
                      "nvlink_latency", "nic_latency", "switch_latency"),
    "leaf_spine_tor": ("nodes", "gpus_per_node", "nodes_per_rack", "pod_gpus",
                       "nic_bandwidth", "agg_oversubscription", "nvlink_bandwidth",
                       "cluster_switches", "tor_oversubscription", "nvlink_latency",
                       "nic_latency", "switch_latency"),
    "torus_3d": ("dims", "ici_bandwidth", "gpus_per_node", "wraparound", "ici_latency"),
}
LINK_KINDS = ("nvlink", "ib", "roce", "ici")
US = 1e-6

#: topology.<key> -> (the builder argument it sets, factor from config units to SI).
TOPOLOGY_KEYS: dict[str, tuple[str, float | None]] = {
    "nic_gbps": ("nic_bandwidth", GBIT),  # Gb/s -> bytes/s
    "nic_kind": ("nic_kind", None),
    "su_nodes": ("su_nodes", None),
    "su_racks": ("su_racks", None),
    "oversubscription": ("oversubscription", None),
    "tor_oversubscription": ("tor_oversubscription", None),
    "tiers": ("tiers", None),
    "switch_radix": ("switch_radix", None),
    "nodes_per_rack": ("nodes_per_rack", None),
    "pod_gpus": ("pod_gpus", None),
    "agg_oversubscription": ("agg_oversubscription", None),
    "cluster_switches": ("cluster_switches", None),
    "torus_dims": ("dims", None),
    "wraparound": ("wraparound", None),
    "nvlink_latency_us": ("nvlink_latency", US),
    "nic_latency_us": ("nic_latency", US),
    "switch_latency_us": ("switch_latency", US),
    "ici_latency_us": ("ici_latency", US),
}
#: Used whatever the builder: the power domain of `rack` failures (simulator/fabric/domains.py).
ALWAYS_USED = frozenset({"nodes_per_rack"})

#: Where each accelerator's scale-up domain lives (REFERENCE.md "Accelerators"; vendors):
#: HGX/DGX A100, H100, H200 and B200 baseboards join 8 GPUs through NVSwitch; an MI300X
#: platform joins 8 GPUs all-to-all over Infinity Fabric; a Trn2 server joins 16
#: Trainium2 chips over NeuronLink (modelled as one switch); GB200 NVL72 joins 72 GPUs of
#: 18 compute trays through the rack's NVLink switches; TPU v5p chips forward over a 3D
#: ICI torus of up to 8,960 chips (a pod).
SCALEUP_FORM: dict[str, str] = {
    "A100": "server", "H100": "server", "H200": "server", "B200": "server",
    "MI300X": "server", "Trainium2": "server", "GB200": "rack", "TPUv5p": "torus",
}
#: The form of scale-up domain each builder models, and a preset that has it.
KIND_FORM: dict[str, str] = {
    "nvswitch_node": "server", "rail_fat_tree": "server", "leaf_spine_tor": "server",
    "nvl72": "rack", "torus_3d": "torus",
}
FORM_PRESET = {"server": "dgx_h100_superpod", "rack": "gb200_nvl72", "torus": "tpu_v5p"}
_FORM_WORDS = {
    "server": "one NVLink domain per server",
    "rack": "a rack-scale NVLink domain of several servers",
    "torus": "a chip-forwarding ICI torus",
}


def builder_keys(kind: str) -> tuple[str, ...]:
    """The `topology.*` keys that builder `kind` takes (besides `kind` itself)."""
    accepted = BUILDER_PARAMS[kind]
    return tuple(key for key, (param, _) in TOPOLOGY_KEYS.items()
                 if param in accepted or key in ALWAYS_USED)


def fabric_from(topo: TopologyConfig, eff: EfficiencyConfig, cluster: ClusterSpec,
                accelerator: Accelerator) -> FabricSpec:
    """Builder arguments from the config, the cluster and the accelerator catalog."""
    require_one_of("topology.kind", topo.kind, BUILDER_PARAMS)
    for kind in (*LINK_KINDS, "nvls", "compute"):
        value = getattr(eff, kind)
        if not 0 < value <= 1:
            raise ConfigError(f"efficiency.{kind}", value, "must be in (0, 1]")
    require_non_negative("efficiency.step_latency_us", eff.step_latency_us)
    taken = builder_keys(topo.kind)
    for key in TOPOLOGY_KEYS:
        value = getattr(topo, key)
        if value is not None and key not in taken:
            raise ConfigError(f"topology.{key}", value,
                              f"topology.kind={topo.kind} has no such setting; leave it null "
                              f"(it takes {', '.join(taken)})")
    _check_values(topo, cluster)
    check_system(topo.kind, cluster, accelerator)

    scaleup = accelerator.scaleup_gb_per_s * GB
    derived = {  # from the cluster and the accelerator catalog, not from topology keys
        "nvlink_bandwidth": scaleup,
        "ici_bandwidth": scaleup,
        "gpus_per_node": cluster.gpus_per_node,
        "gpus_per_rack": accelerator.scaleup_domain,
    }
    accepted = BUILDER_PARAMS[topo.kind]
    params = {k: v for k, v in derived.items() if k in accepted}
    for key in taken:
        value = getattr(topo, key)
        param, factor = TOPOLOGY_KEYS[key]
        if value is None or param not in accepted:
            continue  # null: the builder's default
        if key == "torus_dims":
            value = tuple(value)
        params[param] = value * factor if factor is not None else value
    efficiency = tuple((kind, float(getattr(eff, kind))) for kind in LINK_KINDS)
    return FabricSpec(topo.kind, tuple(sorted(params.items())), efficiency, eff.nvls,
                      eff.step_latency_us * US)


def _check_values(topo: TopologyConfig, cluster: ClusterSpec) -> None:
    """Each set key in range, so a bad value is caught even when no graph is built."""
    def whole(key: str, minimum: int = 1) -> None:
        value = getattr(topo, key)
        if value is not None and (not isinstance(value, int) or value < minimum):
            raise ConfigError(f"topology.{key}", value, f"must be an integer >= {minimum}")

    require_positive("topology.nodes_per_rack", topo.nodes_per_rack)
    for key in ("su_nodes", "su_racks", "pod_gpus", "cluster_switches"):
        whole(key)
    whole("switch_radix", minimum=2)
    for key in ("nic_gbps", "oversubscription", "tor_oversubscription",
                "agg_oversubscription"):
        require_positive(f"topology.{key}", getattr(topo, key), optional=True)
    for key in ("nvlink_latency_us", "nic_latency_us", "switch_latency_us", "ici_latency_us"):
        require_non_negative(f"topology.{key}", getattr(topo, key), optional=True)
    if topo.nic_kind is not None:
        require_one_of("topology.nic_kind", topo.nic_kind, ("ib", "roce"))
    if topo.tiers is not None and topo.tiers not in (2, 3):
        raise ConfigError("topology.tiers", topo.tiers, "must be 2, 3 or null (2 while the "
                          "leaves fit one spine's ports, else 3)")
    dims = topo.torus_dims
    if dims is not None:
        if len(dims) != 3 or any(not isinstance(d, int) or d < 1 for d in dims):
            raise ConfigError("topology.torus_dims", list(dims),
                              "must be three positive integers [X, Y, Z], or null")
        if math.prod(dims) != cluster.gpus:
            raise ConfigError("topology.torus_dims", list(dims),
                              f"X x Y x Z = {math.prod(dims)} must equal "
                              f"cluster.gpus={cluster.gpus} (or null: the most cube-like shape)")


def check_system(kind: str, cluster: ClusterSpec, accelerator: Accelerator) -> None:
    """Raise ConfigError unless topology `kind` can carry the cluster's accelerators.

    The form of the accelerator's scale-up domain must be the one `kind` models; a
    server-form topology makes each server one domain, so `cluster.gpus_per_node` is the
    accelerator's domain size; a rack holds whole trays; a torus is at most one pod.
    """
    name, domain, gpn = accelerator.name, accelerator.scaleup_domain, cluster.gpus_per_node
    form = SCALEUP_FORM.get(name)
    if form is None:  # an accelerator added to the catalog without a form: sizes only
        form = KIND_FORM[kind]
    if KIND_FORM[kind] != form:
        raise ConfigError("topology.kind", kind,
                          f"models {_FORM_WORDS[KIND_FORM[kind]]}, but "
                          f"cluster.accelerator={name} has {_FORM_WORDS[form]} "
                          f"({domain:,} per domain); use a topology of that form, e.g. "
                          f"topology={FORM_PRESET[form]}")
    if form == "server" and gpn != domain:
        raise ConfigError("cluster.gpus_per_node", gpn,
                          f"topology.kind={kind} makes each server one NVLink domain, so it "
                          f"must equal cluster.accelerator={name}'s scale-up domain of "
                          f"{domain} GPUs")
    if kind == "nvswitch_node" and cluster.gpus != gpn:
        raise ConfigError("cluster.gpus", cluster.gpus,
                          f"topology.kind=nvswitch_node is a single server: must equal "
                          f"cluster.gpus_per_node={gpn} (use a fabric such as "
                          f"topology={FORM_PRESET['server']} for more)")
    if form == "rack":
        if domain % gpn or gpn == domain:
            raise ConfigError("cluster.gpus_per_node", gpn,
                              f"topology.kind={kind} builds racks of compute trays: must "
                              f"divide cluster.accelerator={name}'s {domain}-GPU NVLink "
                              "domain into several trays (GB200: 4)")
        if cluster.gpus % domain:
            raise ConfigError("cluster.gpus", cluster.gpus,
                              f"topology.kind={kind} holds whole racks: must be a multiple of "
                              f"cluster.accelerator={name}'s {domain}-GPU NVLink domain")
    if form == "torus" and cluster.gpus > domain:
        raise ConfigError("cluster.gpus", cluster.gpus,
                          f"topology.kind={kind} is one ICI torus: at most "
                          f"cluster.accelerator={name}'s {domain:,} chips (a pod)")
