"""Composing a sweep's jobs cheaply, with the configurations Hydra itself would compose.

Hydra composes every job of a sweep from scratch (`ConfigLoaderImpl.load_sweep_config`:
the defaults-list tree, loading and merging every config file, then the command line's
value overrides): ~0.1 s of CPU warm, ~0.3 s cold, per job, and its sweeper composes each
job twice (once up front to refuse a bad one, once to run it). A 1,000-run sweep spent
more CPU composing than its replicates take.

`ComposeOnce` composes once per distinct combination of config-GROUP choices
(`restart=elastic`, `checkpoint=async`, `+experiment=llama3_54d`) and derives every job
that differs from it only in plain VALUE overrides (`checkpoint.interval_minutes=5`,
`+key=...`, `~key`, `key=[1,2]`) from a copy of that composition, doing what Hydra's
`_load_configuration_impl` does after it merges the defaults list: it applies the value
overrides with Hydra's own `_apply_overrides_to_config`, lists the job's overrides in
`hydra.overrides.task` in order, recomputes `hydra.job.override_dirname` with Hydra's
`get_overrides_dirname`, `hydra.job.env_set` and `hydra.runtime.cwd`, and copies the
master configuration's resolver cache. Why the copy equals Hydra's composition: Hydra's
defaults list depends on the group overrides (and the search path, the config name and
the `hydra.*` overrides) only, never on a value; the value overrides are applied after
the merge in their command-line order; and everything Hydra does between the two steps
and after them touches the `hydra` node only, which a job's value overrides may not
touch (a job with a `hydra...` override is composed by Hydra). tests/experiments/
test_compose_sweep.py composes every job of many sweeps both ways and compares them.

Anything it cannot derive is composed by Hydra, with Hydra's errors: an override Hydra
rejects (unknown key, a sweep in a job, a bad group option), an override of `hydra`,
`hydra.*` or `hydra/...`, a failure anywhere in the derivation, and `hydra.job.env_copy`
changed by a value override (an interpolation).
"""

from __future__ import annotations

import copy
import functools
import os
import pickle
import uuid
from collections.abc import Callable
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf, open_dict

#: How a base composition is found again: the config name, the master configuration's
#: `hydra.*` overrides and the job's group overrides, in order.
_BaseKey = tuple[str | None, tuple[str, ...], tuple[str, ...]]


#: The bases composed in this process by copies shipped to it, per sweep (the sweep's
#: own ComposeOnce's id), for the most recent few sweeps: a worker process composes
#: each combination of group choices once per sweep, not once per job.
_SHIPPED: dict[str, tuple[dict, dict]] = {}
_SHIPPED_SWEEPS = 4


