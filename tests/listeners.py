"""A cluster listener for tests: it records what the cluster tells it, with the time."""

from __future__ import annotations

import simpy

from simulator.reliability.failure_source import FailureRecord
from simulator.reliability.node import Node


class Recorder:
    """Records every call of simulator.reliability.failure_source.ClusterListener as
    (time, what)."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.failures: list[FailureRecord] = []
        self.calls: list[tuple[float, str]] = []
        self.found: list[Node] = []

    def on_failure(self, record: FailureRecord) -> None:
        self.failures.append(record)
        self.calls.append((self.env.now, "failure"))

    def on_planned(self) -> None:
        self.calls.append((self.env.now, "planned"))

    def on_speed(self) -> None:
        self.calls.append((self.env.now, "speed"))

    def on_found(self, node: Node) -> None:
        self.found.append(node)
        self.calls.append((self.env.now, "found"))
