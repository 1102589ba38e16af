"""The frozen, hashable description of a fabric: what the step model builds and caches.

It belongs to the fabric (simulator/fabric/stepmodel.py builds a graph and a network from it);
configuration makes one (simulator/config/topology.py) and a Scenario carries it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FabricSpec:
    """A topology builder, its arguments, and the link efficiencies of the network."""

    builder: str
    params: tuple[tuple[str, object], ...]
    efficiency: tuple[tuple[str, float], ...]  # per link kind: achieved / nominal rate
    nvls_efficiency: float = 0.61
    step_latency_s: float = 1e-6
    failed_cable: tuple[object, object] | None = None  # one switch-to-switch cable down
