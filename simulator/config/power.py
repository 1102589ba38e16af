"""Validation of the `power` part of the config -> the accelerator's PowerModel with the
user's figures on top (simulator/fabric/power.py has the published ones and sources)."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from simulator.errors import ConfigError, require_positive
from simulator.fabric.power import PowerModel, cap_slowdown, power_model

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
