"""Max-min fair rates and completion times on bare incidence matrices (simulator/fabric/flows.py).

Expected rates are the textbook max-min results, derived by hand in the comments; the
randomised tests check the defining property of max-min fairness and agree with a plain
one-link-at-a-time progressive filling written here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from simulator.fabric.flows import RTOL, Incidence, finish_times, max_min_rates

C = 100e9  # B/s


def reference_max_min(a: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Textbook progressive filling, one saturated link at a time (slow, obvious)."""
    a = np.asarray(a, dtype=float)
    rate = np.where((a > 0).any(axis=0), 0.0, np.inf)
    frozen = ~np.isfinite(rate)
    while not frozen.all():
        n = a[:, ~frozen].sum(axis=1)
        residual = cap - a[:, frozen & np.isfinite(rate)] @ rate[frozen & np.isfinite(rate)]
        share = np.where(n > 0, residual / np.where(n > 0, n, 1), np.inf)
        bottleneck = int(np.argmin(share))
        newly = ~frozen & (a[bottleneck] > 0)
        rate[newly] = share[bottleneck]
        frozen |= newly
    return rate



# ---- max-min rates: textbook cases -----------------------------------------------------


def test_two_flows_sharing_one_link_get_half_each():
    assert max_min_rates(np.array([[1, 1]]), [C]) == pytest.approx([C / 2, C / 2])


def test_flow_limited_elsewhere_leaves_the_rest_to_the_other():
    # link 0 (10) carries f0 and f1; link 1 (2) carries f1 only: f1 is held to 2 by
    # link 1, so f0 takes the remaining 10 - 2 = 8 of link 0.
    a = np.array([[1, 1], [0, 1]])
    assert max_min_rates(a, [10.0, 2.0]) == pytest.approx([8.0, 2.0])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_parking_lot(n):
    # Chain of n links of capacity C; the long flow crosses all, short flow i crosses
    # link i only. Every link has two flows: everyone gets C/2 (textbook max-min).
    a = np.zeros((n, n + 1))
    a[:, 0] = 1
    a[np.arange(n), np.arange(1, n + 1)] = 1
    assert max_min_rates(a, np.full(n, C)) == pytest.approx(np.full(n + 1, C / 2))


def test_two_bottleneck_levels():
    # Link A (3) carries f0, f1, f2; link B (10) carries f2, f3. A's share 1 < B's 5:
    # f0, f1, f2 freeze at 1; B has 10 - 1 = 9 left for f3 alone.
    a = np.array([[1, 1, 1, 0], [0, 0, 1, 1]])
    assert max_min_rates(a, [3.0, 10.0]) == pytest.approx([1.0, 1.0, 1.0, 9.0])


def test_three_bottleneck_levels():
    # Capacities 1, 4, 10. f0: L0; f1: L0 L1; f2: L1; f3: L1 L2; f4: L2.
    # Shares: L0 1/2, L1 4/3, L2 10/2 -> f0 = f1 = 0.5. L1 then has 3.5 for f2, f3:
    # 1.75 each; L2 (10 - 1.75)/1 = 8.25 for f4.
    a = np.array([[1, 1, 0, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 1, 1]])
    assert max_min_rates(a, [1.0, 4.0, 10.0]) == pytest.approx([0.5, 0.5, 1.75, 1.75, 8.25])


def test_a_link_crossed_twice_counts_twice():
    # f0 crosses the link twice: 2 r0 + r1 <= 3 with r0 = r1 -> 1 each.
    assert max_min_rates(sparse.csr_array(np.array([[2.0, 1.0]])), [3.0]) == pytest.approx(
        [1.0, 1.0])


def test_flows_without_links_or_with_only_infinite_links_are_unconstrained():
    a = np.array([[1, 0, 0], [0, 0, 1]])
    r = max_min_rates(a, [C, np.inf])
    assert r[0] == pytest.approx(C)
    assert np.isinf(r[1]) and np.isinf(r[2])


