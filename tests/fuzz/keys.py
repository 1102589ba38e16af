"""Every config key the fuzzer tries, derived from the schemas (a new key is fuzzed
automatically): the fields of `simulator.config.schema.Config`, nested, and the keys of
every `checkpoint=` and `restart=` option's own schema (`simulator.config.checkpoint.SCHEMAS`,
`simulator.config.restart.SCHEMAS`)."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from simulator.config.checkpoint import SCHEMAS, CheckpointConfig
from simulator.config.restart import SCHEMAS as RESTART_SCHEMAS
from simulator.config.restart import RestartConfig
from simulator.config.schema import Config

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@dataclass(frozen=True)
class Key:
    """One leaf key: its dotted path, its scalar kind and whether null is in its type."""

    path: str
    kind: str  # float | int | bool | str | list | dict
    optional: bool


def _leaf_kind(hint: object) -> tuple[str | type | None, bool]:
    """(the kind, or the dataclass to descend into; whether None is allowed)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        kind, _ = _leaf_kind(rest[0])
        return kind, len(rest) < len(args)
    if dataclasses.is_dataclass(hint):
        return hint, False
    if origin is list or hint is list:
        return "list", False
    if origin is dict or hint is dict:
        return "dict", False
    if hint in (float, int, bool, str):
        return hint.__name__, False
    return "str", False  # Any: fuzz as text


def _walk(cls: type, prefix: str) -> list[Key]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind, optional = _leaf_kind(hints[f.name])
        path = f"{prefix}{f.name}"
        if isinstance(kind, type):
            keys.append(Key(path, "dict", optional))  # the whole node, too
            keys.extend(_walk(kind, f"{path}."))
        else:
            keys.append(Key(path, kind, optional))
    return keys


def config_keys() -> list[Key]:
    """Every key of the schema, checkpoint and restart keys of every option included."""
    keys = [k for k in _walk(Config, "")
            if not k.path.startswith(("checkpoint.", "restart."))]
    seen: dict[str, Key] = {}
    for group, base, schemas in (("checkpoint", CheckpointConfig, SCHEMAS),
                                 ("restart", RestartConfig, RESTART_SCHEMAS)):
        for schema in (base, *(type(s) for s in schemas.values())):
            for key in _walk(schema, f"{group}."):
                seen.setdefault(key.path, key)
    return keys + list(seen.values())


def group_options() -> dict[str, list[str]]:
    """Each config group the command line swaps -> its options (the YAML files)."""
    groups = {}
    for folder in sorted(SCENARIOS.iterdir()):
        if folder.is_dir() and folder.name not in ("hydra", "experiment"):
            groups[folder.name] = sorted(p.stem for p in folder.glob("*.yaml"))
    return groups


KEYS = config_keys()
GROUPS = group_options()
#: The first segment of every key a ConfigError may name (a config key or a group).
TOP_LEVEL = frozenset({k.path.split(".")[0] for k in KEYS} | set(GROUPS))
