"""A sweep's jobs derived from one composition per group choice equal Hydra's own.

`ComposeOnce` (simulator/experiments/results_compose.py) composes once per combination
of config-group choices and derives each job from a copy by applying its value
overrides as Hydra does. Here every job of several sweeps is composed both ways, Hydra's
`ConfigLoaderImpl.load_sweep_config` and the derivation, from the same master
configuration (composed as `python -m simulator -m ...` composes it), and the two are
compared: the YAML of the whole configuration (the `hydra` node included, unresolved),
the `hydra` node's own YAML, every node's type, flags and metadata, and the resolver
cache. The counters say which jobs were derived; what the derivation cannot prove equal
is composed by Hydra (its errors included).
"""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest
from hydra import initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import Container, DictConfig, ListConfig, OmegaConf

from simulator.config.validate import config_dir
from simulator.experiments import results_compose
from simulator.experiments.results_compose import ComposeOnce


@pytest.fixture()
def hydra_loader():
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3",
                               job_name="trainsim"):
        yield GlobalHydra.instance()


def _master(instance: GlobalHydra, arguments: list[str]) -> DictConfig:
    """The sweep's own configuration, as Hydra's multirun composes it."""
    return instance.hydra.compose_config("config", arguments, run_mode=RunMode.MULTIRUN)


def _jobs(master: DictConfig) -> list[list[str]]:
    """Every job's overrides, as Hydra's basic sweeper splits the command line."""
    parser = OverridesParser.create()
    task = OmegaConf.to_container(master.hydra.overrides.task)
    overrides = parser.parse_overrides(task)
    return [list(job) for job in BasicSweeper.split_arguments(overrides, None)[0]]


def _fingerprint(node) -> object:
    """Every node's class, metadata and flags, and every value, unresolved."""
    meta = node._metadata
    head = (type(node).__name__, str(meta.ref_type), str(meta.object_type), meta.optional,
            meta.key, sorted((meta.flags or {}).items()),
            str(getattr(meta, "element_type", None)), str(getattr(meta, "key_type", None)))
    content = node._content if isinstance(node, Container) else node._value()
    if isinstance(node, DictConfig) and isinstance(content, dict):
        return head, [(key, _fingerprint(value)) for key, value in content.items()]
    if isinstance(node, ListConfig) and isinstance(content, list):
        return head, [_fingerprint(value) for value in content]
    return head, repr(content)


def _assert_same(derived: DictConfig, hydra: DictConfig) -> None:
    assert OmegaConf.to_yaml(derived, resolve=False) == OmegaConf.to_yaml(hydra, resolve=False)
    assert OmegaConf.to_yaml(derived.hydra, resolve=False) == \
        OmegaConf.to_yaml(hydra.hydra, resolve=False)
    assert _fingerprint(derived) == _fingerprint(hydra)
    assert OmegaConf.get_cache(derived) == OmegaConf.get_cache(hydra)


def _both_ways(instance: GlobalHydra, arguments: list[str]) -> ComposeOnce:
    """Compose every job of the sweep `arguments` with Hydra and with ComposeOnce (its
    up-front request and the launcher's), assert they are the same; the ComposeOnce."""
    loader = instance.config_loader()
    master = _master(instance, arguments)
    jobs = _jobs(master)
    assert len(jobs) > 1
    once = ComposeOnce(loader, keep=True)
    for job in jobs:  # as Hydra's sweeper then its default launcher ask
        hydra = ConfigLoaderImpl.load_sweep_config(loader, master, job)
        _assert_same(once(master, job), hydra)
    for job in jobs:
        hydra = ConfigLoaderImpl.load_sweep_config(loader, master, job)
        _assert_same(once(master, job), hydra)
    return once


