"""The collective model against measured nccl-tests figures.

Two efficiencies were fitted to measured figures, so those figures cannot test the model:
`efficiency.nvlink` 0.82 = 368 / 450 (ring all-reduce busbw on one 8x H100 node,
shared/REFERENCE.md "Collectives") and `efficiency.nvls` 0.61 (NVLS all-reduce 480 GB/s
= 1.75 x 450 x 0.61, same source); `collectives.SHARP_EFFICIENCY` 0.78 comes from the
row of results/reference/nccl_tests.csv marked "calibration". Every test here holds those
efficiencies fixed and checks a *different* measured figure: another op, another system,
another message size or node count. The tolerance is the reference table's 15%
(`simulator.collectives.TOLERANCE`).
"""

from __future__ import annotations

import pytest

from simulator import load_scenario
from simulator.collectives import TOLERANCE, Reference, predict, read_references
from simulator.fabric import stepmodel
from simulator.fabric.collectives import CollectiveModel, Layout, bandwidths

GiB = 2**30

REFERENCES = read_references()

#: Rows a fitted efficiency was derived from (the row and the efficiency agree by
#: construction): the calibration rows, and the one-node H100 ring all-reduce at 8 GiB,
#: whose busbw (368.00) is REFERENCE.md's ~368 GB/s that `efficiency.nvlink` was set from
#: (its note says so). They stay in the table (`python -m simulator.collectives
#: reference=true` prints them) but are not counted as validation here.
ECHOES = {r.id for r in REFERENCES if r.role == "calibration"} | {"h100_1n_ar_ring_8g"}
CHECKED = [r for r in REFERENCES if r.id not in ECHOES]


@pytest.fixture(scope="module")
def predicted() -> dict[str, Reference]:
    return {r.id: r for r in predict(CHECKED)}


@pytest.mark.parametrize("ref", CHECKED, ids=[r.id for r in CHECKED])
def test_published_nccl_tests_figures(predicted, ref):
    """Every cited figure a fitted efficiency was not derived from is within 15%; a row
    marked outside must really be outside, with its reason in the note. (Before #11 the
    calibration row and the 368 GB/s row were asserted too: they could not fail.)"""
    assert ref.source and ref.overrides and ref.role in ("validation", "outside")
    got = predicted[ref.id]
    if ref.role == "outside":
        assert abs(got.error) > TOLERANCE and len(ref.note) > 40, (ref.id, got.error)
    else:
        assert abs(got.error) <= TOLERANCE, (ref.id, got.predicted, ref.measured)


def test_reference_table_covers_the_brief():
    """H100 and B200, several node counts, all-reduce / all-gather / reduce-scatter /
    all-to-all, several sizes; exactly one calibration row, and the rows left out as
    echoes are in the table (so that the exclusion cannot rot silently)."""
    multi = [r for r in REFERENCES if r.nodes > 1]
    assert {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"} <= {r.op for r in multi}
    assert any("H100" in r.system for r in multi) and any("B200" in r.system for r in multi)
    assert len({r.nodes for r in multi}) >= 5 and len({r.size for r in multi}) >= 4
    assert sum(r.role == "calibration" for r in REFERENCES) == 1
    assert {r.id for r in REFERENCES} >= ECHOES
    assert "calibration" in next(r.note for r in REFERENCES if r.id == "h100_1n_ar_ring_8g")
    inside = [r for r in CHECKED if r.role != "outside"]
    assert len(inside) >= 2 * (len(CHECKED) - len(inside))
    # the SHARP efficiency is validated by the other CollNet rows, not by its own
    collnet = [r for r in inside if r.algorithm == "collnet"]
    assert len({r.nodes for r in collnet}) >= 3


def node_model(accelerator: str) -> CollectiveModel:
    """One DGX-style node of 8 GPUs of `accelerator` with the default efficiencies."""
    scenario = load_scenario(["topology=dgx_h100_superpod",
                              f"cluster.accelerator={accelerator}", "cluster.gpus=8"])
    return stepmodel.collective_model(scenario.fabric, 8, Layout(tp=8, gpus_per_node=8))


@pytest.fixture(scope="module")
def h100_node() -> CollectiveModel:
    return node_model("H100")


@pytest.mark.parametrize("n", [1 * GiB, 8 * GiB])
def test_h100_node_reduce_scatter_and_all_gather(h100_node, n):
    """Checks now: ring reduce-scatter and all-gather busbw on one 8x H100 node against
    REFERENCE.md's measured ~362 GB/s, with efficiency.nvlink held at the value fitted to
    the *all-reduce* figure. Can fail: RS / AG move (p-1)/p S per rank, half of an
    all-reduce's 2 (p-1)/p S, in half its steps; a model pricing them with the wrong
    share or step count misses 362 by 2x. (Replaces the asserts that ring all-reduce
    gives 368 GB/s and NVLS 480 GB/s: the efficiencies were derived from those two.)"""
    group = h100_node.layout.groups("tp")
    assert group.shape == (1, 8)
    for op in ("reduce_scatter", "all_gather"):
        busbw = bandwidths(op, 8, n, h100_node.time_groups(op, group, n, "ring"))[1]
        assert busbw == pytest.approx(362e9, rel=0.05), (op, busbw)
    # NCCL's default all-reduce on one NVSwitch node is NVLS (nccl-tests issue #212)
    assert h100_node.best("all_reduce", group, n).algorithm == "nvls"


def test_b200_node_with_the_h100_efficiencies():
    """Checks now: one 8x B200 node (NVLink5, 900 GB/s per GPU per direction), with the
    efficiencies fitted on H100 held fixed, against REFERENCE.md's measured 8x B200
    busbw: ring all-reduce 682 GB/s, NVLS 838 GB/s. Can fail: nothing was fitted to
    B200. By hand: ring 900 x 0.82 = 738 GB/s (+8%), NVLS 1.75 x 900 x 0.61 = 961 GB/s
    (+15%), less the per-step latencies at 8 GiB. The model errs on the fast side: the
    measured B200 efficiencies are lower than H100's (682 / 900 = 0.76 for the ring,
    838 / (1.75 x 900) = 0.53 for NVLS), so carrying H100's to NVLink5 overestimates."""
    model = node_model("B200")
    group = model.layout.groups("tp")
    n = 8 * GiB
    for algorithm, measured in (("ring", 682e9), ("nvls", 838e9)):
        busbw = bandwidths("all_reduce", 8, n,
                           model.time_groups("all_reduce", group, n, algorithm))[1]
        assert abs(busbw / measured - 1) <= TOLERANCE, (algorithm, busbw)
    ring = bandwidths("all_reduce", 8, n, model.time_groups("all_reduce", group, n, "ring"))[1]
    assert ring == pytest.approx(900e9 * 0.82, rel=0.01)  # the hand figure above
