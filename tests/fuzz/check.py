"""The properties every input must have, and a guard against hangs and memory blow-ups.

An input is answered cleanly when `simulate()` either raises a `ConfigError` whose str()
is one line naming a config key, or returns rows that make sense: every numeric column
finite except where the README documents NaN (Summary columns, Configuration columns),
the six ledger categories summing to `horizon_h` and the goodput in [0, 1].
TrainsimWarnings are allowed; a RuntimeWarning (numeric overflow, ...) is not.
"""

from __future__ import annotations

import contextlib
import math
import resource
import signal
import warnings
from collections.abc import Iterator

import pandas as pd
from hypothesis import note
from hypothesis.errors import InvalidArgument

from simulator import simulate
from simulator.errors import ConfigError, TrainsimWarning
from simulator.reliability.metrics import CATEGORIES
from tests.fuzz.keys import TOP_LEVEL

#: Per-example limits: longer is a hang (the work budget must refuse it up front).
WALL_S = 30.0
MEMORY_BYTES = 3 * 2**30  # above what the process already maps

#: Columns the README documents as NaN in some runs, and the condition that allows it
#: (a function of the row). Configuration columns of settings a run does not have are NaN
#: ("Configuration columns": "A setting the run does not have ... is empty (NaN)").
def _no_model(row: pd.Series) -> bool:
    return math.isnan(row["workload_model_params_b"])


def _no_power(row: pd.Series) -> bool:
    """No power model: the accelerator has no published figures (and none were set)."""
    return math.isnan(row["power_gpu_compute_w"])


def _no_price(row: pd.Series) -> bool:
    return math.isnan(row["cluster_gpu_hour_usd"])


NAN_WHEN = {
    # "NaN for a fixed-step workload"
    "tokens_per_s": _no_model, "mfu": _no_model, "effective_tokens_per_s": _no_model,
    # "NaN without tokens (a fixed-step workload) or without a budget"
    "time_to_train_days": lambda row: True,
    "usd_per_mtoken": lambda row: _no_model(row) or _no_price(row),
    "mwh_per_mtoken": lambda row: _no_model(row) or _no_power(row),
    # energy: board power from the catalog; cost: cluster.gpu_hour_usd or the catalog's
    "energy_mwh": _no_power, "lost_mwh": _no_power, "facility_peak_mw": _no_power,
    "facility_mean_mw": _no_power, "power_swing_mw": _no_power, "power_swings": _no_power,
    "smoothing_mwh": _no_power,
    "cost_usd": _no_price, "lost_usd": _no_price,
}
CONFIG_NAN = ("cluster_gpu_hour_usd", "workload_model_params_b",
              "workload_global_batch_tokens", "run_horizon_days", "run_work_h",
              "failures_gpu_mtbf_h", "failures_node_mtbf_h", "checkpoint_snapshot_min",
              "checkpoint_memory_write_min", "checkpoint_memory_load_min",
              "checkpoint_durable_every", "checkpoint_memory_group", "checkpoint_prior_mtbi_h",
              "checkpoint_size_tb", "restart_in_process_s", "restart_replica_gpus",
              "restart_replica_stall_min", "restart_min_replicas", "restart_catch_up_min",
              "failures_sdc_mtbf_h", "failures_sdc_detect_h", "failures_sdc_detect_shape",
              "checkpoint_keep", "checkpoint_keep_every", "power_gpu_compute_w",
              "power_gpu_comm_w", "power_gpu_idle_w", "power_host_busy_w",
              "power_host_idle_w", "power_switch_w", "power_switches",
              "power_cap_fraction", "power_mw_budget", "power_mw_over_budget",
              "power_floor_fraction", "power_ramp_mw_per_min", "power_battery_mwh",
              "storage_loader_gb_per_s", "storage_outage_mtbf_h", "storage_outage_min")
#: "infinite when nothing useful was done" (Summary columns); job_mtbi_h is infinite
#: when the failure model has no rate: failures=none (then nothing fails) or a trace
#: (its failures come from the file).
INF_WHEN = {
    "time_to_train_days": lambda row: row["useful_h"] == 0,
    "usd_per_mtoken": lambda row: row["useful_h"] == 0,
    "mwh_per_mtoken": lambda row: row["useful_h"] == 0,
    "job_mtbi_h": lambda row: row["failures"] == 0 or row["failures_kind"] == "trace",
    # a null storage bandwidth is unlimited (README "Storage and data loading")
    "storage_read_gb_per_s": lambda row: True, "storage_write_gb_per_s": lambda row: True,
    "storage_node_gb_per_s": lambda row: True, "storage_loader_gb_per_s": lambda row: True,
}


