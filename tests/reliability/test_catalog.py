"""Failure catalogs: failure scopes, planned maintenance, lognormal (Llama 3's Table 5
against the simulator: tests/validation/test_llama3_interruptions.py).

Expected values come from hand calculation; tolerances from Poisson statistics.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator import CheckpointSpec, ClusterSpec, RestartSpec, Scenario, load_scenario
from simulator.experiments.runner import run_replicate
from simulator.fabric.domains import FailureDomains, rack_groups
from simulator.reliability.failure_source import bundles
from simulator.reliability.failures import Component, Exponential, FailureModel, LogNormal, Weibull

HOUR = 3600.0


def switch_pairs(total_nodes: int) -> FailureDomains:
    """Switches in front of consecutive pairs of physical nodes (0-1, 2-3, ...)."""
    return FailureDomains((("switch", tuple(rack_groups(total_nodes, 2))),))

def test_exponential_components_bundle_exactly():
    a, b = Exponential(100.0), Exponential(300.0)
    w = Weibull(200.0, 2.0)
    parts = bundles((Component("a", "gpu", a), Component("b", "gpu", b),
                     Component("w", "gpu", w), Component("n", "node", a)), "gpu")
    merged, alone = parts
    # rates 1/100 + 1/300 = 4/300: mean 75; cause a with probability 3/4
    assert merged.lifetime.mean_s == pytest.approx(75.0)
    assert merged.causes == ("a", "b")
    assert merged.weights == pytest.approx((0.75, 0.25))
    assert alone.causes == ("w",) and alone.lifetime is w


class Once:
    """A test lifetime: `first` hours on the first draw, then effectively never."""

    def __init__(self, first_hours: float) -> None:
        self.mean_s = first_hours * HOUR
        self.draws = 0

    def sample(self, rng, size):
        self.draws += 1
        return np.full(size, self.mean_s if self.draws == 1 else 1e15)


def scoped(component: Component, *, spares: int, horizon_h: float = 20.0) -> dict:
    scenario = Scenario(
        horizon_s=horizon_h * HOUR, step_s=60.0,
        cluster=ClusterSpec(gpus=32, gpus_per_node=8, spare_nodes=spares),
        failures=FailureModel(kind="test", catalog=(component,), domains=switch_pairs(4 + spares)),
        checkpoint=CheckpointSpec(interval_s=HOUR, write_s=0.0, load_s=0.0),
        restart=RestartSpec(detect_s=300.0, restart_s=600.0, repair_s=5 * HOUR),
    )
    return run_replicate(scenario).row


def test_switch_failure_takes_down_exactly_its_nodes():
    # Nodes 0-1 share the first switch; it fails at 10 h. With one spare, one of the two
    # slots stays empty until a node is back from its 5-h repair, started at the
    # detection: detect 10:00-10:05, wait until 15:05, restart 15:05-15:15. Had the
    # switch taken one node, the spare would cover it and there would be no wait.
    row = scoped(Component("tor", "switch", Once(10.0)), spares=1)
    assert row["failures"] == 1 and row["switch_failures"] == 1
    assert row["wait_h"] == pytest.approx(5.0)
    assert row["restart_h"] == pytest.approx(15 / 60)
    # with two spares both slots refill at once: no waiting
    assert scoped(Component("tor", "switch", Once(10.0)), spares=2)["wait_h"] == 0.0


def test_job_scope_failures_replace_no_hardware():
    # A software fault at 10.5 h (a per-GPU draw of 336 h over 32 GPUs): the job loses
    # the half hour since its 10 h checkpoint and restarts, but no node leaves, so even
    # with no spares nothing waits.
    row = scoped(Component("bug", "job", Once(336.0)), spares=0)
    assert row["failures"] == 1 and row["job_failures"] == 1
    assert row["wait_h"] == 0.0
    assert row["restart_h"] == pytest.approx(15 / 60)
    assert row["rework_h"] == pytest.approx(0.5)


def test_planned_maintenance_drains_at_a_checkpoint_without_rework():
    # No failures; each drain costs exactly restart + load = 12 min, never rework.
    scenario = Scenario(
        seed=3, horizon_s=2000 * HOUR, step_s=60.0,
        cluster=ClusterSpec(gpus=8, gpus_per_node=8, spare_nodes=0),
        failures=FailureModel(kind="none", planned_gap_s=24 * HOUR),
        checkpoint=CheckpointSpec(interval_s=HOUR, write_s=300.0, load_s=120.0),
        restart=RestartSpec(detect_s=300.0, restart_s=600.0),
    )
    row = run_replicate(scenario).row
    drains = row["restart_h"] / 0.2
    assert drains == pytest.approx(round(drains), abs=1e-9)
    # requests arrive Poisson(2000 / 24 = 83.3); two in one 65-min segment merge into
    # one drain, expected ~83 x 65/1440 ~ 4 merges: drains slightly below requests
    assert 0 < round(drains) <= row["planned"]
    assert row["planned"] - round(drains) < 15
    assert abs(row["planned"] - 2000 / 24) < 4 * math.sqrt(2000 / 24)
    assert row["rework_h"] == 0.0 and row["failures"] == 0


def test_lognormal_is_mean_matched():
    life = LogNormal(mean_s=1000.0, sigma=1.2)
    samples = life.sample(np.random.default_rng(0), 400_000)
    # the mean of a lognormal sample has sd = mean x sqrt(exp(sigma^2) - 1) / sqrt(n)
    sd = 1000.0 * math.sqrt(math.expm1(1.2**2)) / math.sqrt(samples.size)
    assert abs(samples.mean() - 1000.0) < 4 * sd
    t = np.array([100.0, 500.0, 1000.0, 5000.0])
    scale = math.exp(math.log(1000.0) - 1.2**2 / 2)
    assert life.cdf(t) == pytest.approx(stats.lognorm(1.2, scale=scale).cdf(t), rel=1e-12)


def test_catalog_errors_name_the_key():
    from simulator import ConfigError

    with pytest.raises(ConfigError) as info:
        load_scenario(["failures=llama3", "failures.components.nic.scope=rak"])
    assert info.value.key == "failures.components.nic.scope"
    with pytest.raises(ConfigError) as info:
        load_scenario(["failures=llama3", "failures.components.ssd.mtbf_hours=0"])
    assert info.value.key == "failures.components.ssd.mtbf_hours"
    with pytest.raises(ConfigError) as info:
        load_scenario(["failures.planned_per_day=-1"])
    assert info.value.key == "failures.planned_per_day"
