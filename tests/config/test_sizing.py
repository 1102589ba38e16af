"""`python -m simulator.sizing`: how many GPUs fit in N MW, by hand.

The default system: DGX H100 nodes at 8 x 647 W + a 0.76 x 10,200 - 8 x 647 W host, 48
scale-out switches of 1,291 W and 4 idle spare nodes (0.6 x host + 8 x 100 W) for 128
nodes, PUE 1.2 (simulator/fabric/power.py). A node's share is its draw plus 1/128 of the
switches and spares. At a cap of 500 W (5/7 of the 700-W board) a GPU draws 500 W and a
step takes 30,271.0 / 27,705.3 as long (Mayr et al., arXiv 2603.16164, Table 4).
"""

from __future__ import annotations

import pytest

from simulator import sizing

HOST = 0.76 * 10_200 - 8 * 647
SHARED = (48 * 1291 + 4 * (0.6 * HOST + 8 * 100)) / 128


def node_w(gpu_w: float) -> float:
    return 1.2 * (8 * gpu_w + HOST + SHARED)


def test_gpus_fit_uncapped_and_at_a_cap_by_hand() -> None:
    accelerator, rows = sizing.fits(100, [])
    assert accelerator == "H100"
    base = rows[0]
    assert base.cap_fraction is None
    assert base.gpus == int(100e6 // node_w(647)) * 8
    assert base.node_kw == pytest.approx(node_w(647) / 1e3, rel=1e-9)
    at_500 = next(r for r in rows if r.cap_fraction == pytest.approx(500 / 700))
    assert at_500.gpus == int(100e6 // node_w(500)) * 8
    assert at_500.step_factor == pytest.approx(30_271.0 / 27_705.3, rel=1e-12)
    assert at_500.throughput == pytest.approx(
        at_500.gpus / base.gpus / (30_271.0 / 27_705.3), rel=1e-12)


def test_an_accelerator_without_a_cap_curve_gets_the_uncapped_row_only() -> None:
    _, rows = sizing.fits(100, ["cluster.accelerator=B200"])
    assert [r.cap_fraction for r in rows] == [None]


@pytest.mark.parametrize(("args", "words"), [
    ([], "mw=null: required"),
    (["mw=x"], "mw=x: the site's budget in MW"),
    (["mw=-3"], "mw=-3.0"),
    (["mw=10", "cluster.gpus=oops"], "cluster.gpus"),
])
def test_bad_input_is_one_line_and_exit_2(args, words, capsys) -> None:
    assert sizing.main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
