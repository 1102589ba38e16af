"""Electrical draw by component and state, and the step-time cost of a per-GPU power cap.

IT power only (before PUE), in watts. One `PowerModel` per accelerator generation, the
host figures per node of `gpus_per_node` accelerators (the vendor system they come from).
States: **compute** (a training step's busy phase), **comm** (communication-bound or a
pipeline bubble), **idle** (allocated but waiting: storage, checkpoint write, restart,
repair); a host is **busy** while the job runs and **idle** while it is stopped. A failed
node being repaired or swapped draws nothing here; whether it does is the caller's choice.

Where every figure comes from (`sources` repeats it per model, one line per figure):

- Board power: `simulator.fabric.hardware.ACCELERATORS` (vendor datasheets).
- System maxima: DGX H100 and DGX H200 "~10.2 kW max" (NVIDIA DGX H100/H200 User Guide,
  Introduction, https://docs.nvidia.com/dgx/dgxh100-user-guide/); DGX B200 "~14.3 kW max"
  (NVIDIA DGX B200 User Guide, https://docs.nvidia.com/dgx/dgxb200-user-guide/); DGX A100
  "6.5 kW max" (NVIDIA DGX A100 User Guide, https://docs.nvidia.com/dgx/dgxa100-user-guide/);
  GB200 NVL72 rack ~120 kW (NVIDIA) to ~132 kW (SemiAnalysis, "GB200 Hardware
  Architecture", 2024): 132 kW taken as the rack's maximum, 18 compute trays of 4 GPUs
  (approximate, press/analyst figure). No AMD MI300X system maximum was found.
- `gpu_compute_w` = COMPUTE_FRACTION x board power. COMPUTE_FRACTION = 647 / 700: an H100
  capped at its 700 W board power drew 647 W on average (memory + GPU) under a
  compute-bound load (Ujeniya, Eitzinger, Hager, Wellein, "Architectural Trade-offs in the
  Energy-Efficient Era: A Comparative Study of power-capping NVIDIA H100 and H200",
  arXiv:2604.11391, Fig. 9b, ViT-L/16 batch 256; figure values as transcribed in a public
  repository, not re-read from the paper). Peaks reach or exceed board power
  (Patel et al., "Characterizing Power Management Opportunities for LLMs in the Cloud",
  ASPLOS 2024); this is the mean of the busy phase. Other generations: the same fraction
  is an ASSUMPTION.
  Under a cap below that, the same measurement drew about the cap (199, 298, 395, 493,
  591 W at caps of 200..600 W): `compute_w_at_cap` = min(`gpu_compute_w`, cap).
- `gpu_comm_w` = COMM_FRACTION x `gpu_compute_w`, COMM_FRACTION = 0.5: ASSUMPTION.
  Choukse et al. ("Power Stabilization for AI Training Datacenters", Microsoft, OpenAI,
  NVIDIA, arXiv:2508.14318) show production DGX H100 traces alternating between a
  compute-heavy high and a communication-heavy low without a table of the two levels;
  Uptime Institute ("Electrical considerations with large AI compute", 2025) estimates the
  high can exceed the low by more than 100% in the worst case, i.e. low <= high / 2.
- `gpu_idle_w` = IDLE_FRACTION x board power, IDLE_FRACTION = 1/7 (100 W on H100):
  ASSUMPTION, the upper end of the 70-100 W an idle H100 is commonly reported at, since an
  allocated GPU keeps its context and clocks up.
- `host_busy_w` = HOST_BUSY_FRACTION x (system maximum - GPUs x board power), i.e. a share
  of everything but the accelerators (CPUs, memory, NICs, NVSwitch trays, fans, local
  storage, power-supply losses). HOST_BUSY_FRACTION is DERIVED on DGX H100: "even
  computationally intensive workloads operate at only 76% of the 10.2 kW" (Newkirk et al.,
  "Empirically-Calibrated H100 Node Power Models for Reducing Uncertainty in AI Training
  Energy Estimation", arXiv:2506.14551, 8-GPU H100 nodes at Brookhaven National Laboratory),
  so host = 0.76 x 10,200 - 8 x 647 = 2,576 W, 56% of its 4,600 W non-GPU maximum. Other
  generations: the same 56% share is an ASSUMPTION. MI300X: no system maximum published,
  the DGX H100 host (dual-socket, 8-GPU baseboard) is an ASSUMPTION.
  Check, not calibration: Latif et al. ("Single-Node Power Demand During AI Training:
  Measurements on an 8-GPU NVIDIA H100 System", IEEE Access 13, 2025, arXiv:2412.08602)
  measured at most ~8.4 kW on an 8-GPU H100 HGX node training Llama2-13b and ResNet;
  this model's full-load DGX H100 draws 8 x 647 + 2,576 = 7,752 W, 8% under it.
- `host_idle_w` = HOST_IDLE_FRACTION x `host_busy_w`, HOST_IDLE_FRACTION = 0.6:
  ASSUMPTION (CPUs idle, fans slower; NVSwitches, NICs and memory stay powered).
- `switch_w` = 747 + 32 x 17 = 1,291 W, DERIVED for an NVIDIA Quantum-2 QM9700 (64-port
  NDR, the scale-out switch of DGX H100/B200 SuperPODs) whose 32 OSFP cages carry optical
  transceivers: 747 W typical with passive cables (QM9700 datasheet; this figure was
  recalled, not re-read in a stored copy: VERIFY) plus 32 transceivers at the 17 W of the
  Class 8 OSFP112 modules the switch supports (QM97xx User Manual, Interfaces,
  https://docs.nvidia.com/networking/display/QM97X0PUB/Interfaces). `switch_max_w` =
  1,720 W, the QM9700's maximum with active cables (datasheet; the same figure appears in
  two independent public equipment catalogs). Used for every generation (GB200 SuperPODs
  use Quantum-X800, whose power was not found).

Power cap (`cap_slowdown`): step time at a per-GPU cap / uncapped, linear interpolation
of throughput between the points of a measured curve (`CAP_CURVES`), never extrapolated.
H100: Mayr, Wind, Schroeder, Moradi, Hager, Koestler, Wellein, "AI Application
Benchmarking: Power-Aware Performance Analysis for Vision and Language Models",
arXiv:2603.16164, Table 4, row "Pre-training / H100": LLaMA 3 8B continued pre-training
(LitGPT), per-GPU tokens/s at caps 200..700 W of 9,699.3 / 17,982.3 / 24,853.4 / 27,705.3
/ 29,250.0 / 30,271.0 (single node of 4 H100 SXM 94 GB; transcribed from the paper's
table as quoted in a public repository, not re-read from the paper itself). No published
curve was found for the other generations: `cap_slowdown` raises for them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from simulator.fabric.hardware import ACCELERATORS

COMPUTE_FRACTION = 647 / 700  # measured H100 mean draw at its 700 W cap (Ujeniya et al.)
COMM_FRACTION = 0.5  # of gpu_compute_w, assumption
IDLE_FRACTION = 1 / 7  # of board power, assumption (100 W on H100)
HOST_BUSY_FRACTION = (0.76 * 10_200 - 8 * 647) / (10_200 - 8 * 700)  # DGX H100, Newkirk et al.
HOST_IDLE_FRACTION = 0.6  # of host_busy_w, assumption
QM9700_PASSIVE_W = 747.0  # NVIDIA Quantum-2 QM9700, typical with passive cables (verify)
OSFP_CLASS8_W = 17.0  # a Class 8 OSFP112 transceiver (QM97xx User Manual, Interfaces)
QM9700_CAGES = 32  # twin-port OSFP cages, 64 NDR ports
QM9700_SWITCH_W = QM9700_PASSIVE_W + QM9700_CAGES * OSFP_CLASS8_W  # with optics, derived
QM9700_MAX_W = 1_720.0  # maximum with active cables (QM9700 datasheet)


@dataclass(frozen=True)
class PowerModel:
    """Electrical draw by component and state, in watts (IT power, before PUE)."""

    accelerator: str  # a key of simulator.fabric.hardware.ACCELERATORS
    gpu_compute_w: float  # per accelerator, in dense compute (a large-model step's busy phase)
    gpu_comm_w: float  # per accelerator, while communication-bound or in a pipeline bubble
    gpu_idle_w: float  # per accelerator, allocated but idle (storage, restart, hardware)
    host_busy_w: float  # per node, everything but the accelerators, while the job runs
    host_idle_w: float  # per node, the same while the job is stopped
    switch_w: float  # per scale-out network switch (leaf/spine/core), typical
    sources: str  # where every figure above comes from, one line per figure
    gpus_per_node: int = 8  # accelerators in the node the host figures are for
    system_max_w: float | None = None  # the vendor's maximum for that node, if published
    switch_max_w: float | None = None  # a switch's maximum (active cables), if published

    def node_w(self, gpu_w: float, host_busy: bool = True) -> float:
        """One node's draw with every accelerator at `gpu_w`."""
        return self.gpus_per_node * gpu_w + (self.host_busy_w if host_busy else self.host_idle_w)

    def host_w_per_gpu(self, host_busy: bool = True) -> float:
        """The host's draw per accelerator (for nodes of another size than `gpus_per_node`)."""
        return (self.host_busy_w if host_busy else self.host_idle_w) / self.gpus_per_node

    def compute_w_at_cap(self, cap_fraction: float) -> float:
        """The busy-phase draw under a per-GPU cap of `cap_fraction` x board power."""
        board = ACCELERATORS[self.accelerator].power_w
        assert board is not None  # a PowerModel exists only for accelerators with one
        return min(self.gpu_compute_w, cap_fraction * board)


