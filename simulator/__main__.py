"""Command line: `python -m simulator [overrides]` or `trainsim [overrides]`.

One run (all its replicates) prints a summary and writes `results/<name>/summary.csv`;
`-m` (Hydra multirun) runs a sweep and gathers `results/<name>/runs.csv`. Running an
interrupted sweep's command again reuses its complete runs (simulator/experiments/results.py).
Configuration errors print one line and exit with status 2.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

import simulator
from simulator.api import to_scenario
from simulator.config.validate import config_dir, explain
from simulator.elaborate import over_budget
from simulator.errors import ConfigError, TrainsimWarning, print_config_error
from simulator.experiments.budget import check_budget
from simulator.experiments.feasibility import result_warnings, scenario_warnings
from simulator.experiments.feasibility import warn as feasibility_warn
from simulator.experiments.outputs import (
    SUMMARY_FILE,
    clear_run,
    format_profile,
    format_summary,
    read_complete_summary,
    save_run,
)
from simulator.experiments.progress import close_progress, progress_enabled
from simulator.experiments.results import StartRefused, config_digest
from simulator.experiments.runner import ReplicateResult, run_rows
from simulator.experiments.table import Rows
from simulator.experiments.timeline import write_timeline
from simulator.fabric.memory import memory_line
from simulator.reliability.metrics import CONFIG_COLUMNS
from simulator.reliability.scenario import Scenario
from simulator.units import DAY, HOUR

if TYPE_CHECKING:  # a single run imports no pandas (simulator/experiments/table.py)
    import pandas as pd

#: Config groups a user swaps; their chosen option becomes a column of every row.
GROUPS = ("cluster", "topology", "failures", "checkpoint", "restart", "workload", "storage")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C



def replicas_note(scenario) -> str:
    """' (R replicas of G GPUs)' for restart=per_replica, else ''."""
    r, c = scenario.restart, scenario.cluster
    if r.replica_nodes is None:
        return ""
    return (f" ({c.nodes // r.replica_nodes:,} replicas of "
            f"{r.replica_nodes * c.gpus_per_node:,} GPUs)")

def write_trace_hosts(run_dir: Path, scenario: Scenario) -> None:
    """trace_hosts.csv: a trace's host names and the node index each replays on."""
    hosts = scenario.failures.trace_hosts
    if hosts:
        import pandas as pd

        pd.DataFrame({"host": hosts, "node": range(len(hosts))}).to_csv(
            run_dir / "trace_hosts.csv", index=False)


def with_config_columns(frame: Rows, cfg: DictConfig, hydra_cfg) -> Rows:
    """Prefix the summary with the chosen group options and every overridden value.

    A group's choice is the column `<group>_config` (e.g. `checkpoint_config=young_daly`);
    an overridden value keeps its key (e.g. `checkpoint.interval_minutes`).
    """
    columns: dict[str, object] = {}
    choices = hydra_cfg.runtime.choices
    for group in GROUPS:
        columns[f"{group}_config"] = choices.get(group)
    for override in hydra_cfg.overrides.task:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in GROUPS or key in frame.columns or key == "name" or key.startswith("hydra"):
            continue
        if key in choices:  # another config group, e.g. +experiment=llama3_54d
            columns[f"{key}_config"] = choices.get(key)
            continue
        columns[key] = OmegaConf.select(cfg, key)
    return frame.with_front(columns)


