"""Llama 3's 54-day run (shared/REFERENCE.md, Table 5) against the simulator: 419
unexpected and 47 planned interruptions, the causes in Table 5's proportions and scopes.

The experiment preset (`+experiment=llama3_54d`) carries Table 5's per-cause rates, so
these tests check that the simulator turns the rates back into the published counts
(Poisson statistics: 4 standard errors over the replicates) and shares (chi-square).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator import load_scenario
from simulator.experiments.runner import run_replicate

#: Llama 3 Table 5 (REFERENCE.md): root cause -> count of the 419 unexpected interruptions.
TABLE5 = {
    "faulty_gpu": 148, "gpu_hbm3": 72, "software_bug": 54, "network_switch_cable": 35,
    "host_maintenance": 32, "gpu_sram": 19, "gpu_system_processor": 17, "nic": 7,
    "nccl_watchdog": 7, "silent_data_corruption": 6, "gpu_thermal": 6, "ssd": 3,
    "power_supply": 3, "server_chassis": 2, "io_expansion_board": 2, "dependency": 2,
    "cpu": 2, "system_memory": 2,
}
REPLICATES = 12


@pytest.fixture(scope="module")
def llama3_runs():
    # a fixed step for speed: the costs the experiment derives from the 405B model's
    # size are set to those figures (2.8-s write, 0.8-s load); counts do not depend on them
    scenario = load_scenario(["+experiment=llama3_54d", "workload=fixed_step",
                              "checkpoint.write_minutes=0.04725",
                              "checkpoint.load_minutes=0.0135"])
    return [run_replicate(scenario, r) for r in range(REPLICATES)]


def test_table5_counts_sum_to_419():
    assert sum(TABLE5.values()) == 419


def test_llama3_54d_unexpected_interruptions_match_419(llama3_runs):
    # Each replicate's count is Poisson(419) when every unit stays in service (spares
    # refill at once); the mean of n has standard error sqrt(419 / n).
    counts = np.array([r.row["failures"] for r in llama3_runs])
    se = math.sqrt(419 / REPLICATES)
    assert abs(counts.mean() - 419) < 4 * se, counts


def test_llama3_54d_planned_interruptions_match_47(llama3_runs):
    planned = np.array([r.row["planned"] for r in llama3_runs])
    se = math.sqrt(47 / REPLICATES)
    assert abs(planned.mean() - 47) < 4 * se, planned


def test_llama3_54d_shares_per_component_match_table5(llama3_runs):
    # Pooled over replicates, the causes follow Table 5's proportions (chi-square).
    pooled = {name: 0 for name in TABLE5}
    for run in llama3_runs:
        for name, n in run.failure_log["component"].value_counts().items():
            pooled[name] += int(n)
    observed = np.array([pooled[name] for name in TABLE5])
    expected = np.array(list(TABLE5.values())) / 419 * observed.sum()
    result = stats.chisquare(observed, expected)
    assert result.pvalue > 1e-3, (dict(zip(TABLE5, observed, strict=True)), result)
    # and by scope: GPU 268, job 63, switch 35, node 53 of 419
    scopes = {"gpu_failures": 268, "job_failures": 63, "switch_failures": 35,
              "node_failures": 53}
    for column, count in scopes.items():
        mean = np.mean([r.row[column] for r in llama3_runs])
        assert abs(mean - count) < 4 * math.sqrt(count / REPLICATES), (column, mean)