class Hang(BaseException):
    """An example ran past WALL_S (a BaseException: no `except Exception` swallows it)."""


@contextlib.contextmanager
def guard(wall_s: float = WALL_S, memory: int = MEMORY_BYTES) -> Iterator[None]:
    """Interrupt a run after `wall_s` seconds (Hang) and cap its new memory (MemoryError),
    so a hang or a huge allocation is a finding, not a stuck or swapping CI."""
    def alarm(signum, frame):
        raise Hang(f"still running after {wall_s:g} s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    cap = mapped + memory if hard == resource.RLIM_INFINITY else min(hard, mapped + memory)
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, wall_s)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run(overrides: list[str], wall_s: float = WALL_S
        ) -> tuple[pd.DataFrame | ConfigError, list[warnings.WarningMessage]]:
    """simulate(overrides) under the guard: the frame or the ConfigError, and the
    warnings raised. Any other exception propagates (a finding)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with guard(wall_s):
                outcome: pd.DataFrame | ConfigError = simulate(overrides, progress=False)
        except ConfigError as error:
            outcome = error
    return outcome, list(caught)


def check_error(error: ConfigError, overrides: list[str] = ()) -> None:
    """One line, `<key>=<value>: <allowed>`, naming a config key (or one of its children,
    e.g. `failures.components.nic.mtbf_hours`), or the unknown key given."""
    message = str(error)
    assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    assert error.key and message.startswith(f"{error.key}="), f"no key first: {message!r}"
    key = str(error.key).lstrip("+~")
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    named = key.split(".")[0] in TOP_LEVEL or any(
        g == key or g.startswith(f"{key}.") for g in given)
    assert named, f"{error.key!r} is not a config key: {message!r}"
    assert error.allowed and str(error.allowed).strip(), f"nothing allowed: {message!r}"


def check_warnings(caught: list[warnings.WarningMessage]) -> None:
    """TrainsimWarnings are answers; a RuntimeWarning is arithmetic gone wrong."""
    bad = [w for w in caught if issubclass(w.category, RuntimeWarning)
           and not issubclass(w.category, TrainsimWarning)]
    assert not bad, "; ".join(f"{w.category.__name__}: {w.message}" for w in bad)


def check_frame(frame: pd.DataFrame) -> None:
    """Every row: finite numbers except where documented, the ledger sums to the horizon,
    goodput in [0, 1]."""
    assert len(frame) >= 1, "no rows"
    numeric = [c for c in frame.columns
               if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool]
    for _, row in frame.iterrows():
        for column in numeric:
            value = float(row[column])
            if math.isnan(value):
                ok = column in CONFIG_NAN or NAN_WHEN.get(column, lambda r: False)(row)
                assert ok, f"{column} is NaN"
            elif math.isinf(value):
                ok = value > 0 and INF_WHEN.get(column, lambda r: False)(row)
                assert ok, f"{column} is {value}"
        horizon = row["horizon_h"]
        assert horizon > 0, f"horizon_h={horizon}"
        total = sum(row[f"{c}_h"] for c in CATEGORIES)
        assert math.isclose(total, horizon, rel_tol=1e-9, abs_tol=1e-12), (
            f"ledger sums to {total!r}, horizon_h={horizon!r}")
        for c in CATEGORIES:
            assert row[f"{c}_h"] >= -1e-9 * horizon, f"{c}_h={row[f'{c}_h']}"
        assert 0.0 <= row["goodput"] <= 1.0, f"goodput={row['goodput']}"
        if math.isnan(row["run_work_h"]):  # a horizon run lasts its horizon
            assert math.isclose(horizon, row["run_horizon_days"] * 24, rel_tol=1e-9), (
                f"horizon_h={horizon}, run_horizon_days={row['run_horizon_days']}")


def check(overrides: list[str], wall_s: float = WALL_S) -> str:
    """Run `overrides` and assert a clean answer; 'error', 'warning' or 'run'."""
    with contextlib.suppress(InvalidArgument):  # outside a hypothesis test: no notes
        note(f"overrides: {' '.join(overrides)}")
    outcome, caught = run(overrides, wall_s)
    check_warnings(caught)
    if isinstance(outcome, ConfigError):
        check_error(outcome, overrides)
        return "error"
    check_frame(outcome)
    return "warning" if any(issubclass(w.category, TrainsimWarning) for w in caught) else "run"
