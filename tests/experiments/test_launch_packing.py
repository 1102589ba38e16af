"""How the packing launchers split a sweep and write back what a Ray task returns
(simulator/experiments/results_launch.py, results_cluster.py); the launchers themselves
run end to end in tests/test_launchers.py."""

from __future__ import annotations

import pytest

from simulator.errors import ConfigError
from simulator.experiments.outputs import DIGEST_FILE, EVENTS_FILE, SUMMARY_FILE
from simulator.experiments.results_cluster import write_returned
from simulator.experiments.results_launch import chunks, count_key, runs_per_task


def test_chunks_are_consecutive_runs_in_order_the_last_shorter() -> None:
    assert chunks(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert chunks(list(range(3)), 5) == [[0, 1, 2]]
    assert chunks([], 3) == []


def test_runs_per_task_spreads_the_runs_over_the_tasks_that_run_at_once() -> None:
    # 10,000 runs over 64 array slots: 64 x 156 = 9,984 < 10,000 <= 64 x 157
    assert runs_per_task(10_000, None, 64) == 157
    assert len(chunks(list(range(10_000)), 157)) == 64
    assert runs_per_task(4, None, 64) == 1  # a small sweep: one run per task, as before
    assert runs_per_task(10, 4, 64) == 4  # the user's choice wins
    assert runs_per_task(5, None, 0) == 5  # no slot reported: one task


@pytest.mark.parametrize("value", [0, -2, 1.5, "3", True])
def test_a_count_key_names_the_key_the_value_and_what_is_allowed(value) -> None:
    with pytest.raises(ConfigError) as caught:
        count_key("hydra.launcher.runs_per_task", value, "a whole number >= 1")
    assert (caught.value.key, caught.value.value) == ("hydra.launcher.runs_per_task", value)
    assert caught.value.allowed == "a whole number >= 1"


def test_count_key_accepts_whole_numbers_and_its_auto_value() -> None:
    assert count_key("k", 3, "") == 3
    assert count_key("k", None, "") is None
    assert count_key("k", -1, "", auto=-1) is None


def test_a_returned_run_replaces_an_earlier_attempt_summary_last(tmp_path) -> None:
    folder = tmp_path / "3"
    folder.mkdir()
    (folder / SUMMARY_FILE).write_text("old\n")
    (folder / DIGEST_FILE).write_text("old digest\n")
    (folder / EVENTS_FILE).write_text("old events\n")  # the new run wrote none
    files = {SUMMARY_FILE: b"new\n", DIGEST_FILE: b"new digest\n",
             ".hydra/overrides.yaml": b"- seed=1\n"}
    write_returned(folder, files, seeds={})
    assert (folder / SUMMARY_FILE).read_bytes() == b"new\n"
    assert (folder / DIGEST_FILE).read_bytes() == b"new digest\n"
    assert (folder / ".hydra" / "overrides.yaml").read_bytes() == b"- seed=1\n"
    assert not (folder / EVENTS_FILE).exists()  # not left beside a summary it is not of
    assert sorted(p.name for p in folder.rglob(".*.tmp")) == []


def test_a_reused_run_keeps_its_folder(tmp_path) -> None:
    folder = tmp_path / "0"
    folder.mkdir()
    seeds = {SUMMARY_FILE: b"rows\n", DIGEST_FILE: b"digest\n"}
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    (folder / EVENTS_FILE).write_text("events of this run\n")
    write_returned(folder, dict(seeds), seeds)  # the task reused the run: same summary
    assert (folder / EVENTS_FILE).read_text() == "events of this run\n"
    assert (folder / SUMMARY_FILE).read_bytes() == b"rows\n"