@dataclass(frozen=True)
class _System:
    """The vendor system a generation's host figures come from."""

    accelerator: str
    gpus_per_node: int
    max_w: float | None  # None: no published maximum
    max_source: str


# MI300X has no published system maximum (max_w None): the host share is taken of the
# DGX H100's non-GPU maximum (10,200 - 8 x 700 W) instead, an assumption.
_DGX_H100_NON_GPU_W = 10_200 - 8 * 700

_SYSTEMS = (
    _System("H100", 8, 10_200, "DGX H100: ~10.2 kW max (NVIDIA DGX H100/H200 User Guide)"),
    _System("H200", 8, 10_200, "DGX H200: ~10.2 kW max (NVIDIA DGX H100/H200 User Guide)"),
    _System("A100", 8, 6_500, "DGX A100: 6.5 kW max (NVIDIA DGX A100 User Guide)"),
    _System("B200", 8, 14_300, "DGX B200: ~14.3 kW max (NVIDIA DGX B200 User Guide)"),
    _System("GB200", 4, 132_000 / 18,
            "GB200 NVL72 rack ~132 kW max (SemiAnalysis 2024; NVIDIA quotes ~120 kW) / 18 "
            "compute trays of 4 GPUs (approximate)"),
    _System("MI300X", 8, None,
            "no MI300X system maximum found: host of DGX H100 assumed (10.2 kW - 8 x 700 W)"),
)


