"""A replicate's story: which wall-clock interval went to which accounting category.

`TimelineLedger` is the ledger (simulator/reliability/metrics.py) that also remembers
*where* its time went, at the resolution of its own segments (no per-step records):
every interval between two phase changes becomes one or more `Span`s, and each span gets
its final category when the ledger decides it (a provisional compute span becomes
useful when its checkpoint commits, rework when a failure rolls it back, rework again
when silent data corruption rolls back past a durable checkpoint).

The categories are the ledger's own, found generically: a phase interval is split into
exactly what the ledger's `_close` added to each total or provisional bucket (compute
at a slowdown f: its 1/f share as compute, then the rest as degraded; with a share c of
replicas training, 1 - c as replicas_out), so a category added to the ledger shows up
here by itself. The shares of one interval are laid end to end inside it, in the
ledger's order (time-equivalents, as the ledger counts them). The spans of each category
sum to the ledger's total of that category (tests/test_timeline.py).

`phases` keeps what the job was doing, interval by interval (compute, checkpoint,
restart, wait), with the slowdown and the share of replicas training.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.reliability.metrics import Ledger, Phase, PhaseListener

#: A provisional bucket's category once its checkpoint is durable (others keep their
#: name: checkpoint -> checkpoint, degraded -> degraded). Rolled back, all are rework.
KEPT_AS = {"compute": "useful"}
ROLLED_BACK = "rework"


@dataclass(slots=True)
class Span:
    """[start_s, start_s + duration_s) of the job's wall clock, in `category` (final once
    the ledger decided; until then the provisional bucket's name), during `phase`."""

    start_s: float
    duration_s: float
    category: str
    phase: str


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """An interval the job spent in one phase, at one slowdown and share of replicas."""

    start_s: float
    end_s: float
    phase: str
    slowdown: float
    capacity: float


class TimelineLedger(Ledger):
    """The ledger, keeping each interval's attribution as spans (see the module text)."""

    def __init__(self, meter: PhaseListener | None = None) -> None:
        super().__init__(meter)
        self.spans: list[Span] = []  # every span, in the order of their intervals
        self.phases: list[PhaseSpan] = []
        self._open: list[Span] = []  # provisional spans of the open segment
        self._sealed_spans: list[list[Span]] = []  # ... of each sealed segment
        self._kept: list[Span] = []  # spans committed from provisional, in order
        self._marks: dict[tuple[float, float, float], int] = {}  # committed() -> len(kept)

    def _close(self, now: float) -> None:
        start, phase = self._since, self._phase
        slowdown, capacity = self._slowdown, self._capacity
        totals, pending = dict(self.totals), dict(self._pending)
        super()._close(now)
        if now <= start:
            return
        self.phases.append(PhaseSpan(start, now, phase.value, slowdown, capacity))
        at = start
        for provisional, before in ((True, pending), (False, totals)):
            after = self._pending if provisional else self.totals
            for key, value in after.items():
                amount = value - before.get(key, 0.0)
                if amount <= 0.0:
                    continue
                span = Span(at, amount, key, phase.value)
                self.spans.append(span)
                if provisional:
                    self._open.append(span)
                at += amount

    def seal(self, now: float) -> None:
        super().seal(now)
        self._sealed_spans.append(self._open)
        self._open = []

    def commit_oldest(self) -> None:
        super().commit_oldest()
        for span in self._sealed_spans.pop(0):
            span.category = KEPT_AS.get(span.category, span.category)
            self._kept.append(span)

    def rollback_open(self, now: float) -> None:
        super().rollback_open(now)
        _roll_back(self._open)
        self._open = []

    def rollback(self, now: float) -> None:
        super().rollback(now)
        for segment in (*self._sealed_spans, self._open):
            _roll_back(segment)
        self._sealed_spans, self._open = [], []

    def committed(self) -> tuple[float, float, float]:
        mark = super().committed()
        self._marks[mark] = len(self._kept)
        return mark

    def uncommit(self, mark: tuple[float, float, float]) -> None:
        super().uncommit(mark)
        since = self._marks.get(mark, 0)
        _roll_back(self._kept[since:])
        del self._kept[since:]

    def totals_by_span(self) -> dict[str, float]:
        """Seconds per category, summed over the spans (equal to `totals` after
        `finish`; tests/test_timeline.py)."""
        out: dict[str, float] = {}
        for span in self.spans:
            out[span.category] = out.get(span.category, 0.0) + span.duration_s
        return out


def _roll_back(spans: list[Span]) -> None:
    for span in spans:
        span.category = ROLLED_BACK


__all__ = ["KEPT_AS", "ROLLED_BACK", "Phase", "PhaseSpan", "Span", "TimelineLedger"]
