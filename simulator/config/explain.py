"""Hydra's and OmegaConf's composition errors (unknown option, unknown key, wrong type,
missing value, bad override syntax) as the same one-line `ConfigError` that trainsim's
own validation raises.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from simulator.errors import ConfigError

_TYPE_WORDS = {"Integer": "must be an integer", "Float": "must be a number",
               "Boolean": "must be true or false", "str": "must be a string"}


def config_error_from(exc: BaseException, schema: Any = None) -> ConfigError:
    """Turn a Hydra composition or OmegaConf error into a one-line ConfigError."""
    if isinstance(exc, ConfigError):
        return exc
    text = str(exc)
    options = getattr(exc, "options", None)
    missing = re.search(r"Could not find '([^']+)/([^']+)'", text)
    if missing and options is not None:
        group, option = missing.groups()
        allowed = ", ".join(sorted(options)) or "(none)"
        return ConfigError(group, option, f"no such option; allowed: {allowed}")
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    key = getattr(cause, "full_key", None)
    override = re.search(r"(?:override|use) \+?([\w.~]+)=(\S+)", text)
    value = override.group(2) if override else None
    ambiguous = re.search(r"Ambiguous value for argument '([\w.]+)=(.*)'", text)
    if ambiguous:
        return ConfigError(ambiguous.group(1), ambiguous.group(2),
                           "several values: add -m (--multirun) to sweep over them, or "
                           "write [a,b] for a list")
    cause_text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    if key:
        if key.startswith("failures.components.") and "not in struct" in cause_text:
            return ConfigError("failures.components", value, "a component is added with "
                               "+failures.components.<name>={scope: ..., mtbf_hours: ...} "
                               "(one override per component), or in a failures YAML")
        if "not in" in cause_text or "not in struct" in cause_text:
            return ConfigError(key, value, f"unknown key; {known_keys_note(key, schema)}")
        if "not Optional" in cause_text:
            return ConfigError(key, "null", "must be set (null is not allowed here)")
        if "missing mandatory value" in cause_text.lower():
            return ConfigError(key, "???", "must be set")
        converted = re.search(r"Value '(.*)' of type '\w+' could not be converted to (\w+)",
                              cause_text)
        if converted:
            bad, target = converted.groups()
            return ConfigError(key, bad, _TYPE_WORDS.get(target, f"must be a {target}"))
        return ConfigError(key, value, cause_text)
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return ConfigError("override", value if value is not None else "?", first_line)


def known_keys_note(full_key: str, schema: Any) -> str:
    """'known keys in cluster: accelerator, gpus, ...' for the schema node above full_key."""
    node: Any = schema
    if node is None:
        return "see the README's configuration reference"
    parts = full_key.split(".")[:-1]
    for part in parts:
        fields = {f.name: f for f in dataclasses.fields(node)}
        if part not in fields or not dataclasses.is_dataclass(fields[part].default_factory):
            return "see the README's configuration reference"
        node = fields[part].default_factory
    where = ".".join(parts) or "the top level"
    return f"known keys in {where}: " + ", ".join(f.name for f in dataclasses.fields(node))


def blame_override(overrides: list[str], exc: BaseException) -> ConfigError | None:
    """The ConfigError for the override that Hydra could not parse or resolve, if any."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text in overrides:
        key, _, value = text.partition("=")
        key = key.lstrip("+~")
        try:
            parser.parse_overrides([text])
        except Exception as parse_error:
            reason = str(parse_error).splitlines()[0] if str(parse_error) else "syntax error"
            return ConfigError(key, value, f"cannot be parsed ({reason}); quote values with "
                               "special characters, e.g. key='a b'")
        if value == "null" and "group override" in str(exc):
            return ConfigError(key, value, "a config group needs an option name, not null "
                               "(see --help for the options)")
        if "group override must be a string" in str(exc) and key in _groups() \
                and _is_number(value):
            return ConfigError(key, value, "a config group needs an option name, not a "
                               "number (see --help for the options)")
    return None


def _groups() -> set[str]:
    """The config groups: the schema's sections (cluster=, failures=, ...)."""
    from simulator.config.schema import Config

    return {f.name for f in dataclasses.fields(Config)
            if dataclasses.is_dataclass(f.default_factory)}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def null_parent(overrides: list[str], exc: BaseException, schema: Any) -> ConfigError | None:
    """The override that sets a key below a node that is null in this configuration
    (`workload.model.layers=10` on a fixed-step workload, whose `workload.model` is
    null): OmegaConf says only "Unexpected type for root: NoneType"."""
    whole = "'NoneType' object has no attribute 'get'" in str(exc)  # the node set whole
    if "Unexpected type for root" not in str(exc) and not whole:
        return None
    for text in overrides:
        key, _, value = text.partition("=")
        parts = key.lstrip("+~").split(".")
        node = schema
        for depth, part in enumerate(parts if whole else parts[:-1]):
            fields = {f.name: f for f in dataclasses.fields(node)} \
                if dataclasses.is_dataclass(node) else {}
            if part not in fields:
                break
            field = fields[part]
            if field.default_factory is dataclasses.MISSING:  # a nullable node
                parent = ".".join(parts[:depth + 1])
                hint = (" (a fixed-step workload has no model); choose a model workload, "
                        "e.g. workload=llama3_70b" if parent == "workload.model" else
                        "; set it whole first")
                return ConfigError(key.lstrip("+~"), value,
                                   f"{parent} is null in this configuration{hint}")
            node = field.default_factory
    return None