def _model(system: _System) -> PowerModel:
    acc = ACCELERATORS[system.accelerator]
    board = acc.power_w
    assert board is not None
    n = system.gpus_per_node
    non_gpu = (system.max_w - n * board) if system.max_w is not None else _DGX_H100_NON_GPU_W
    compute = COMPUTE_FRACTION * board
    host_busy = HOST_BUSY_FRACTION * non_gpu
    measured = system.accelerator == "H100"
    how = "measured on H100" if measured else "H100's measured fraction, assumed here"
    sources = "\n".join((
        f"board power {board:g} W: vendor datasheet (simulator.fabric.hardware)",
        f"gpu_compute_w {compute:.1f} W: 647/700 of board power, {how} "
        "(Ujeniya et al., arXiv:2604.11391, Fig. 9b)",
        f"gpu_comm_w {COMM_FRACTION * compute:.1f} W: half of gpu_compute_w, assumption "
        "(Choukse et al., arXiv:2508.14318; Uptime Institute 2025: high > 2 x low at worst)",
        f"gpu_idle_w {IDLE_FRACTION * board:.1f} W: 1/7 of board power, assumption "
        "(an idle H100 is commonly reported at 70-100 W)",
        f"host_busy_w {host_busy:.1f} W: {HOST_BUSY_FRACTION:.4f} x non-GPU maximum "
        f"{non_gpu:g} W; share derived on DGX H100 from Newkirk et al., arXiv:2506.14551 "
        f"(76% of 10.2 kW){'' if measured else ', assumed for this system'}; {system.max_source}",
        f"host_idle_w {HOST_IDLE_FRACTION * host_busy:.1f} W: 0.6 x host_busy_w, assumption",
        f"switch_w {QM9700_SWITCH_W:g} W: NVIDIA Quantum-2 QM9700, 747 W typical with passive "
        "cables (datasheet; recalled, verify) + 32 x 17 W Class 8 OSFP transceivers "
        "(QM97xx User Manual); maximum 1,720 W with active cables (datasheet)",
    ))
    return PowerModel(
        accelerator=system.accelerator,
        gpu_compute_w=compute,
        gpu_comm_w=COMM_FRACTION * compute,
        gpu_idle_w=IDLE_FRACTION * board,
        host_busy_w=host_busy,
        host_idle_w=HOST_IDLE_FRACTION * host_busy,
        switch_w=QM9700_SWITCH_W,
        sources=sources,
        gpus_per_node=n,
        system_max_w=system.max_w,
        switch_max_w=QM9700_MAX_W,
    )


