"""Accelerator catalog: vendor figures, dense BF16 (shared/REFERENCE.md, "Accelerators").

Selected by name in `cluster.accelerator`. Power is per accelerator (board power);
None where the vendor publishes none. A100 is not in REFERENCE.md: its figures are
NVIDIA's A100 SXM datasheet (312 TFLOP/s dense BF16, 80 GB HBM2e at 2.04 TB/s, NVLink3
600 GB/s total = 300 GB/s per direction, 400 W); MegaScale's 175B run used A100s.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accelerator:
    name: str
    bf16_tflops: float  # dense BF16 peak, TFLOP/s
    hbm_gb: float
    hbm_tb_per_s: float
    scaleup_gb_per_s: float  # per direction, per accelerator
    scaleup_domain: int  # accelerators in one scale-up (NVLink / ICI) domain
    power_w: float | None


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        Accelerator("A100", 312, 80, 2.04, 300, 8, 400),
        Accelerator("H100", 989, 80, 3.35, 450, 8, 700),
        Accelerator("H200", 989, 141, 4.8, 450, 8, 700),
        Accelerator("B200", 2250, 180, 8.0, 900, 8, 1000),
        Accelerator("GB200", 2500, 186, 8.0, 900, 72, 1200),
        Accelerator("MI300X", 1300, 192, 5.3, 448, 8, 750),
        Accelerator("TPUv5p", 459, 95, 2.77, 600, 8960, None),
        Accelerator("Trainium2", 667, 96, 2.9, 640, 16, None),
    )
}
