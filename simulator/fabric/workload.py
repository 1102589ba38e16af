"""A transformer training step: FLOPs, parallelism, communication, bubble -> StepProfile.

The model is a standard analytical one (Megatron-LM / Narayanan et al. 2021 style):

- model FLOPs per token = 6 N_active + 12 L h s (PaLM's MFU convention: weights plus
  non-causal attention), times the tokens of a global batch;
- compute time = per-GPU FLOPs / (peak x compute efficiency), the efficiency a hardware
  setting shared by all workloads;
- pipeline bubble = compute x (PP - 1) / (V M), V virtual stages, M microbatches;
- communication per step, by parallel dimension, each timed by a `CommModel` (the
  flow-level network) and exposed to the step only for the fraction not hidden behind
  compute (`overlap`):
  TP (sequence-parallel): 4 reduce-scatter + 4 all-gather of the activations per layer
  and microbatch; CP: all-gather / reduce-scatter of K and V per layer and microbatch;
  PP: 2 V sends of activations per microbatch; DP: reduce-scatter of gradients and
  all-gather of parameters once per step (twice with ZeRO-3 / FSDP; ZeRO-0 all-reduces
  the gradients); EP (MoE): 4
  all-to-all of routed tokens per MoE layer and microbatch.

Precision (`Workload.precision`): the compute peak is the caller's (the accelerator's
dense BF16 or FP8 peak, `simulator.fabric.hardware.peak_flops`). FP8 recipes run the weight
GEMMs (the 6 N_active FLOPs) in FP8 and keep the attention core (the 12 L h s) in BF16
(DeepSeek-V3 sec. 3.3.1 keeps "attention operators" in their original precision;
Transformer Engine's FP8 dot-product attention is opt-in): the caller passes both peaks.
FP8 training also narrows some collectives, as the published FP8 recipes do, and only
those:

- TP: the sequence-parallel all-gather in front of each column-parallel GEMM moves the
  FP8-cast input (1 byte per value; NVIDIA Transformer Engine casts before the gather when
  it overlaps TP communication); the reduce-scatter after each row-parallel GEMM sums its
  BF16 outputs (2 bytes): 4 of TP's 8 collectives narrow;
- EP: DeepSeek-V3 (tech report, 2024, sec. 3.3.2) dispatches tokens in FP8 (the forward
  dispatch and the backward's gradient dispatch) and keeps both combines in BF16: 2 of
  the 4 all-to-alls narrow;
- CP (K and V), PP (stage boundaries) and DP stay as in BF16 training: gradients are
  reduced in FP32 (`grad_bytes`, Megatron-LM's default and Llama 3's; DeepSeek-V3 keeps
  FP32 master weights and gradients) and parameters all-gathered in BF16 (Megatron-LM's
  `--fp8-param-gather` is opt-in).

Activation recomputation (`Parallelism.recompute`, Korthikanti et al. 2022): "full"
re-runs each layer's forward in the backward pass, one more forward of the layers:
2 N + 4 L h s FLOPs per token, a third of the model FLOPs, which lengthens compute (and
the bubble with it) but not the model FLOPs MFU counts (PaLM's convention). "selective"
recomputes only the attention core, which FlashAttention does inside its backward kernel
(already in the calibrated compute efficiency); "none" stores everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

BF16, FP8 = 2, 1  # bytes
RECOMPUTE = ("none", "selective", "full")


class CommModel(Protocol):
    """Times one collective over every group of one parallel dimension at once."""

    def time(self, op: str, dim: str, size_bytes: float) -> float:
        """Seconds for `op` ("all_reduce", "reduce_scatter", "all_gather", "all_to_all",
        "send_recv") of `size_bytes` (nccl-tests' S) in every `dim` group concurrently."""
        ...


@dataclass(frozen=True)
class Transformer:
    """Model shape. `params` counts all weights; MoE: `experts` > 1 routed experts,
    `top_k` active per token, `expert_fraction` of params in expert MLPs."""

    params: float
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    seq_len: int
    experts: int = 1
    top_k: int = 1
    expert_fraction: float = 0.0

    @property
    def active_params(self) -> float:
        """Weights a token passes through (MoE: top_k of the experts)."""
        if self.experts <= 1:
            return self.params
        dense = self.params * (1 - self.expert_fraction)
        return dense + self.params * self.expert_fraction * self.top_k / self.experts

    @property
    def flops_per_token(self) -> float:
        return 6 * self.active_params + 12 * self.layers * self.hidden * self.seq_len


@dataclass(frozen=True)
class Parallelism:
    """Degrees of parallelism (their product is the GPU count) and the schedule."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1  # expert parallelism, carved out of DP x CP (Megatron convention)
    virtual_stages: int = 1  # interleaved pipeline: model chunks per PP rank
    microbatch_size: int = 1  # sequences
    zero_stage: int = 1  # 0: all-reduce grads; 1/2: reduce-scatter grads, all-gather
    # params; 3 (FSDP): params all-gathered twice (forward and backward)
    recompute: str = "selective"  # activation recomputation: none | selective | full

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp * self.cp


@dataclass(frozen=True)
class Overlap:
    """Fraction of each dimension's communication hidden behind compute (0..1)."""

    tp: float = 0.0
    cp: float = 0.5
    pp: float = 0.8
    dp: float = 0.9
    ep: float = 0.0


@dataclass(frozen=True)
class Workload:
    model: Transformer
    parallel: Parallelism
    global_batch_tokens: float
    overlap: Overlap = field(default_factory=Overlap)
    grad_bytes: int = 4  # gradients reduced in fp32 (Megatron's default for bf16 training)
    precision: str = "bf16"  # GEMM precision: bf16 | fp8 (see the module docstring)

    @property
    def microbatches(self) -> int:
        """M: microbatches each data-parallel rank runs per step."""
        per_rank = self.global_batch_tokens / (self.model.seq_len * self.parallel.dp)
        return max(1, round(per_rank / self.parallel.microbatch_size))


@dataclass(frozen=True)
class StepProfile:
    """Where one training step's time goes, on one GPU (all GPUs are alike)."""

    compute_s: float
    bubble_s: float
    comm_s: dict[str, float]  # total communication time per dimension
    exposed_s: dict[str, float]  # the part of it not hidden behind compute
    model_flops: float  # per step, whole job
    tokens: float  # per step
    gpus: int
    peak_flops: float  # per GPU, dense, at `precision`
    precision: str = "bf16"

    @property
    def step_s(self) -> float:
        return self.compute_s + self.bubble_s + sum(self.exposed_s.values())

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.step_s

    @property
    def mfu(self) -> float:
        return self.model_flops / (self.step_s * self.gpus * self.peak_flops)

    def breakdown(self) -> dict[str, float]:
        """Seconds per component of the step: compute, bubble, exposed_<dim>."""
        return {"compute": self.compute_s, "bubble": self.bubble_s,
                **{f"exposed_{k}": v for k, v in self.exposed_s.items()}}


def step_profile(work: Workload, peak_flops: float, compute_efficiency: float,
                 comm: CommModel, attention_peak_flops: float | None = None) -> StepProfile:
    """The StepProfile of `work` on GPUs of `peak_flops` (FLOP/s, dense, at
    `work.precision`; MFU is counted against it). The attention core (12 L h s FLOPs per
    token) runs at `attention_peak_flops` (None: `peak_flops`): FP8 recipes keep it in
    BF16."""
    m, p = work.model, work.parallel
    tokens = work.global_batch_tokens
    model_flops = m.flops_per_token * tokens
    attention = 12 * m.layers * m.hidden * m.seq_len * tokens
    repeat = 4 / 3 if p.recompute == "full" else 1.0  # full recomputation: + one forward
    seconds = ((model_flops - attention) / peak_flops
               + attention / (attention_peak_flops or peak_flops))
    compute_s = repeat * seconds / p.gpus / compute_efficiency
    micro = work.microbatches
    bubble_s = compute_s * (p.pp - 1) / (p.virtual_stages * micro)

    layers_per_stage = m.layers / p.pp
    tokens_per_micro = p.microbatch_size * m.seq_len / p.cp  # on one CP rank
    activation = tokens_per_micro * m.hidden * BF16  # one full activation tensor
    narrow = FP8 / BF16 if work.precision == "fp8" else 1.0  # FP8-cast collectives
    times: dict[str, float] = {}
    if p.tp > 1:
        per_layer = 4 * (comm.time("reduce_scatter", "tp", activation)
                         + comm.time("all_gather", "tp", activation * narrow))
        times["tp"] = per_layer * layers_per_stage * micro
    if p.cp > 1:
        kv = p.microbatch_size * m.seq_len * 2 * m.hidden * m.kv_heads / m.heads * BF16 / p.tp
        per_layer = 2 * comm.time("all_gather", "cp", kv) + comm.time("reduce_scatter", "cp", kv)
        times["cp"] = per_layer * layers_per_stage * micro
    if p.pp > 1:
        send = comm.time("send_recv", "pp", activation / p.tp)
        times["pp"] = 2 * p.virtual_stages * micro * send
    if p.ep > 1 and m.experts > 1:
        routed = activation / p.tp * m.top_k  # nccl S: one rank's buffer, S/ep per peer
        dispatch = comm.time("all_to_all", "ep", routed * narrow)
        combine = comm.time("all_to_all", "ep", routed)
        times["ep"] = 2 * (dispatch + combine) * layers_per_stage * micro
    if p.dp * p.cp > 1:
        dense = m.params * (1 - m.expert_fraction) if m.experts > 1 else m.params
        experts = m.params - dense
        shard = (dense + experts / p.ep) / (p.tp * p.pp)  # parameters held by one rank
        if p.zero_stage == 0:  # plain data parallelism: all-reduce the gradients
            times["dp"] = comm.time("all_reduce", "dp", shard * work.grad_bytes)
        else:
            gathers = 2 if p.zero_stage >= 3 else 1
            grads = comm.time("reduce_scatter", "dp", shard * work.grad_bytes)
            params = comm.time("all_gather", "dp", shard * BF16)
            times["dp"] = grads + gathers * params
    overlap = work.overlap
    exposed = {dim: t * (1 - getattr(overlap, dim)) for dim, t in times.items()}
    return StepProfile(compute_s, bubble_s, times, exposed, model_flops, tokens, p.gpus,
                       peak_flops, work.precision)