#: sweeps, with the number of distinct group-choice combinations among their jobs
SWEEPS = {
    "values only": (["name=ab", "checkpoint.interval_minutes=10,20,30", "replicates=5"], 1),
    "groups x values": (["name=g", "restart=hot_spares,spare_swap,in_process,elastic",
                         "checkpoint=fixed,async", "checkpoint.interval_minutes=5,10"], 8),
    "a value in the option a group choice swaps": (
        ["name=v", "failures=exponential,weibull", "failures.shape=2.0,3.0",
         "checkpoint=fixed,async", "checkpoint.interval_minutes=15"], 4),
    "an experiment (@package _global_ with overrides of the defaults)": (
        ["name=e", "+experiment=llama3_54d", "horizon_days=1,2",
         "checkpoint.interval_minutes=30,60", "storage=local_nvme,tectonic_llama3"], 2),
    "additions, deletions, lists, dicts": (
        ["name=a", "+tags=[a,b],[c]", "++seed=3,4", "~events", "+extra.nested=1",
         "efficiency.compute=0.5,0.6", "checkpoint={interval_minutes: 15}",
         "power.series=true"], 1),
    "interpolations": (
        ["name=i", "+derived=${seed}", "horizon_days=${replicates},7",
         "+when=${now:%Y}", "replicates=2"], 1),
    "hydra overrides on the command line": (
        ["name=h", "hydra.job.chdir=false", "hydra.job.env_copy=[HOME]",
         "hydra.job.config.override_dirname.exclude_keys=[seed]",
         "seed=1,2", "workload=fixed_step,llama3_70b"], 2),
    "a swept group and a group fixed for the sweep": (
        ["name=f", "cluster=dgx_h100_1k", "topology=dgx_h100_superpod,fat_tree_2to1",
         "cluster.gpus=1024,2048"], 2),
}


@pytest.mark.parametrize("sweep", sorted(SWEEPS))
def test_every_job_equals_hydras_composition(hydra_loader, sweep):
    arguments, combinations = SWEEPS[sweep]
    once = _both_ways(hydra_loader, arguments)
    jobs = len(_jobs(_master(hydra_loader, arguments)))
    assert once.derived == jobs  # none fell back: the second requests were kept copies
    assert once.hydra_compositions == combinations


def test_bases_pickle_cannot_name_are_deep_copied(hydra_loader, monkeypatch):
    """In a joblib worker a launcher plugin's schema class is imported again and pickle
    cannot name it: the base is deep-copied instead, with the same configurations."""
    def refuse(obj: object) -> bytes:
        raise pickle.PicklingError("not the same object")

    monkeypatch.setattr(results_compose, "pickle",
                        SimpleNamespace(dumps=refuse, loads=pickle.loads))
    arguments, combinations = SWEEPS["groups x values"]
    loader = hydra_loader.config_loader()
    master = _master(hydra_loader, arguments)
    once = ComposeOnce(loader, keep=False)
    for job in _jobs(master):
        _assert_same(once(master, job), ConfigLoaderImpl.load_sweep_config(loader, master,
                                                                           job))
    assert once.derived == len(_jobs(master)) and once.hydra_compositions == combinations


def test_a_user_config_dir_and_experiment(hydra_loader, tmp_path):
    """A search path from the command line (`--config-dir`, `config_dir=`): a user's own
    failures option and a global experiment that overrides a default and sets values."""
    (tmp_path / "failures").mkdir()
    (tmp_path / "failures" / "myfleet.yaml").write_text(
        "defaults:\n  - exponential\n  - _self_\nnode_mtbf_hours: 1234.5\n")
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /checkpoint: async\n"
        "horizon_days: 3\ncheckpoint:\n  interval_minutes: 7\n")
    once = _both_ways(hydra_loader, [
        f"hydra.searchpath=[file://{tmp_path}]", "name=u", "+experiment=mine",
        "failures=myfleet,exponential", "checkpoint.interval_minutes=9,11",
        "failures.node_mtbf_hours=100,200"])
    assert once.derived == 8 and once.hydra_compositions == 2


def _fails_alike(instance: GlobalHydra, master: DictConfig, job: list[str]) -> ComposeOnce:
    loader = instance.config_loader()
    once = ComposeOnce(loader, keep=False)
    with pytest.raises(Exception) as hydras:
        ConfigLoaderImpl.load_sweep_config(loader, master, job)
    with pytest.raises(Exception) as ours:
        once(master, job)
    assert type(ours.value) is type(hydras.value)
    assert str(ours.value) == str(hydras.value)
    assert str(ours.value.__cause__) == str(hydras.value.__cause__)
    return once


@pytest.mark.parametrize("job", [
    ["checkpoint.no_such_key=5"],  # a value override Hydra refuses
    ["+seed=5"],  # an addition of a key that exists
    ["~no_such_key"],  # a deletion of nothing
    ["failures=no_such_model", "seed=1"],  # a group option that does not exist
    ["seed=1,2"],  # a sweep inside a job
    ["restart=elastic", "checkpoint.interval_minutes=abc"],  # a value of the wrong type
])
def test_what_hydra_refuses_fails_with_hydras_error(hydra_loader, job):
    master = _master(hydra_loader, ["name=bad", "seed=1,2"])
    once = _fails_alike(hydra_loader, master, job)
    assert once.derived == 0


