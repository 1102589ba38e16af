"""Power figures by component and state, and the power-cap curve, against the published
numbers typed here with their sources (not read back from simulator/fabric/power.py).

- NVIDIA DGX H100/H200 User Guide: "~10.2 kW max"; DGX A100: 6.5 kW max; DGX B200:
  "~14.3 kW max"; board power H100/H200 700 W, A100 400 W, B200 1,000 W, GB200 1,200 W,
  MI300X 750 W (vendor datasheets).
- Ujeniya et al., arXiv:2604.11391, Fig. 9b: an H100 at its 700 W cap drew 647 W on
  average under a compute-bound load.
- Newkirk et al., arXiv:2506.14551: computationally intensive training ran an 8-GPU H100
  node at 76% of its 10.2 kW rating.
- Latif et al., IEEE Access 13 (2025), arXiv:2412.08602: at most ~8.4 kW measured on an
  8-GPU H100 HGX node training Llama2-13b, GPUs near full utilization.
- NVIDIA Quantum-2 QM9700: 747 W typical with passive cables, 1,720 W maximum with active
  cables (datasheet); 32 OSFP cages of Class 8 (17 W) transceivers (QM97xx User Manual).
- Mayr et al., arXiv:2603.16164, Table 4, "Pre-training / H100": LLaMA 3 8B tokens/s per
  GPU at power caps of 200, 300, 400, 500, 600, 700 W.
"""

from __future__ import annotations

import itertools

import pytest

from simulator.fabric.hardware import ACCELERATORS
from simulator.fabric.power import (
    CAP_CURVES,
    POWER_MODELS,
    cap_slowdown,
    power_model,
)

BOARD_W = {"H100": 700, "H200": 700, "A100": 400, "B200": 1000, "GB200": 1200, "MI300X": 750}
DGX_MAX_W = {"H100": 10_200, "H200": 10_200, "A100": 6_500, "B200": 14_300}

# Mayr et al. 2026, Table 4, "Pre-training / H100": (cap W, tokens/s per GPU)
MAYR_H100 = [(200, 9699.3), (300, 17982.3), (400, 24853.4), (500, 27705.3),
             (600, 29250.0), (700, 30271.0)]


def test_the_required_generations_have_presets_of_known_accelerators():
    assert set(BOARD_W) <= set(POWER_MODELS)
    for name, model in POWER_MODELS.items():
        assert name in ACCELERATORS and model.accelerator == name
        assert ACCELERATORS[name].power_w == BOARD_W[name]  # the datasheets above


@pytest.mark.parametrize("name", sorted(BOARD_W))
def test_states_are_ordered_below_board_power(name):
    m = POWER_MODELS[name]
    assert 0 < m.gpu_idle_w < m.gpu_comm_w <= m.gpu_compute_w <= BOARD_W[name]
    assert 0 < m.host_idle_w <= m.host_busy_w
    assert 747 < m.switch_w <= m.switch_max_w == 1720  # QM9700: passive typical, maximum


@pytest.mark.parametrize("name", sorted(BOARD_W))
def test_every_figure_has_a_source_line(name):
    lines = POWER_MODELS[name].sources.splitlines()
    for figure in ("gpu_compute_w", "gpu_comm_w", "gpu_idle_w", "host_busy_w", "host_idle_w",
                   "switch_w"):
        assert sum(line.startswith(figure + " ") for line in lines) == 1, figure


def test_h100_figures_are_the_cited_measurements():
    m = POWER_MODELS["H100"]
    assert m.switch_w == 747 + 32 * 17  # a QM9700 whose cages all carry optics
    assert m.gpu_compute_w == pytest.approx(647, rel=1e-12)  # Ujeniya et al., Fig. 9b
    # Newkirk et al.: the node at 76% of 10.2 kW, less 8 GPUs at 647 W
    assert m.host_busy_w == pytest.approx(0.76 * 10_200 - 8 * 647, rel=1e-12)


def test_a_dgx_h100_at_full_load_is_under_its_rating_and_near_the_measured_draw():
    m = POWER_MODELS["H100"]
    full = 8 * m.gpu_compute_w + m.host_busy_w
    assert full <= 10_200  # NVIDIA's maximum
    # Latif et al. measured at most ~8.4 kW on the same node class: the model's full load
    # (the mean of the busy phase, not the peak) must sit at or under it, within 10%.
    assert 0.9 * 8_400 <= full <= 8_400


