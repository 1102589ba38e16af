"""The `power` keys: the accelerator's figures unless set, every bad value named."""

from __future__ import annotations

import pytest

from simulator import load_scenario
from simulator.config.power import power_from
from simulator.config.schema import PowerConfig
from simulator.errors import ConfigError


def test_figures_default_to_the_accelerators_and_one_can_be_set() -> None:
    base = load_scenario([]).power
    assert base is not None and base.model.accelerator == "H100"
    assert base.switches == 48  # dgx_h100_superpod, 1,024 GPUs: 32 leaves + 16 spines
    changed = load_scenario(["power.gpu_idle_w=60"]).power
    assert changed.model.gpu_idle_w == 60.0
    assert changed.model.gpu_compute_w == base.model.gpu_compute_w


def test_an_accelerator_without_figures_has_no_power_columns_unless_all_are_set() -> None:
    assert load_scenario(["cluster=tpu_v5p_8k"]).power is None
    figures = ["power.gpu_compute_w=300", "power.gpu_comm_w=200", "power.gpu_idle_w=50",
               "power.host_busy_w=800", "power.host_idle_w=400", "power.switch_w=1000"]
    power = load_scenario(["cluster=tpu_v5p_8k", *figures]).power
    assert power is not None and power.model.gpu_compute_w == 300.0


def test_host_figures_follow_the_node_size() -> None:
    # the DGX H100 host is for 8 GPUs: on nodes of 4, half of it
    eight = power_from(PowerConfig(), "H100", 8)
    four = power_from(PowerConfig(), "H100", 4)
    assert four.host_busy_w == pytest.approx(eight.host_busy_w / 2)
    assert four.host_idle_w == pytest.approx(eight.host_idle_w / 2)
    assert four.gpus_per_node == 4 and four.gpu_compute_w == eight.gpu_compute_w


@pytest.mark.parametrize(("overrides", "key", "words"), [
    (["power.gpu_comm_w=900"], "power.gpu_comm_w", "between"),
    (["power.host_idle_w=9000"], "power.host_idle_w", "at most"),
    (["power.switch_w=-1"], "power.switch_w", "watts"),
    (["power.gpu_compute_w=1e9"], "power.gpu_compute_w", "watts"),
    (["power.swing_threshold_mw=0"], "power.swing_threshold_mw", "positive"),
    (["cluster=tpu_v5p_8k", "power.gpu_compute_w=300"], "power.gpu_comm_w", "TPUv5p"),
    (["power.series=2"], "power.series", "true or false"),
    (["power.floor_fraction=1.5"], "power.floor_fraction", "[0, 1]"),
    (["power.ramp_mw_per_min=0"], "power.ramp_mw_per_min", "positive"),
    (["power.ramp_mw_per_min=inf"], "power.ramp_mw_per_min", "finite"),
    (["power.battery_mwh=5"], "power.battery_mwh", "ramp_mw_per_min"),
    (["power.battery_mw=5"], "power.battery_mw", "ramp_mw_per_min"),
    (["power.ramp_mw_per_min=1", "power.battery_mwh=-1"], "power.battery_mwh", ">= 0"),
    (["power.ramp_mw_per_min=1", "power.battery_efficiency=0"],
     "power.battery_efficiency", "(0, 1]"),
    (["power.ramp_mw_per_min=1", "power.battery_mw=0"], "power.battery_mw", "positive"),
    (["power.battery_recharge_mw=1"], "power.battery_recharge_mw", "ramp_mw_per_min"),
    (["power.ramp_mw_per_min=1", "power.battery_recharge_mw=-1"],
     "power.battery_recharge_mw", "positive"),
])
def test_bad_power_input_names_the_key(overrides, key, words) -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    assert info.value.key == key, str(info.value)
    assert words in info.value.allowed, str(info.value)
