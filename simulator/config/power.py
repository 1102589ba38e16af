"""Validation of the `power` part of the config -> the accelerator's PowerModel with the
user's figures on top (simulator/fabric/power.py has the published ones and sources)."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from simulator.errors import ConfigError, require_positive
from simulator.fabric.power import PowerModel, cap_slowdown, power_model
from simulator.reliability.smoothing import Smoothing
from simulator.units import HOUR, MINUTE

if TYPE_CHECKING:
    from simulator.config.schema import PowerConfig

#: The figures of a PowerModel a user may set (watts).
FIGURES = ("gpu_compute_w", "gpu_comm_w", "gpu_idle_w", "host_busy_w", "host_idle_w",
           "switch_w")


def power_from(p: PowerConfig, accelerator: str, gpus_per_node: int) -> PowerModel | None:
    """The accelerator's power model for nodes of `gpus_per_node`, with the figures `p`
    sets (host figures per such node); None if the accelerator has none published and
    `p` sets none (then the power columns are nan). A published host figure for another
    node size scales with the GPUs (`PowerModel.host_w_per_gpu`)."""
    given = {key: getattr(p, key) for key in FIGURES if getattr(p, key) is not None}
    for key, value in given.items():
        if isinstance(value, bool) or not (math.isfinite(value) and 0 <= value <= 1e5):
            raise ConfigError(f"power.{key}", value, "must be watts in [0, 100000]")
    require_positive("power.swing_threshold_mw", p.swing_threshold_mw)
    if not math.isfinite(p.swing_threshold_mw):
        raise ConfigError("power.swing_threshold_mw", p.swing_threshold_mw,
                          "must be a finite number of MW")
    model = power_model(accelerator)
    if model is None:
        missing = [key for key in FIGURES if key not in given]
        if not given:
            return None
        if missing:
            raise ConfigError(f"power.{missing[0]}", None,
                              f"{accelerator} has no published power figures: set all of "
                              f"power.{', power.'.join(FIGURES)}")
        return PowerModel(accelerator, **given, sources="set in the configuration",
                          gpus_per_node=gpus_per_node)
    if model.gpus_per_node != gpus_per_node:
        model = dataclasses.replace(
            model, host_busy_w=model.host_w_per_gpu(True) * gpus_per_node,
            host_idle_w=model.host_w_per_gpu(False) * gpus_per_node,
            gpus_per_node=gpus_per_node, system_max_w=None)
    model = dataclasses.replace(model, **given)
    if p.cap_fraction is not None:
        model = capped(model, p.cap_fraction)
    m = model
    if not m.gpu_idle_w <= m.gpu_comm_w <= m.gpu_compute_w:
        raise ConfigError("power.gpu_comm_w", m.gpu_comm_w,
                          f"must lie between power.gpu_idle_w={m.gpu_idle_w:g} and "
                          f"power.gpu_compute_w={m.gpu_compute_w:g} (W per accelerator)")
    if m.host_idle_w > m.host_busy_w:
        raise ConfigError("power.host_idle_w", m.host_idle_w,
                          f"must be at most power.host_busy_w={m.host_busy_w:g}")
    return model


def cap_factor(p: PowerConfig, accelerator: str) -> float:
    """The step-time factor of `power.cap_fraction` (1 without a cap): the accelerator's
    measured throughput-versus-cap curve (simulator/fabric/power.py `cap_slowdown`, which
    refuses an accelerator without a curve and a cap outside the measured range)."""
    cap = p.cap_fraction
    if cap is None:
        return 1.0
    if isinstance(cap, bool):
        raise ConfigError("power.cap_fraction", cap, "must be a share of board power")
    try:
        return cap_slowdown(accelerator, cap)
    except ValueError as exc:
        raise ConfigError("power.cap_fraction", cap, f"{exc}; null: no cap") from None


def capped(model: PowerModel, cap_fraction: float) -> PowerModel:
    """`model` under a per-GPU cap: busy and communication-bound draws at most the cap
    (an H100 under a cap draws about the cap: simulator/fabric/power.py)."""
    compute = model.compute_w_at_cap(cap_fraction)
    return dataclasses.replace(model, gpu_compute_w=compute,
                               gpu_comm_w=min(model.gpu_comm_w, compute),
                               gpu_idle_w=min(model.gpu_idle_w, compute))


def floor_from(p: PowerConfig) -> float:
    """`power.floor_fraction`: no training GPU draws less than this share of its draw in
    a healthy step (0 without a floor)."""
    f = p.floor_fraction
    if f is None:
        return 0.0
    if isinstance(f, bool) or not 0 <= f <= 1:
        raise ConfigError("power.floor_fraction", f,
                          "must be a share in [0, 1] of a GPU's training draw, or null")
    return float(f)


def smoothing_from(p: PowerConfig) -> Smoothing | None:
    """`power.ramp_mw_per_min` and the battery behind it (None: the grid sees the load)."""
    ramp = p.ramp_mw_per_min
    for key in ("battery_mwh", "battery_efficiency"):
        value = getattr(p, key)
        if isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"power.{key}", value, "must be a finite number >= 0")
    if not 0 < p.battery_efficiency <= 1:
        raise ConfigError("power.battery_efficiency", p.battery_efficiency,
                          "must be a round-trip share in (0, 1]")
    require_positive("power.battery_mw", p.battery_mw, optional=True)
    require_positive("power.battery_recharge_mw", p.battery_recharge_mw, optional=True)
    if ramp is None:
        given = [k for k in ("battery_mwh", "battery_mw", "battery_recharge_mw")
                 if getattr(p, k)]
        if given:
            key = f"power.{given[0]}"
            raise ConfigError(key, getattr(p, key.split(".")[1]),
                              "a battery covers a ramp limit: set power.ramp_mw_per_min too")
        return None
    require_positive("power.ramp_mw_per_min", ramp)
    if not math.isfinite(ramp):
        raise ConfigError("power.ramp_mw_per_min", ramp, "must be a finite number of MW "
                          "per minute, or null (no limit)")
    battery_w = math.inf if p.battery_mw is None else p.battery_mw * 1e6
    recharge_mw = ramp if p.battery_recharge_mw is None else p.battery_recharge_mw
    return Smoothing(ramp_w_per_s=ramp * 1e6 / MINUTE, battery_j=p.battery_mwh * 1e6 * HOUR,
                     battery_w=battery_w, efficiency=p.battery_efficiency,
                     recharge_w=min(battery_w, recharge_mw * 1e6))