def test_a_job_overriding_hydra_is_composed_by_hydra(hydra_loader):
    loader = hydra_loader.config_loader()
    master = _master(hydra_loader, ["name=h", "seed=1,2"])
    once = ComposeOnce(loader, keep=False)
    for job in (["hydra.job.name=other", "seed=1"], ["+hydra.extra=1"],
                ["hydra/job_logging=default", "seed=2"]):
        _assert_same(once(master, job), ConfigLoaderImpl.load_sweep_config(loader, master,
                                                                           job))
    assert once.derived == 0 and once.hydra_compositions == 3


def test_env_copy_changed_by_a_value_is_composed_by_hydra(hydra_loader):
    """`hydra.job.env_copy` interpolating a task key a job sets: Hydra reads it after the
    value overrides, so that job is Hydra's to compose."""
    loader = hydra_loader.config_loader()
    master = _master(hydra_loader, ["hydra.job.env_copy=[${oc.select:extra_env,HOME}]",
                                    "name=env", "seed=1,2"])
    once = ComposeOnce(loader, keep=False)
    for job in (["name=env", "+extra_env=PATH"], ["name=env", "seed=2"]):
        _assert_same(once(master, job), ConfigLoaderImpl.load_sweep_config(loader, master,
                                                                           job))
    assert once.derived == 1  # the second job: env_copy is the base's
    assert once.hydra_compositions == 2  # the base, the first job


def test_a_base_hydra_refuses_leaves_its_jobs_to_hydra(hydra_loader):
    """The group choices alone do not compose (env_copy names the variable `name`, which
    every job sets and the base leaves at its timestamp): each job is Hydra's, and the
    base is tried once."""
    loader = hydra_loader.config_loader()
    master = _master(hydra_loader, ["hydra.job.env_copy=[${name}]", "name=HOME",
                                    "seed=1,2,3"])
    once = ComposeOnce(loader, keep=False)
    for job in _jobs(master):
        _assert_same(once(master, job), ConfigLoaderImpl.load_sweep_config(loader, master,
                                                                           job))
    assert once.derived == 0 and once.hydra_compositions == 1 + 3


def test_copies_shipped_to_a_worker_share_its_bases_for_the_sweep(hydra_loader):
    """joblib ships the loader with every job: the copies in one worker process compose
    each combination of group choices once for the sweep and derive the rest; another
    sweep's copies do not share them."""
    loader = hydra_loader.config_loader()
    master = _master(hydra_loader, ["name=s", "seed=1,2,3"])
    once = ComposeOnce(loader, keep=True)
    once(master, ["seed=1"])
    shipped = pickle.dumps(once)
    assert b"seed=1" not in shipped  # no configuration travels
    copies = [pickle.loads(shipped) for _ in range(3)]  # one per job, in one worker
    assert all(c._composed == {} and not c._keep for c in copies)
    for copy, seed in zip(copies, (1, 2, 3), strict=True):
        job = [f"seed={seed}"]
        _assert_same(copy(master, job), ConfigLoaderImpl.load_sweep_config(loader, master,
                                                                           job))
    composed = [c.hydra_compositions - once.hydra_compositions for c in copies]
    assert composed == [1, 0, 0]  # the worker's base, composed by the first copy
    other = pickle.loads(pickle.dumps(ComposeOnce(loader, keep=True)))  # another sweep
    _assert_same(other(master, ["seed=2"]),
                 ConfigLoaderImpl.load_sweep_config(loader, master, ["seed=2"]))
    assert other.hydra_compositions == 1


def test_each_job_carries_the_master_resolver_cache_of_its_request(hydra_loader):
    """Hydra copies the master configuration's resolver cache (`${now:...}` resolved
    once per sweep) into each job when it is composed: a value resolved after the base
    was composed reaches the later jobs too."""
    loader = hydra_loader.config_loader()
    stamp = "+stamp=${now:%f}"  # microseconds: a new value each time it is not cached
    master = _master(hydra_loader, [stamp, "seed=1,2"])
    once = ComposeOnce(loader, keep=False)
    _assert_same(once(master, [stamp, "seed=1"]),
                 ConfigLoaderImpl.load_sweep_config(loader, master, [stamp, "seed=1"]))
    cache = OmegaConf.get_cache(master)  # as if resolved again in the master configuration
    OmegaConf.set_cache(master, {**cache, "now": {**cache["now"], ("%f",): "later"}})
    second = once(master, [stamp, "seed=2"])
    _assert_same(second, ConfigLoaderImpl.load_sweep_config(loader, master,
                                                            [stamp, "seed=2"]))
    assert second.stamp == master.stamp == "later"
    assert once.derived == 2