@pytest.mark.parametrize("name", sorted(DGX_MAX_W))
def test_no_dgx_exceeds_its_published_maximum(name):
    m = POWER_MODELS[name]
    assert m.gpus_per_node == 8
    assert m.node_w(m.gpu_compute_w) <= DGX_MAX_W[name]
    assert m.node_w(m.gpu_idle_w, host_busy=False) < m.node_w(m.gpu_compute_w)


def test_gb200_host_figures_are_per_4_gpu_compute_tray():
    m = POWER_MODELS["GB200"]
    assert m.gpus_per_node == 4
    # 18 trays at full load stay under the ~120 kW NVIDIA quotes for an NVL72 rack
    assert 18 * m.node_w(m.gpu_compute_w) <= 120_000


def test_accelerators_without_published_power_have_no_model_and_unknown_names_raise():
    assert power_model("TPUv5p") is None and power_model("Trainium2") is None
    assert power_model("H100") is POWER_MODELS["H100"]
    with pytest.raises(ValueError, match="unknown accelerator 'H1000'"):
        power_model("H1000")


def test_a_cap_limits_the_busy_phase_draw_only_below_it():
    m = POWER_MODELS["H100"]
    assert m.compute_w_at_cap(0.5) == pytest.approx(350)  # 0.5 x 700 W < 647 W
    assert m.compute_w_at_cap(1.0) == m.gpu_compute_w


@pytest.mark.parametrize("cap_w, measured_w", [(200, 199), (300, 298), (400, 395), (500, 493),
                                               (600, 591)])
def test_capped_draw_matches_the_measured_draw_at_each_cap(cap_w, measured_w):
    # Ujeniya et al., Fig. 9b: mean H100 draw (memory + GPU) at each cap, within 2%
    assert POWER_MODELS["H100"].compute_w_at_cap(cap_w / 700) == pytest.approx(measured_w,
                                                                               rel=0.02)


# ---- the power-cap curve ----------------------------------------------------------------


def test_uncapped_is_no_slowdown():
    assert cap_slowdown("H100", 1.0) == 1.0


@pytest.mark.parametrize("cap_w, tokens_per_s", MAYR_H100)
def test_the_curve_passes_through_every_measured_point(cap_w, tokens_per_s):
    assert cap_slowdown("H100", cap_w / 700) == pytest.approx(30271.0 / tokens_per_s, rel=1e-12)


def test_the_curve_is_exactly_the_cited_table():
    flat = [x for point in CAP_CURVES["H100"] for x in point]
    assert flat == pytest.approx(
        [x for cap, rate in MAYR_H100 for x in (cap / 700, 30271.0 / rate)], rel=1e-12)


def test_between_points_throughput_is_interpolated_linearly():
    # 455 W = 0.65 of 700 W: 55% of the way from 400 W to 500 W in tokens/s
    tokens = 24853.4 + 0.55 * (27705.3 - 24853.4)
    assert cap_slowdown("H100", 0.65) == pytest.approx(30271.0 / tokens, rel=1e-9)


def test_slowdown_never_rises_with_the_cap():
    caps = [200 / 700 + i * (500 / 700) / 400 for i in range(401)]
    slow = [cap_slowdown("H100", min(c, 1.0)) for c in caps]
    assert all(a >= b for a, b in itertools.pairwise(slow))
    assert slow[0] == pytest.approx(30271.0 / 9699.3) and slow[-1] == 1.0


@pytest.mark.parametrize("accelerator, cap, message", [
    ("H100", 0.2, "outside the measured range"),  # 140 W, below the 200 W point
    ("H100", 1.01, "outside the measured range"),  # above board power
    ("A100", 0.7, "no published power-cap curve for 'A100'"),
    ("H1000", 0.7, "no published power-cap curve for 'H1000'"),
])
def test_bad_input_raises(accelerator, cap, message):
    with pytest.raises(ValueError, match=message):
        cap_slowdown(accelerator, cap)
