"""Imperfect diagnosis: the operators swap the wrong node, and the faulty one fails again.

After a hardware failure (a part of a node or GPU, from the part clock) the operators
decide which node to take out. With probability `restart.diagnosis_accuracy` they are
right; otherwise they blame a wrong, healthy node of the job, chosen uniformly among the
others in service (AIReSim, Lin, Pattabiraman and Patel, arXiv 2603.07041, 2026:
`diagnosis_uncertainty`, "every diagnosed failure is attributed to a randomly chosen
innocent server; the actual bad server escapes back"). The healthy node goes to repair
(nothing is renewed) and a spare takes its slot; the faulty node stays in service with
its broken part, which fails again once its node has served
`restart.repeat_failure_minutes` more (its deadline on the part clock moves there: the
fault is still present and the job trips on it again soon after it resumes). That repeat
failure is diagnosed again, with the same accuracy, and keeps the first one's cause.

Counted: `misdiagnoses` (failures blamed on the wrong node) and `repeat_failures`
(failures of a part left in service by a misdiagnosis). Each failure is misdiagnosed
independently with probability q = 1 - accuracy, so a first failure is followed by a
geometric number of repeats, P(k) = q^k (1 - q), of mean q / (1 - q).

Every part failure draws its diagnosis from the stream `diagnosis`, whatever the
accuracy, so that runs at different accuracies share their draws; at accuracy 1 the draw
never blames anyone and the run is the one of perfect diagnosis. Failures replayed from
a trace, switch, rack and job-scope faults are not diagnosed here (they name what
failed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulator.reliability.failure_source import PartRef
from simulator.reliability.node import Node


class Diagnosis:
    """Decides, for each part failure, which node the operators take out."""

    def __init__(self, accuracy: float, repeat_s: float, rng: np.random.Generator) -> None:
        self.accuracy = accuracy
        self.repeat_s = repeat_s
        self.rng = rng
        self.misdiagnoses = 0
        self.repeat_failures = 0
        self._left: dict[tuple[int, int], str] = {}  # (node, part slot) left broken -> cause

    def recurs(self, part: PartRef, cause: str) -> str:
        """A part failed: count it if a misdiagnosis left it in service; its cause (a
        repeat keeps the first failure's)."""
        first = self._left.pop((part.node, part.slot), None)
        if first is None:
            return cause
        self.repeat_failures += 1
        return first

    def blamed(self, part: PartRef, cause: str, nodes: Sequence[Node]) -> Node | None:
        """The healthy node wrongly taken out for the failure of `part`, or None if the
        diagnosis is right (or no other node serves)."""
        if self.rng.random() < self.accuracy:
            return None
        others = [node for node in nodes if node.serving and node.index != part.node]
        if not others:
            return None
        wrong = others[int(self.rng.integers(len(others)))]
        self.misdiagnoses += 1
        self._left[(part.node, part.slot)] = cause
        return wrong