POWER_MODELS: dict[str, PowerModel] = {s.accelerator: _model(s) for s in _SYSTEMS}


def power_model(accelerator: str) -> PowerModel | None:
    """The power model of `accelerator`; None where nothing is published (TPU v5p,
    Trainium2: no board power). Raises ValueError for a name not in ACCELERATORS."""
    if accelerator not in ACCELERATORS:
        raise ValueError(f"unknown accelerator {accelerator!r}; one of {sorted(ACCELERATORS)}")
    return POWER_MODELS.get(accelerator)


# ---- power capping --------------------------------------------------------------------

# Mayr et al. 2026 (arXiv:2603.16164), Table 4, "Pre-training / H100": (cap W, tokens/s/GPU)
_MAYR_H100_BOARD_W = 700.0
_MAYR_H100 = ((200, 9_699.3), (300, 17_982.3), (400, 24_853.4), (500, 27_705.3),
              (600, 29_250.0), (700, 30_271.0))


def _curve(board_w: float, points: tuple[tuple[float, float], ...]
           ) -> tuple[tuple[float, float], ...]:
    """(cap / board power, uncapped throughput / throughput at the cap), ascending cap."""
    uncapped = points[-1][1]
    return tuple((cap / board_w, uncapped / rate) for cap, rate in points)


CAP_CURVES: dict[str, tuple[tuple[float, float], ...]] = {
    "H100": _curve(_MAYR_H100_BOARD_W, _MAYR_H100),
}

CAP_SOURCES: dict[str, str] = {
    "H100": "Mayr et al., arXiv:2603.16164, Table 4, 'Pre-training / H100' (LLaMA 3 8B, "
            "LitGPT, 4 x H100 SXM 94 GB, caps 200-700 W)",
}


def cap_slowdown(accelerator: str, cap_fraction: float) -> float:
    """Step time at a per-GPU cap of `cap_fraction` x board power over the uncapped one (>= 1).

    Interpolates throughput linearly between the points of the accelerator's measured curve
    (`CAP_CURVES`, cited in `CAP_SOURCES`); raises ValueError for an accelerator without a
    published curve or a cap outside the measured range (never extrapolated)."""
    if accelerator not in CAP_CURVES:
        known = ", ".join(sorted(CAP_CURVES))
        raise ValueError(f"no published power-cap curve for {accelerator!r}; curves for: {known}")
    curve = CAP_CURVES[accelerator]
    lo, hi = curve[0][0], curve[-1][0]
    if not lo <= cap_fraction <= hi:
        raise ValueError(f"cap fraction {cap_fraction!r} of {accelerator} is outside the "
                         f"measured range [{lo:.3f}, {hi:.3f}] of board power")
    caps = [c for c, _ in curve]
    i = bisect.bisect_left(caps, cap_fraction)
    if caps[i] == cap_fraction:
        return curve[i][1]
    (c0, s0), (c1, s1) = curve[i - 1], curve[i]
    w = (cap_fraction - c0) / (c1 - c0)
    throughput = (1 - w) / s0 + w / s1  # relative to uncapped
    return 1 / throughput
