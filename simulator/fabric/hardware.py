"""Accelerator catalog: vendor figures, dense (no sparsity) tensor-core peaks
(shared/REFERENCE.md, "Accelerators").

Selected by name in `cluster.accelerator`. Power is per accelerator (board power);
None where the vendor publishes none. A100 is not in REFERENCE.md: its figures are
NVIDIA's A100 SXM datasheet (312 TFLOP/s dense BF16, 80 GB HBM2e at 2.04 TB/s, NVLink3
600 GB/s total = 300 GB/s per direction, 400 W); MegaScale's 175B run used A100s.

Dense FP8 peaks (`workload.precision=fp8`), vendor figures (datasheets print the
sparse figure, twice the dense one, with an asterisk):

- H100 SXM and H200 SXM: 1,979 TFLOP/s (NVIDIA H100 / H200 datasheets: FP8 Tensor Core
  3,958 TFLOP/s with sparsity; the same GH100 silicon and clocks in both);
- B200 (HGX, 1,000 W): 4,500 TFLOP/s; GB200 (1,200 W): 5,000 TFLOP/s (NVIDIA HGX B200 and
  GB200 NVL72 specifications: 9 and 10 PFLOP/s sparse per GPU; 720 PFLOP/s sparse FP8
  per 72-GPU NVL72 rack);
- MI300X: 2,614.9 TFLOP/s (AMD Instinct MI300X datasheet, peak FP8 without sparsity);
- Trainium2: 1,299 TFLOP/s (AWS Neuron documentation, "Trainium2 Architecture");
- A100 (Ampere) has no FP8 tensor cores; Google publishes no FP8 rate for TPU v5p (459
  TFLOP/s BF16, 918 TOPS INT8): `precision=fp8` on either is a configuration error.

Prices per accelerator-hour (`cluster.gpu_hour_usd` null takes them; set your own: they
are assumptions, the low end of specialised-cloud on-demand rates, which reserved
contracts undercut): A100 1.5, H100 2.5, H200 3.5 (Mercatus "Cloud GPU pricing", May
2026: specialised clouds A100 $1.10-1.50, H100 $2.50-3.50, H200 $3.50-4.50 per GPU-hour);
B200 4.5 (Lyceum, "NVIDIA B200 GPU Cloud Pricing 2026": $4.50-6.00 on-demand on
specialised clouds); GB200 6.0 per GPU (assumption, between B200 and Spheron's March
2026 $9.08 per two-GPU GB200 superchip plus the NVL72 rack premium); TPU v5p 4.2 (Google
Cloud's 2024 on-demand list price per v5p chip-hour). None for MI300X and Trainium2 (no
price assumed: cost columns are nan unless `cluster.gpu_hour_usd` is set).
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("bf16", "fp8")


@dataclass(frozen=True)
class Accelerator:
    name: str
    bf16_tflops: float  # dense BF16 peak, TFLOP/s
    hbm_gb: float  # HBM capacity as the vendor prints it (GiB as nvidia-smi counts it)
    hbm_tb_per_s: float
    scaleup_gb_per_s: float  # per direction, per accelerator
    scaleup_domain: int  # accelerators in one scale-up (NVLink / ICI) domain
    power_w: float | None
    fp8_tflops: float | None = None  # dense FP8 peak, TFLOP/s; None: no FP8 tensor cores
    hour_usd: float | None = None  # assumed price of one accelerator-hour (docstring)

    def peak_tflops(self, precision: str) -> float | None:
        """Dense peak of `precision` ("bf16" or "fp8"), TFLOP/s; None if unsupported."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; one of {PRECISIONS}")
        return self.bf16_tflops if precision == "bf16" else self.fp8_tflops


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        Accelerator("A100", 312, 80, 2.04, 300, 8, 400, hour_usd=1.5),
        Accelerator("H100", 989, 80, 3.35, 450, 8, 700, 1979, 2.5),
        Accelerator("H200", 989, 141, 4.8, 450, 8, 700, 1979, 3.5),
        Accelerator("B200", 2250, 180, 8.0, 900, 8, 1000, 4500, 4.5),
        Accelerator("GB200", 2500, 186, 8.0, 900, 72, 1200, 5000, 6.0),
        Accelerator("MI300X", 1300, 192, 5.3, 448, 8, 750, 2614.9),
        Accelerator("TPUv5p", 459, 95, 2.77, 600, 8960, None, hour_usd=4.2),
        Accelerator("Trainium2", 667, 96, 2.9, 640, 16, None, 1299),
    )
}


def peak_flops(accelerator: str, precision: str = "bf16") -> float:
    """The dense peak FLOP/s of one `accelerator` at `precision`: the one place the
    step model, the failure domains' link slowdown and the benchmark take it from.
    Raises ValueError if the accelerator has no such tensor-core rate."""
    acc = ACCELERATORS[accelerator]
    tflops = acc.peak_tflops(precision)
    if tflops is None:
        supported = ", ".join(n for n, a in ACCELERATORS.items() if a.peak_tflops(precision))
        raise ValueError(f"{accelerator} has no {precision.upper()} tensor-core rate; "
                         f"accelerators with one: {supported}")
    return tflops * 1e12
