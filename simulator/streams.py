"""Independent random streams: one per (seed, replicate, stochastic source).

Each stream is derived from `SeedSequence(seed)` by a fixed spawn key, so adding a
source never shifts another, replicate r is the same whatever the replicate count, and
two policies run on the same seed see the same failures (common random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np


def source_key(source: str) -> int:
    """A stable integer for a source name (crc32: the same on every run and platform)."""
    return zlib.crc32(source.encode("utf-8"))


def stream(seed: int, replicate: int, source: str) -> np.random.Generator:
    """The random generator of `source` in replicate `replicate` of `seed`."""
    seq = np.random.SeedSequence(seed, spawn_key=(replicate, source_key(source)))
    return np.random.Generator(np.random.PCG64(seq))
