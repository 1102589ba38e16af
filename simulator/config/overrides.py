"""Checks on the overrides as the user typed them, which composing cannot keep.

OmegaConf converts on assignment: `events=2` or `events=yes` becomes `true`
(any nonzero integer and yes/on are true), and `~cluster` (deleting a group or a key)
leaves the schema's defaults in its place. Both reach validation looking like a valid
config, so they are checked here, on the override text, before composing:

* a boolean key takes `true` or `false` only (`null` where the key is optional);
* deleting a schema key or a config group is an error (set it, or choose an option);
* an error about a key whose override is an interpolation (`${oc.env:X}`) shows the
  override as typed, never its resolved value (`as_typed`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from simulator.errors import ConfigError

#: The config groups of scenarios/ (their options: scenarios/<group>/*.yaml).
GROUPS = ("cluster", "topology", "failures", "checkpoint", "restart", "workload",
          "storage", "experiment")


def schema_field(schema: Any, key: str) -> dataclasses.Field | None:
    """The dataclass field `key` ("restart.elastic") names in `schema`, or None."""
    node, found = schema, None
    for part in key.split("."):
        if node is None or not dataclasses.is_dataclass(node):
            return None
        fields = {f.name: f for f in dataclasses.fields(node)}
        if part not in fields:
            return None
        found = fields[part]
        factory = found.default_factory
        node = factory if factory is not dataclasses.MISSING else None
    return found


def check_overrides(overrides: Sequence[str], schema: Any) -> None:
    """Raise ConfigError for a non-boolean value of a boolean key, or a deletion."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text in overrides:
        try:
            (parsed,) = parser.parse_overrides([text])
        except Exception:  # composing reports the syntax error with its key
            continue
        key = parsed.key_or_group
        if key.startswith("hydra"):
            continue
        field = schema_field(schema, key)
        if parsed.is_delete() and (field is not None or key in GROUPS):
            group = key in GROUPS
            raise ConfigError(key, f"~{key}",
                              ("a config group cannot be deleted (its keys would fall back "
                               "to the schema's defaults, not the scenario's); choose an "
                               "option instead (see --help)") if group else
                              ("a key cannot be deleted (it would fall back to the schema's "
                               "default, not the scenario's); set its value instead"))
        if field is None or str(field.type) not in ("bool", "bool | None"):
            continue
        optional = str(field.type) == "bool | None"
        values = list(parsed.sweep_iterator()) if parsed.is_sweep_override() \
            else [parsed.value()]
        for value in values:
            if isinstance(value, str) and value.startswith("${"):
                continue  # an interpolation: typed when it resolves
            if isinstance(value, bool) or (value is None and optional):
                continue
            raise ConfigError(key, parsed.get_value_element_as_str()
                              if not parsed.is_sweep_override() else value,
                              "must be true or false" + (" (or null)" if optional else ""))


def as_typed(error: ConfigError, overrides: Sequence[str]) -> ConfigError:
    """`error` with the value of its key's override as typed when that override is an
    interpolation (`${oc.env:HOME}`, not the home directory it resolves to)."""
    for text in overrides:
        key, sep, value = text.partition("=")
        if sep and key.lstrip("+~") == error.key and "${" in value:
            return ConfigError(error.key, value, error.allowed)
    return error
