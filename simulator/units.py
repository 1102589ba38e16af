"""Units: every module converts with these names instead of its own `3600.0`.

Times are in seconds (the simulation clock), sizes in bytes. GB and Gb are decimal (SI,
as vendors quote bandwidths and HBM capacity); GiB is binary (2^30 bytes, what
nvidia-smi and allocators count).
"""

from __future__ import annotations

MINUTE = 60.0  # s
HOUR = 3600.0  # s
DAY = 86400.0  # s

GB = 1e9  # bytes (SI gigabyte)
GIB = 2.0**30  # bytes (binary gibibyte)
GBIT = GB / 8  # bytes in one gigabit (SI)

#: Size suffixes of the command line, binary as nccl-tests reads them (`-b 1G` is 2^30 B).
BINARY_PREFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
