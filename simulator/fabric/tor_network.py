"""The Llama 3 RoCE cluster (`leaf_spine_tor`: a ToR per rack, pods, an aggregation
layer) as a `simulator.fabric.plan_network.PlanNetwork`: its links and routes from the
builder's arguments, no graph.

Switch-to-switch edges, in the builder's order: per ToR r one edge to each cluster
switch ``("spine", pod, j)`` of its pod; then (several pods) per cluster switch
``(pod, j)`` one edge to aggregation switch j.

ECMP in closed form (`simulator.fabric.routing`, "switched"): at the source's ToR, with
``a`` the source's place among the rack's GPUs, ``A`` the rack's GPUs and ``q`` the
destination's port (the GPUs of the racks before its rack + its place in it), cluster
switch ``(a + A q) % J`` of the J of the pod; from there one way down (same pod) or up
to aggregation switch j and down through the destination pod's cluster switch j.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simulator.fabric.plan_network import PlanNetwork
from simulator.fabric.structure import tor_plan
from simulator.fabric.topology import BUILDERS, size_args

__all__ = ["TorNetwork", "TorShape", "tor_shape"]


@dataclass(frozen=True)
class TorShape:
    """What routing needs of a `leaf_spine_tor` fabric."""

    gpus: int
    rails: int  # GPUs per server
    domain: int  # GPUs per scale-up domain: a server
    rack_gpus: int
    racks: int
    racks_per_pod: int
    pods: int
    planes: int  # cluster switches per pod = aggregation switches
    tor_edge_bw: float
    agg_edge_bw: float
    nvlink_bandwidth: float
    nvlink_latency: float
    nic_bandwidth: float
    nic_latency: float
    switch_latency: float
    kind: str = "roce"


def tor_shape(name: str, gpus: int, params: Mapping[str, object]) -> TorShape | None:
    """The TorShape of `build(name, gpus, **params)` for `leaf_spine_tor`, else None;
    the figures computed as the builder computes them."""
    builder = BUILDERS.get(name)
    if builder is not BUILDERS["leaf_spine_tor"]:
        return None
    params = dict(params)
    bound = inspect.signature(builder).bind(**size_args(name, gpus, params), **params)
    bound.apply_defaults()
    a = bound.arguments
    p = tor_plan(a)  # checked as the builder checks them
    gpn = p.gpus_per_node
    return TorShape(p.nodes * gpn, gpn, gpn, gpn * p.nodes_per_rack, p.racks,
                    p.racks_per_pod, p.pods, p.planes, p.tor_edge_bw,
                    p.racks_per_pod * p.tor_edge_bw / p.agg_oversubscription,
                    float(a["nvlink_bandwidth"]), float(a["nvlink_latency"]),
                    p.nic_bandwidth, float(a["nic_latency"]), float(a["switch_latency"]))


class TorNetwork(PlanNetwork):
    """The network of a `leaf_spine_tor` fabric from its `TorShape` (module docstring)."""

    def __init__(self, shape: TorShape, efficiency: Mapping[str, float] | None = None
                 ) -> None:
        self._agg_edges = shape.gpus * (2 if shape.domain > 1 else 1) + (
            shape.racks * shape.planes)  # the first cluster-aggregation edge
        super().__init__(shape, efficiency)

    def _upper(self) -> list[tuple[int, float]]:
        s = self.shape
        upper = [(s.racks * s.planes, s.tor_edge_bw)]
        if s.pods > 1:
            upper.append((s.pods * s.planes, s.agg_edge_bw))
        return upper

    def _first(self, g: np.ndarray) -> np.ndarray:
        return g // self.shape.rack_gpus

    def nic_switch(self, rank: int):
        return ("tor", int(rank) // self.shape.rack_gpus)

    def _tor_spine(self, rack: np.ndarray, plane: np.ndarray) -> np.ndarray:
        return self._switch_edges + rack * self.shape.planes + plane

    def _spine_agg(self, pod: np.ndarray, plane: np.ndarray) -> np.ndarray:
        return self._agg_edges + pod * self.shape.planes + plane

    def _edge(self, x, y) -> int | None:
        s = self.shape
        if (x[0] == "tor" and len(x) == 2 and y[0] == "spine" and len(y) == 3
                and 0 <= x[1] < s.racks and y[1] == x[1] // s.racks_per_pod
                and 0 <= y[2] < s.planes):
            return int(self._tor_spine(x[1], y[2]))
        if (x[0] == "spine" and len(x) == 3 and y[0] == "agg" and len(y) == 2
                and s.pods > 1 and 0 <= x[1] < s.pods and y[1] == x[2]
                and 0 <= x[2] < s.planes):
            return int(self._spine_agg(x[1], x[2]))
        return None

    def _walk(self, out: np.ndarray, hops: np.ndarray, f: np.ndarray, a: np.ndarray,
              b: np.ndarray) -> None:
        """ToR to ToR: through a cluster switch of the pod, or up to an aggregation
        switch and down into the other pod."""
        s = self.shape
        rack_a, rank_a = np.divmod(a, s.rack_gpus)
        rack_b, rank_b = np.divmod(b, s.rack_gpus)
        last = s.racks - 1
        ports_a = np.where(rack_a == last, s.gpus - last * s.rack_gpus, s.rack_gpus)
        port = rack_b * s.rack_gpus + rank_b
        plane = (rank_a + ports_a * port) % s.planes
        out[f, 1] = 2 * self._tor_spine(rack_a, plane)
        pod_a, pod_b = rack_a // s.racks_per_pod, rack_b // s.racks_per_pod
        down_nic = 2 * self._gpu_edge(b, True) + 1
        down_tor = 2 * self._tor_spine(rack_b, plane) + 1
        near = pod_a == pod_b
        g, n = f[near], f[~near]
        out[g, 2], out[g, 3] = down_tor[near], down_nic[near]
        hops[g] = 4
        far = ~near
        out[n, 2] = 2 * self._spine_agg(pod_a[far], plane[far])
        out[n, 3] = 2 * self._spine_agg(pod_b[far], plane[far]) + 1
        out[n, 4], out[n, 5] = down_tor[far], down_nic[far]
        hops[n] = 6