_task_started = False  # set once Hydra has composed a config and called the task


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def _run(cfg: DictConfig) -> float:
    global _task_started
    _task_started = True
    hydra_cfg = HydraConfig.get()
    try:
        return _run_and_report(cfg, hydra_cfg)
    except BrokenPipeError:  # `trainsim ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def _run_and_report(cfg: DictConfig, hydra_cfg) -> float:
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if multirun:  # a resumed sweep: this run may be done already (no validation, no simulation)
        done = _finished_run(cfg, run_dir)
        if done is not None:
            goodput = float(done["goodput"].mean())
            print(f"  goodput {goodput:.4f}  ({len(done)} replicates, reused) -> "
                  f"{run_dir / SUMMARY_FILE}")
            return goodput
    try:
        with warnings.catch_warnings(record=True) as caught:  # validation's (a trace's)
            scenario = to_scenario(cfg, list(hydra_cfg.overrides.task))
        check_budget(scenario)  # refuse a run past max_events before touching its folder
        excess = over_budget(scenario)  # one run: an error; a sweep: a column and a warning
        if excess is not None and not multirun:
            raise excess
    except ConfigError as error:
        if multirun:
            raise  # Hydra names the failing job; main() prints the error
        _exit_with(error)
    job = f"job #{hydra_cfg.job.num}: " if multirun else ""  # the number Hydra's log shows
    for record in caught:
        if not issubclass(record.category, TrainsimWarning):
            warnings.showwarning(record.message, record.category, record.filename,
                                 record.lineno)
    print_warnings([str(r.message) for r in caught
                    if issubclass(r.category, TrainsimWarning)]
                   + scenario_warnings(scenario)
                   + ([] if excess is None else [f"over the power budget: {excess}"]), job)
    clear_run(run_dir)
    events: list[pd.DataFrame] | None = [] if cfg.events else None
    power: list[pd.DataFrame] | None = [] if scenario.power_series else None
    timelines: list[ReplicateResult] | None = [] if scenario.timeline else None
    # replicate bars on a terminal outside CI, from the process that owns it (not joblib's
    # workers: their bars would overwrite one another)
    progress = multiprocessing.parent_process() is None and progress_enabled()
    frame = with_config_columns(run_rows(scenario, progress=progress, events=events,
                                         power=power, timelines=timelines),
                                cfg, hydra_cfg)
    if timelines:  # before the summary: a run is complete once summary.csv is written
        write_timeline(run_dir, timelines)
    out = save_run(run_dir, frame, config_digest(cfg), *_concat(events, power))
    write_trace_hosts(run_dir, scenario)
    goodput = frame.mean("goodput")
    if multirun:
        print(f"  goodput {goodput:.4f}  ({len(frame)} replicates) -> {out}")
        print_warnings(result_warnings(frame), job)
    else:
        c = scenario.cluster
        length = (f"{scenario.horizon_s / DAY:g} days" if scenario.work_s is None
                  else f"until {scenario.work_s / HOUR:g} useful hours")
        fabric = (f" on topology={choices(hydra_cfg, 'topology')} ({scenario.fabric.builder})"
                  if uses_fabric(scenario) else "")
        print(f"trainsim: {c.gpus:,} {c.accelerator} ({c.nodes:,} node{'s' * (c.nodes != 1)}"
              f" + {c.spares_note()}){fabric}, {length}, "
              f"failures={choices(hydra_cfg, 'failures')}, "
              f"checkpoint={choices(hydra_cfg, 'checkpoint')} "
              f"every {frame.column('interval_min')[0]:.1f} min, "
              f"restart={choices(hydra_cfg, 'restart')}{replicas_note(scenario)}, "
              f"{scenario.replicates} replicate(s), seed {scenario.seed}")
        if scenario.profile is not None:
            print(format_profile(scenario.profile, scenario.step_s,
                                 memory_line(scenario.workload, c.accelerator)))
        ckpt = scenario.checkpoint
        if ckpt.size_bytes is not None:
            print(f"checkpoint {ckpt.size_bytes / 1e12:.2f} TB (the model's weights and "
                  f"optimizer state): write {ckpt.write_s:.1f} s, load {ckpt.load_s:.1f} s")
        print(format_summary(frame))
        print(f"-> {out}")
        print_warnings(result_warnings(frame))
    return goodput  # the objective for sweepers that optimise


def _concat(*tables: list[pd.DataFrame] | None) -> list[pd.DataFrame | None]:
    """Each list of replicates' tables (events, power) as one table; None for None (the
    run did not ask for it) or an empty list (nothing to write)."""
    if not any(tables):
        return [None] * len(tables)
    import pandas as pd

    return [pd.concat(t, ignore_index=True) if t else None for t in tables]


