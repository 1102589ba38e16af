"""A server of the cluster: in service or not, how fast its parts age, its failures."""

from __future__ import annotations

import collections
from typing import Protocol


class ServiceWatcher(Protocol):
    """Who keeps the parts' clocks: told whenever a node enters or leaves service."""

    def service_changed(self, node: Node) -> None: ...


class Node:
    """A server: whether it is in service (allocated to the job), how fast its parts
    age (a lemon's faster), and its recent failures (for lemon detection). Its parts'
    lifetimes are in the part clock's table, row `index`."""

    # A 1,000,000-GPU cluster has 129,000 of them, built for every replicate.
    __slots__ = ("failure_times", "index", "serving", "slot", "speed", "watcher")

    def __init__(self, watcher: ServiceWatcher, index: int) -> None:
        self.watcher = watcher
        self.index = index
        self.serving = False
        self.slot = -1
        self.speed = 1.0  # a lemon's parts age `factor` times as fast
        self.failure_times: collections.deque[float] = collections.deque()

    def enter_service(self) -> None:
        self.serving = True
        self.watcher.service_changed(self)

    def leave_service(self) -> None:
        """Stop its parts' clocks (they keep their age)."""
        self.serving = False
        self.watcher.service_changed(self)
