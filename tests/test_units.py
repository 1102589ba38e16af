"""simulator/units.py: the constants, and no module spelling them out instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator import units

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"


def test_units() -> None:
    assert units.MINUTE == 60 and units.HOUR == 60 * 60 and units.DAY == 24 * 60 * 60
    assert units.GIB == 1024 * 1024 * 1024 and units.GB == 1000**3
    assert units.GBIT * 8 == units.GB  # 400 Gb/s NDR = 50 GB/s


#: A time or size constant spelled out instead of taken from simulator/units.py.
_SPELLED = re.compile(r"(?<![\w.])(3600|86400|2\s*\*\*\s*30)(\.0)?(?![\w.])")


#: every module, sub-packages included (the layout of #11 moves modules into them)
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_units_come_from_one_module(path: Path) -> None:
    if path == PACKAGE / "units.py":  # the one place they are spelled out
        return
    code = [line.split("#")[0] for line in path.read_text(encoding="utf-8").splitlines()]
    found = [line.strip() for line in code if _SPELLED.search(line)]
    assert not found, f"{path.relative_to(PACKAGE)}: use simulator.units instead of {found}"


def test_binary_prefixes_read_as_nccl_tests_does() -> None:
    # nccl-tests' `-b 1G` is 2^30 bytes: K, M, G, T are powers of 1,024
    assert units.BINARY_PREFIXES == {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3,
                                     "T": 1024**4}
