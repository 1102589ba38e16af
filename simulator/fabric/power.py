"""Placeholder: the power figures come from the p14-power branch (this file is replaced
on merge)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PowerModel:
    """Electrical draw by component and state, in watts (IT power, before PUE)."""

    accelerator: str
    gpu_compute_w: float
    gpu_comm_w: float
    gpu_idle_w: float
    host_busy_w: float
    host_idle_w: float
    switch_w: float
    sources: str


POWER_MODELS: dict[str, PowerModel] = {
    "H100": PowerModel("H100", 650.0, 450.0, 100.0, 4000.0, 1500.0, 1500.0, "placeholder"),
}


def power_model(accelerator: str) -> PowerModel | None:
    return POWER_MODELS.get(accelerator)
