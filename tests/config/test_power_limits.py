"""A per-GPU power cap and the site's power budget (power.cap_fraction, power.mw_budget).

The cap's cost is Mayr et al.'s measured curve ("AI Application Benchmarking:
Power-Aware Performance Analysis for Vision and Language Models", arXiv 2603.16164,
Table 4, pre-training on H100, LLaMA 3 8B): per-GPU tokens/s 24,853.4 at a 400 W cap,
27,705.3 at 500 W and 30,271.0 uncapped (700 W board power). A 70% cap is 490 W:
throughput interpolated linearly between 400 and 500 W.
"""

from __future__ import annotations

import pandas as pd
import pytest

from simulator import load_scenario, simulate
from simulator.elaborate import over_budget
from simulator.errors import ConfigError
from tests.clirun import run_cli

AT_490_W = 24_853.4 + (490 - 400) / 100 * (27_705.3 - 24_853.4)
SLOWDOWN_70 = 30_271.0 / AT_490_W  # ~1.104


def error(overrides: list[str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        simulate(overrides, progress=False)
    return info.value


def test_a_cap_lengthens_the_step_by_the_measured_curve() -> None:
    assert abs(SLOWDOWN_70 - 1.104) < 1e-3
    assert load_scenario(["power.cap_fraction=0.7"]).step_s == pytest.approx(
        10.0 * SLOWDOWN_70, rel=1e-12)  # workload/fixed_step.yaml: 10-s steps
    base = load_scenario(["workload=llama3_70b"])
    capped = load_scenario(["workload=llama3_70b", "power.cap_fraction=0.7"])
    assert capped.step_s == pytest.approx(base.step_s * SLOWDOWN_70, rel=1e-12)
    assert load_scenario(["power.cap_fraction=1.0"]).step_s == 10.0


def test_a_capped_gpu_draws_at_most_the_cap() -> None:
    power = load_scenario(["power.cap_fraction=0.7"]).power
    assert power.model.gpu_compute_w == pytest.approx(0.7 * 700.0)  # H100 board power 700 W
    assert power.model.gpu_comm_w <= 0.7 * 700.0
    uncapped = load_scenario([]).power
    assert power.full_w < uncapped.full_w


def test_a_cluster_over_the_budget_is_an_error_saying_how_many_gpus_fit() -> None:
    # the default: 1,024 H100 in 128 DGX nodes at 8 x 647 + 2,576 W, 48 switches of 1,291
    # W, 4 idle spare nodes (0.6 x 2,576 + 8 x 100 W), PUE 1.2 (simulator/fabric/power.py)
    host = 0.76 * 10_200 - 8 * 647
    full_w = 1.2 * (128 * (8 * 647 + host) + 48 * 1291 + 4 * (0.6 * host + 8 * 100))
    err = error(["power.mw_budget=1"])
    assert (err.key, err.value) == ("power.mw_budget", 1.0)
    assert f"{full_w / 1e6:.2f} MW" in err.allowed
    fit = int(1e6 // (full_w / 128)) * 8
    assert f"about {fit:,} GPUs fit" in err.allowed
    within = load_scenario(["power.mw_budget=2"])
    assert within.mw_budget_w == 2e6 and over_budget(within) is None  # within: runs
    assert over_budget(load_scenario(["power.mw_budget=1"])).allowed == err.allowed


def test_a_sweep_runs_over_the_budget_and_says_by_how_much(tmp_path) -> None:
    """One run over the budget stops (exit 2); in a sweep each configuration runs, its
    rows carry power_mw_over_budget (full-load draw - budget, MW; negative: headroom)
    and the run warns with the same numbers."""
    one = run_cli(["power.mw_budget=1", "horizon_days=1"], tmp_path)
    assert one.returncode == 2 and "power.mw_budget=1.0" in one.stderr
    assert "Traceback" not in one.stderr
    host = 0.76 * 10_200 - 8 * 647
    full_mw = 1.2 * (128 * (8 * 647 + host) + 48 * 1291 + 4 * (0.6 * host + 8 * 100)) / 1e6
    sweep = run_cli(["-m", "power.mw_budget=1,2", "name=budget", "horizon_days=1"],
                    tmp_path)
    assert sweep.returncode == 0, sweep.stderr
    assert "over the power budget" in sweep.stdout + sweep.stderr
    rows = pd.read_csv(tmp_path / "results" / "budget" / "runs.csv")
    by = rows.set_index("power_mw_budget")["power_mw_over_budget"]
    assert by[1.0] == pytest.approx(full_mw - 1, rel=1e-9)
    assert by[2.0] == pytest.approx(full_mw - 2, rel=1e-9)


@pytest.mark.parametrize(("overrides", "words"), [
    (["power.cap_fraction=0.1"], "measured range"),
    (["power.cap_fraction=1.5"], "measured range"),
    (["cluster.accelerator=B200", "power.cap_fraction=0.7"], "no"),
    (["power.mw_budget=0"], "positive"),
    (["power.mw_budget=inf"], "finite"),
])
def test_bad_limits_name_their_key(overrides, words) -> None:
    err = error(overrides)
    assert err.key in ("power.cap_fraction", "power.mw_budget"), str(err)
    assert words in err.allowed, str(err)
