"""The timeline's spans (simulator/reliability/timeline.py) on scripted ledgers: each
interval's final category worked out by hand from the ledger's rules (DESIGN.md "Time
accounting"), and a category added to the ledger showing up by itself."""

from __future__ import annotations

import pytest

from simulator.reliability.metrics import Ledger, Phase
from simulator.reliability.timeline import TimelineLedger


def spans(ledger: TimelineLedger) -> list[tuple[float, float, str]]:
    return [(s.start_s, s.duration_s, s.category) for s in ledger.spans]


def test_commit_slowdown_rollback_restart_wait_and_capacity():
    ledger = TimelineLedger()
    ledger.seal(100.0)  # compute [0, 100) waits for its checkpoint
    ledger.enter(Phase.CHECKPOINT, 100.0)
    ledger.commit(110.0)  # synchronous write [100, 110) done: both durable
    ledger.enter(Phase.COMPUTE, 110.0, slowdown=2.0)  # 40 s at half speed: 20 + 20 degraded
    ledger.rollback(150.0)  # a failure: all of it rework, the degraded half too
    ledger.enter(Phase.RESTART, 150.0)
    ledger.enter(Phase.WAIT, 160.0)
    ledger.enter(Phase.COMPUTE, 170.0, capacity=0.5)  # 20 s with half the replicas
    ledger.finish(190.0)  # never rolled back: useful
    assert spans(ledger) == [(0.0, 100.0, "useful"), (100.0, 10.0, "checkpoint"),
                             (110.0, 20.0, "rework"), (130.0, 20.0, "rework"),
                             (150.0, 10.0, "restart"), (160.0, 10.0, "wait"),
                             (170.0, 10.0, "useful"), (180.0, 10.0, "replicas_out")]
    assert ledger.totals_by_span() == {k: v for k, v in ledger.totals.items() if v}
    assert [(p.start_s, p.end_s, p.phase) for p in ledger.phases] == [
        (0.0, 100.0, "compute"), (100.0, 110.0, "checkpoint"), (110.0, 150.0, "compute"),
        (150.0, 160.0, "restart"), (160.0, 170.0, "wait"), (170.0, 190.0, "compute")]


def test_an_asynchronous_write_commits_the_sealed_segment_only():
    ledger = TimelineLedger()
    ledger.seal(100.0)  # the write of [0, 100) goes on in the background
    ledger.commit_oldest()  # ... and becomes durable while [100, ...) computes
    ledger.seal(200.0)  # [100, 200) sealed, its write in flight
    ledger.rollback_open(230.0)  # in-memory recovery: only the open [200, 230) is lost
    ledger.rollback(250.0)  # a full rollback: the sealed [100, 200) and [230, 250) too
    ledger.finish(250.0)
    assert spans(ledger) == [(0.0, 100.0, "useful"), (100.0, 100.0, "rework"),
                             (200.0, 30.0, "rework"), (230.0, 20.0, "rework")]
    assert ledger.totals["useful"] == 100.0 and ledger.totals["rework"] == 150.0


def test_uncommit_turns_the_committed_spans_since_the_mark_into_rework():
    ledger = TimelineLedger()
    ledger.commit(100.0)
    mark = ledger.committed()  # durable up to 100 s
    ledger.enter(Phase.CHECKPOINT, 150.0)
    ledger.commit(160.0)  # [100, 150) and its write [150, 160) durable ...
    ledger.enter(Phase.COMPUTE, 160.0)
    ledger.uncommit(mark)  # ... but corrupted: back to the mark
    ledger.finish(200.0)
    assert spans(ledger) == [(0.0, 100.0, "useful"), (100.0, 50.0, "rework"),
                             (150.0, 10.0, "rework"), (160.0, 40.0, "useful")]
    assert ledger.totals_by_span() == {"useful": 140.0, "rework": 60.0}


class StallingLedger(Ledger):
    """A ledger with a category of its own (as a data pipeline's input stalls would
    add): a tenth of compute time is `input_stall`, final at once."""

    def __init__(self, meter=None) -> None:
        super().__init__(meter)
        self.totals["input_stall"] = 0.0

    def _close(self, now: float) -> None:
        if self._phase is Phase.COMPUTE:
            stalled = (now - self._since) / 10
            self.totals["input_stall"] += stalled
            self._since += stalled
        super()._close(now)


class StallingTimeline(TimelineLedger, StallingLedger):
    pass


def test_a_category_the_ledger_adds_shows_up_by_itself():
    ledger = StallingTimeline()
    ledger.enter(Phase.CHECKPOINT, 100.0)
    ledger.commit(110.0)
    ledger.finish(110.0)
    assert spans(ledger) == [(0.0, 90.0, "useful"), (90.0, 10.0, "input_stall"),
                             (100.0, 10.0, "checkpoint")]
    assert ledger.totals_by_span() == pytest.approx(
        {k: v for k, v in ledger.totals.items() if v})