def print_warnings(messages: list[str], job: str = "") -> None:
    """Issue each message as a TrainsimWarning and print it as one line on stderr.

    Goes through `warnings` so that filters (`-W ignore::UserWarning`) apply; a fresh
    catch_warnings per call shows a message again in the next job of a sweep.
    """
    with warnings.catch_warnings(record=True) as caught:
        feasibility_warn(messages)
    sys.stdout.flush()  # keep the order of stdout and stderr on a terminal
    for record in caught:
        if issubclass(record.category, TrainsimWarning):
            print(f"trainsim: warning: {job}{record.message}", file=sys.stderr, flush=True)
        else:
            warnings.showwarning(record.message, record.category, record.filename,
                                 record.lineno)


def _finished_run(cfg: DictConfig, run_dir: Path) -> pd.DataFrame | None:
    """The summary an earlier attempt of this very run completed in `run_dir`, if any."""
    try:
        digest = config_digest(cfg)
    except Exception:  # unresolvable: to_scenario will say what is wrong
        return None
    done = read_complete_summary(run_dir, digest, events=bool(cfg.events),
                                 power=bool(cfg.power.series), timeline=bool(cfg.timeline))
    if done is not None and not set(CONFIG_COLUMNS) <= set(done.columns):
        return None  # written before rows carried their configuration: run it again
    return done


def uses_fabric(scenario: Scenario) -> bool:
    """Whether the topology matters to this run: a model's step time, or failure domains
    (a fixed-step workload without switch, rack, scaleup or link failures never builds it)."""
    return scenario.profile is not None or scenario.failures.domains is not None


def choices(hydra_cfg, group: str) -> str:
    return str(hydra_cfg.runtime.choices.get(group))


def main() -> None:
    """Console-script entry: run Hydra, turn configuration errors into one line + exit 2.

    Anything raised before the task starts comes from composing the configuration, so it
    is the user's input; after that only ConfigErrors are (the rest are bugs: traceback).
    Ctrl-C prints how to resume and exits 130.
    """
    if "--version" in sys.argv[1:] or "-V" in sys.argv[1:]:  # ours, not Hydra's
        print(version_line())
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's printer
    _register_launchers()
    try:
        _run()
    except StartRefused as refused:  # `name` or the sweep's folder, before Hydra made any
        close_progress()
        _exit_with(refused.error)
    except KeyboardInterrupt:
        close_progress()  # end the sweep's bar before printing below it
        print("trainsim: interrupted (a sweep resumes when run again with the same command)",
              file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        close_progress()
        if os.environ.get("TRAINSIM_DEBUG") == "1":
            raise
        if isinstance(exc, ConfigError) or not _task_started:
            overrides = [a for a in sys.argv[1:] if "=" in a and not a.startswith("-")]
            _exit_with(explain(exc, overrides))
        raise


def _register_launchers() -> None:
    """trainsim's launchers (`hydra/launcher=laptop`, `slurm`, `ray_cluster`) for Hydra.

    Hydra finds plugins by walking the folders of the `hydra_plugins` package, which an
    editable install (`pip install -e .`) does not expose: there `hydra/launcher=laptop`
    failed with "Unknown plugin class". `Plugins.register` is Hydra's documented way to
    add one by hand; for a launcher the scan did find it changes nothing.
    """
    from hydra.core.plugins import Plugins

    from hydra_plugins.trainsim_launchers import launchers

    for launcher in (launchers.LaptopLauncher, launchers.SlurmLauncher,
                     launchers.RayLauncher):
        Plugins.instance().register(launcher)


def version_line() -> str:
    """`trainsim --version`: trainsim's version, then Hydra's and Python's (for reports)."""
    return (f"trainsim {simulator.version()} (hydra-core {hydra.__version__}, "
            f"Python {platform.python_version()})")


def _exit_with(error: ConfigError) -> None:
    sys.exit(print_config_error(error))


if __name__ == "__main__":
    main()