@pytest.mark.parametrize("seed", range(25))
def test_random_instances_are_max_min_fair(seed):
    rng = np.random.default_rng(seed)
    n_links, n_flows = rng.integers(1, 25), rng.integers(1, 40)
    a = (rng.random((n_links, n_flows)) < rng.uniform(0.05, 0.6)).astype(float)
    cap = rng.choice([1.0, 2.0, 3.0, 7.5], n_links)
    r = max_min_rates(a, cap)
    assert r == pytest.approx(reference_max_min(a, cap), rel=1e-9)
    # Definition: feasible, and every flow crosses a saturated link where it is fastest.
    fin = np.isfinite(r)
    load = a[:, fin] @ r[fin]
    assert np.all(load <= cap * (1 + 1e-9))
    saturated = load >= cap * (1 - 1e-9)
    for f in np.flatnonzero(fin):
        on = np.flatnonzero(a[:, f] > 0)
        fastest = [r[a[lk] > 0].max() for lk in on]
        assert any(saturated[lk] and r[f] >= m * (1 - 1e-9)
                   for lk, m in zip(on, fastest, strict=True))


def test_max_min_rates_rejects_bad_input():
    with pytest.raises(ValueError, match="non-positive capacity"):
        max_min_rates(np.array([[1, 1]]), [0.0])
    with pytest.raises(ValueError, match="non-positive capacity"):
        max_min_rates(np.array([[1, 1]]), [np.nan])
    with pytest.raises(ValueError, match="shape"):
        max_min_rates(np.array([[1, 1]]), [1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        max_min_rates(np.array([[1, -1]]), [1.0])




# ---- completion times: a tiny network worked out by hand ---------------------------------
#
# Links L0 (10 B/s) and L1 (4 B/s). f0 crosses L0 (30 B), f1 crosses L0 and L1 (8 B), f2
# crosses L1 (6 B).
# t = 0: L1's share 4 / 2 = 2 < L0's 10 / 2 = 5, so f1 = f2 = 2 and f0 = 10 - 2 = 8.
#   Projected: f0 30 / 8 = 3.75, f1 8 / 2 = 4, f2 6 / 2 = 3 -> f2 ends at t = 3.
# t = 3: f0 has 30 - 24 = 6 left, f1 8 - 6 = 2. L1 carries f1 alone: 4 < L0's 5, so
#   f1 = 4, f0 = 10 - 4 = 6. f1 ends at 3 + 2 / 4 = 3.5 (f0 would end at 3 + 6 / 6 = 4).
# t = 3.5: f0 has 6 - 3 = 3 left, alone on L0 at 10: it ends at 3.5 + 0.3 = 3.8.
TINY_PATHS = [np.array([0]), np.array([0, 1]), np.array([1])]
TINY_CAP = np.array([10.0, 4.0])
TINY_SIZES = np.array([30.0, 8.0, 6.0])


def test_tiny_network_rates_by_hand():
    a = np.array([[1, 1, 0], [0, 1, 1]])
    assert max_min_rates(a, TINY_CAP) == pytest.approx([8.0, 2.0, 2.0], rel=1e-12)


def test_tiny_network_finish_times_by_hand():
    inc = Incidence.from_paths(TINY_PATHS, 2)
    everyone = np.ones(3, dtype=bool)
    got = finish_times(inc, TINY_CAP, TINY_SIZES, everyone, RTOL)
    assert got == pytest.approx([3.8, 3.5, 3.0], rel=1e-12)


def test_tiny_network_without_the_short_flow():
    # f2 inactive: L1 holds f1 alone at 4 < L0's 5, so f1 = 4, f0 = 6. f1 ends at
    # 8 / 4 = 2 (f0 has 30 - 12 = 18 left), then f0 runs alone at 10: 2 + 1.8 = 3.8.
    # An inactive flow finishes at 0 and takes no capacity.
    inc = Incidence.from_paths(TINY_PATHS, 2)
    got = finish_times(inc, TINY_CAP, TINY_SIZES, np.array([True, True, False]), RTOL)
    assert got == pytest.approx([3.8, 2.0, 0.0], rel=1e-12)


def test_equal_flows_on_one_link_finish_together():
    # three 6-byte flows on one 3 B/s link: 1 B/s each, all done at t = 6 (not 2, 4, 6)
    inc = Incidence.from_paths([np.array([0])] * 3, 1)
    got = finish_times(inc, np.array([3.0]), np.full(3, 6.0), np.ones(3, dtype=bool), RTOL)
    assert got == pytest.approx([6.0, 6.0, 6.0], rel=1e-12)
