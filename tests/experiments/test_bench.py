"""The benchmark's bookkeeping (simulator/bench.py): a case passes within 20% of its
targets, every case states one, and bad arguments exit 2.

The timing itself is the bench's job (`python -m simulator.bench`), not a test's: these
checks use made-up results, worked out against the targets by hand.
"""

from __future__ import annotations

import pytest

from simulator.bench import CASES, Case, main, verdict


def test_verdict_allows_twenty_percent_over_each_target():
    case = Case("x", "a case", (), max_wall_s=1.0, max_rss_mb=300.0)
    # 1.2 s and 360 MB are exactly 20% over: still a pass; 1.21 s is not
    assert verdict(case, {"wall_s": 1.2, "rss_mb": 360.0}) == ("<= 1 s, <= 300 MB", True)
    assert verdict(case, {"wall_s": 1.21, "rss_mb": 100.0})[1] is False
    assert verdict(case, {"wall_s": 0.5, "rss_mb": 361.0})[1] is False


def test_verdict_of_an_events_per_second_target():
    # at least 50% of raw SimPy's events/s, less 20%: raw / wall >= 0.5 / 1.2 = 0.4167
    case = Case("steps", "a case", (), min_raw_share=0.5)
    assert verdict(case, {"raw_s": 0.42, "wall_s": 1.0}) == (">= 50% raw ev/s", True)
    assert verdict(case, {"raw_s": 0.41, "wall_s": 1.0})[1] is False
    assert verdict(Case("d", "no target", ()), {"wall_s": 99.0}) == ("-", True)


def test_verdict_of_a_set_up_plus_replicate_target():
    # 1.5 s + 20% = 1.8 s for set-up and one replicate together: 1.7 passes, 1.9 not
    case = Case("c", "a case", (), max_total_s=1.5)
    assert verdict(case, {"setup_s": 0.5, "wall_s": 1.2}) == ("setup+wall <= 1.5 s", True)
    assert verdict(case, {"setup_s": 0.7, "wall_s": 1.2})[1] is False


def test_the_million_gpu_case_is_a_whole_process_of_one_replicate():
    case = CASES["million"]
    assert case.kind == "process" and "replicates=1" in case.overrides
    assert "cluster.gpus=1000000" in case.overrides
    assert (case.max_wall_s, case.max_rss_mb) == (5.0, 1000.0)


def test_every_case_states_a_target_or_is_the_reference():
    for case in CASES.values():
        assert case.kind in ("replicate", "fabric", "sweep", "process")
        assert case.what and case.name
        if case.name != "default":
            assert (case.max_wall_s, case.max_rss_mb, case.min_raw_share,
                    case.max_ratio) != (None,) * 4


def test_bad_repeat_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--repeat", "0"])
    assert info.value.code == 2
    assert "--repeat must be at least 1" in capsys.readouterr().err


def test_the_plain_loop_runs_the_sweeps_configurations_in_hydras_order():
    # Hydra's basic sweeper: the cartesian product, the last swept key varying fastest
    from simulator.bench import _sweep_runs

    runs = _sweep_runs(("-m", "hydra/launcher=laptop", "a=1,2", "replicates=5", "b=x,y,z"))
    assert runs == [["replicates=5", "a=1", "b=x"], ["replicates=5", "a=1", "b=y"],
                    ["replicates=5", "a=1", "b=z"], ["replicates=5", "a=2", "b=x"],
                    ["replicates=5", "a=2", "b=y"], ["replicates=5", "a=2", "b=z"]]


def test_a_ratio_target_allows_twenty_percent():
    # 1.15x the reference, less 20%: wall / reference <= 1.38
    case = Case("s", "a sweep", (), max_ratio=1.15, kind="sweep", reference="loop")
    assert verdict(case, {"wall_s": 13.7, "raw_s": 10.0}) == ("<= 1.15x loop", True)
    assert verdict(case, {"wall_s": 13.9, "raw_s": 10.0})[1] is False
