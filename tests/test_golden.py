"""Golden outputs: every summary column of 16 scenarios, fixed seeds, to 1e-12.

These values are not validation (that is what the closed-form and published-figure tests
do): they pin today's behaviour so that a change meant to preserve it (a redesign of the
package, a faster data structure) proves it did. The scenarios cover every failure model,
checkpoint policy and restart mode, failure domains and cables, stragglers, lemons,
step-level mode and fabric-driven step times.

Rows may gain columns (the configuration columns came after the golden values were
recorded): every golden column must still be there with its value; new ones are allowed.

When a change is *meant* to move numbers, regenerate and say why in the commit:

    python tests/test_golden.py --regenerate
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
GOLDEN_FILE = GOLDEN_DIR / "summary.json"
TRACE = GOLDEN_DIR / "trace.csv"  # 10 days of 256 GPUs, written by `events=true`
SHORT = ["cluster.gpus=256", "horizon_days=20", "replicates=2"]

CASES: dict[str, list[str]] = {
    "default": ["replicates=2"],
    "weibull_young_daly": [*SHORT, "failures=weibull", "checkpoint=young_daly"],
    "lognormal_daly": [*SHORT, "failures=lognormal", "checkpoint=daly"],
    "rsc2_adaptive": [*SHORT, "failures=meta_rsc2", "checkpoint=adaptive"],
    "rsc1_async": [*SHORT, "failures=meta_rsc1", "checkpoint=async"],
    "in_memory_hot_spares": [*SHORT, "checkpoint=in_memory", "restart=hot_spares"],
    "elastic_no_spares": [*SHORT, "restart=elastic", "cluster.spare_nodes=0",
                          "failures.node_mtbf_hours=500"],
    "llama3_catalog": ["cluster=llama3_16k", "cluster.gpus=2048", "failures=llama3",
                       "horizon_days=10", "replicates=2"],
    "none": ["failures=none", "horizon_days=5"],
    "trace": ["cluster.gpus=256", "horizon_days=10", "failures=trace",
              f"failures.trace_path={TRACE}"],
    "stragglers_lemons": [*SHORT, "failures.straggler_mtbf_hours=20000",
                          "failures.lemon_fraction=0.2", "failures.lemon_factor=5",
                          "failures.lemon_retire_after=2", "failures.infant_factor=3",
                          "failures.infant_hours=24"],
    "manual_repairs": [*SHORT, "restart.manual_probability=0.3",
                       "restart.repair_failure_probability=0.2", "failures.planned_per_day=1"],
    "step_level_jitter": ["cluster.gpus=64", "horizon_days=3", "mode=steps",
                          "workload.jitter_cv=0.05", "replicates=2",
                          "failures.node_mtbf_hours=300"],
    "work_hours": ["cluster.gpus=256", "work_hours=100", "replicates=2"],
    "llama3_70b_fabric": ["workload=llama3_70b", "horizon_days=10", "replicates=2"],
    "moe_domains_links": ["workload=moe_8x7b", "topology=fat_tree_2to1", "horizon_days=10",
                          "replicates=2", "+failures.components.leaf.scope=switch",
                          "+failures.components.leaf.mtbf_hours=2000",
                          "+failures.components.cable.scope=link",
                          "+failures.components.cable.mtbf_hours=5000",
                          "+failures.components.cable.repair_hours=2"],
}


def summaries() -> dict[str, list[dict]]:
    """Every case's summary rows, as plain JSON values (nan as null)."""
    from simulator import simulate

    out = {}
    for name, overrides in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # feasibility warnings are not the subject
            frame = simulate(overrides)
        out[name] = [{k: _plain(v) for k, v in row.items()}
                     for row in frame.to_dict(orient="records")]
    return out


def _plain(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    return value.item() if hasattr(value, "item") else value


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


@pytest.fixture(scope="module")
def golden() -> dict[str, list[dict]]:
    return json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def current() -> dict[str, list[dict]]:
    return summaries()


def test_golden_covers_every_case(golden):
    assert set(golden) == set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_same_numbers(name, golden, current):
    want, got = golden[name], current[name]
    assert len(got) == len(want), f"{name}: {len(got)} rows, golden has {len(want)}"
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        lost = sorted(set(w) - set(g))
        assert not lost, f"{name} row {i}: golden columns {lost} are gone"
        diffs = {k: (w[k], g[k]) for k in w if not _same(w[k], g[k])}
        assert not diffs, f"{name} row {i}: (golden, now) {diffs}"


if __name__ == "__main__" and "--regenerate" in sys.argv:
    GOLDEN_DIR.mkdir(exist_ok=True)
    GOLDEN_FILE.write_text(json.dumps(summaries(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN_FILE}")