class ComposeOnce:
    """Hydra's `load_sweep_config` (same signature, same configurations), composing once
    per combination of group choices and deriving each job from a copy of it; and, with
    `keep`, composing each job once per sweep.

    keep: Hydra's sweepers compose every job up front to refuse a bad one before any job
    runs (`Sweeper.validate_batch_is_legal`), then the default launcher composes it again
    to run it; with `keep` the first configuration of each job's overrides is kept
    (pickled: ~25 kB, ~1-10 ms to restore) and handed to the second request. Only for a
    launcher that asks twice in this process (else kept copies would pile up).
    Pickled to another process (joblib's, Ray's, submitit's workers) it carries no
    configuration; the copies shipped to one process share the bases composed there for
    the same sweep, so a worker composes each combination of group choices once and
    derives its jobs (a process that runs one job, e.g. a SLURM array task's, composes
    its base: one composition, as Hydra's).
    """

    def __init__(self, loader: Any, keep: bool = True) -> None:
        self._loader = loader
        self._composed: dict[tuple[str, ...], bytes] = {}
        self._keep = keep
        #: each combination of group choices, composed by Hydra: a maker of fresh copies
        #: and its hydra.job.env_copy (None: Hydra refused it)
        self._bases: dict[_BaseKey, tuple[Callable[[], DictConfig], list[Any]] | None] = {}
        #: whether a key names a config group, per (config name, hydra overrides)
        self._groups: dict[tuple[str | None, tuple[str, ...]], tuple[Any, dict]] = {}
        self._sweep = uuid.uuid4().hex  # the sweep whose bases a shipped copy shares
        self.hydra_compositions = 0  # Hydra's own compositions (bases and fall-backs)
        self.derived = 0  # jobs derived from a base

    def __call__(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = tuple(sweep_overrides)
        kept = self._composed.pop(key, None)
        if kept is not None:
            return pickle.loads(kept)
        config = self._derived(master_config, list(sweep_overrides))
        if config is None:
            config = self._hydra(master_config, list(sweep_overrides))
        if self._keep:
            self._composed[key] = pickle.dumps(config)
        return config

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_composed": {}, "_keep": False, "_bases": {},
                "_groups": {}}

    def __setstate__(self, state: dict) -> None:
        """In a worker (or a copy in this process): the bases composed there for this
        sweep are shared by every copy shipped there (joblib ships one per job)."""
        self.__dict__.update(state)
        shared = _SHIPPED.pop(self._sweep, None) or ({}, {})
        _SHIPPED[self._sweep] = shared  # the most recent sweeps last
        while len(_SHIPPED) > _SHIPPED_SWEEPS:
            _SHIPPED.pop(next(iter(_SHIPPED)))
        self._bases, self._groups = shared

    def _hydra(self, master_config: DictConfig, overrides: list[str]) -> DictConfig:
        """Hydra's own composition of a job (raises Hydra's errors)."""
        self.hydra_compositions += 1
        return type(self._loader).load_sweep_config(self._loader, master_config, overrides)

    def _derived(self, master: DictConfig, overrides: list[str]) -> DictConfig | None:
        """The job's configuration from a copy of its group choices' composition, or None
        where that is not proven equal to Hydra's (the caller composes it with Hydra)."""
        try:
            config_name = master.hydra.job.config_name
            hydra_overrides = tuple(OmegaConf.to_container(master.hydra.overrides.hydra))
            parsed = OverridesParser.create().parse_overrides(overrides=overrides)
            split = self._split(config_name, hydra_overrides, parsed)
        except Exception:  # Hydra composes it and says what is wrong
            return None
        if split is None:
            return None
        groups, values = split
        try:
            base = self._base(master, (config_name, hydra_overrides, groups))
            if base is None:
                return None
            copied, env_copy = base
            cfg = copied()
            _finish(cfg, values, parsed, env_copy)
        except Exception:
            return None
        OmegaConf.copy_cache(from_config=master, to_config=cfg)
        self.derived += 1
        return cfg

    def _split(self, config_name: str | None, hydra_overrides: tuple[str, ...],
               parsed: list[Override]) -> tuple[tuple[str, ...], list[Override]] | None:
        """The job's group overrides (their text) and value overrides, as Hydra's defaults
        list tells them apart (`defaults_list.Overrides`: a value override is a dict or a
        key that is not a config group of the repository this composition searches);
        None for a job this does not derive (a sweep, an override of hydra)."""
        repo, known = self._repository(config_name, hydra_overrides)
        groups: list[str] = []
        values: list[Override] = []
        for override in parsed:
            group = override.key_or_group
            if override.is_sweep_override() or group == "hydra" \
                    or group.startswith(("hydra.", "hydra/")):
                return None
            if group not in known:
                known[group] = repo.group_exists(group)
            if isinstance(override.value(), dict) or not known[group]:
                values.append(override)
            else:
                groups.append(override.input_line)
        return tuple(groups), values

    def _repository(self, config_name: str | None,
                    hydra_overrides: tuple[str, ...]) -> tuple[Any, dict]:
        """The config repository Hydra composes this sweep's jobs from: its search path
        comes from the config and the `hydra.*` overrides (a job has none here)."""
        key = (config_name, hydra_overrides)
        if key not in self._groups:
            _, repo = self._loader._parse_overrides_and_create_caching_repo(
                config_name, list(hydra_overrides))
            self._groups[key] = (repo, {})
        return self._groups[key]

    def _base(self, master: DictConfig,
              key: _BaseKey) -> tuple[Callable[[], DictConfig], list[Any]] | None:
        """Hydra's composition of the job's group overrides alone (a fresh copy of it per
        call of the first item), with its
        `hydra.job.env_copy`; None if Hydra refused it (each of its jobs is then composed
        by Hydra: it may still compose, e.g. `name` set by every job, or fail as Hydra's)."""
        if key not in self._bases:
            self._bases[key] = None  # tried once: its jobs are then Hydra's to compose
            cfg = self._hydra(master, list(key[2]))
            env_copy = OmegaConf.to_container(cfg.hydra.job.env_copy, resolve=True)
            self._bases[key] = (_copier(cfg), env_copy)
        return self._bases[key]


def _copier(cfg: DictConfig) -> Callable[[], DictConfig]:
    """Fresh copies of `cfg`: from its pickle (~5x faster than a deep copy), else deep
    copies (in a joblib worker a launcher plugin's schema class is imported again and
    pickle cannot name it)."""
    try:
        data = pickle.dumps(cfg)
    except Exception:
        return functools.partial(copy.deepcopy, cfg)
    return functools.partial(pickle.loads, data)


def _finish(cfg: DictConfig, values: list[Override], parsed: list[Override],
            env_copy: list[Any]) -> None:
    """What Hydra's `_load_configuration_impl` does to a job's configuration after merging
    its defaults list, on a copy of the composition of the job's group overrides: apply
    the value overrides in order, then redo what depends on them or on the moment."""
    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
    if OmegaConf.to_container(cfg.hydra.job.env_copy, resolve=True) != env_copy:
        raise ValueError("hydra.job.env_copy depends on a value override")
    task = cfg.hydra.overrides.task
    del task[:]
    for override in parsed:  # every override here is the task's (no hydra overrides)
        task.append(override.input_line)
    with open_dict(cfg.hydra):
        for key in cfg.hydra.job.env_copy:
            cfg.hydra.job.env_set[key] = os.environ[key]
    cfg.hydra.runtime.cwd = os.getcwd()
    dirname = cfg.hydra.job.config.override_dirname
    cfg.hydra.job.override_dirname = get_overrides_dirname(
        overrides=parsed, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep,
        exclude_keys=dirname.exclude_keys)


def compose_once(on: bool = True, keep: bool = True) -> None:
    """Install (or remove) `ComposeOnce` on the running Hydra's config loader, the one the
    sweeper and the launchers compose with in this process. keep: the launcher composes
    each job again in this process (Hydra's default launcher)."""
    if not GlobalHydra.instance().is_initialized():
        return
    loader = GlobalHydra.instance().config_loader()
    if on:
        loader.load_sweep_config = ComposeOnce(loader, keep)
    else:
        loader.__dict__.pop("load_sweep_config", None)
