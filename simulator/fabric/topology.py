"""The topology registry: every builder by name, and `build` for a GPU count.

The builders live one family per module (`topology_scaleup`, `topology_fat_tree`,
`topology_leaf_spine`, `topology_torus`); the graph conventions they share and
`check_topology` are in `simulator.fabric.topology_graph`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.fabric.topology_fat_tree import rail_fat_tree
from simulator.fabric.topology_graph import check_divides, check_int
from simulator.fabric.topology_leaf_spine import leaf_spine_tor
from simulator.fabric.topology_scaleup import nvl72_rack, nvswitch_node
from simulator.fabric.topology_torus import balanced_dims, torus_3d

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["BUILDERS", "build", "size_args"]


def _default(builder: Callable, param: str):
    return inspect.signature(builder).parameters[param].default


def _per(gpus: int, params: dict, builder: Callable, param: str) -> int:
    size = params.get(param, _default(builder, param))
    return check_divides(param, check_int(param, size), "gpus", gpus)


BUILDERS: dict[str, Callable[..., nx.Graph]] = {
    "nvswitch_node": nvswitch_node,
    "nvl72": nvl72_rack,
    "rail_fat_tree": rail_fat_tree,
    "leaf_spine_tor": leaf_spine_tor,
    "torus_3d": torus_3d,
}

# How each builder's size argument follows from the GPU count.
_SIZE: dict[str, Callable[[int, dict], dict]] = {
    "nvswitch_node": lambda g, p: {"gpus": g},
    "nvl72": lambda g, p: {"racks": _per(g, p, nvl72_rack, "gpus_per_rack")},
    "rail_fat_tree": lambda g, p: {"nodes": _per(g, p, rail_fat_tree, "gpus_per_node")},
    "leaf_spine_tor": lambda g, p: {"nodes": _per(g, p, leaf_spine_tor, "gpus_per_node")},
    "torus_3d": lambda g, p: {} if "dims" in p else {"dims": balanced_dims(g)},
}


def size_args(name: str, gpus: int, params: dict) -> dict:
    """The size argument of builder `name` for `gpus` accelerators (ValueError: unknown
    name, `gpus` not divisible, a size argument in `params`)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown topology {name!r}; allowed: {', '.join(BUILDERS)}")
    gpus = check_int("gpus", gpus)
    size = _SIZE[name](gpus, params)
    clash = set(size) & set(params)
    if clash:
        raise ValueError(f"{name}: {', '.join(sorted(clash))} follows from gpus; do not pass it")
    return size


def build(name: str, gpus: int, **params) -> nx.Graph:
    """Build the topology `name` for `gpus` accelerators.

    Parameters
    ----------
    name : str
        A key of `BUILDERS`: "nvswitch_node", "nvl72", "rail_fat_tree",
        "leaf_spine_tor", "torus_3d".
    gpus : int
        Accelerators; a multiple of the builder's GPUs per node (per rack for "nvl72").
        For "torus_3d" without `dims`, the most cube-like shape of `gpus` chips.
    **params
        Other keyword arguments of the builder (not its size argument).

    Returns
    -------
    nx.Graph
        With ``G.graph["gpus"] == gpus``.

    Raises
    ------
    ValueError
        Unknown name (the message lists the allowed ones), a size argument in `params`,
        `gpus` not divisible, or any error of the builder.
    """
    size = size_args(name, gpus, params)
    G = BUILDERS[name](**size, **params)
    if G.graph["gpus"] != gpus:
        raise ValueError(f"{name}: dims give {G.graph['gpus']} chips, not gpus={gpus}")
    return G
