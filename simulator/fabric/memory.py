"""What one GPU holds while it trains: model states, activations, a reserve.

The busiest GPU is the first pipeline stage's: it holds the most activations. Its bytes:

- **weights** in BF16 (2 bytes a parameter), **gradients** at `Workload.grad_bytes` (FP32
  in Megatron-LM's and Llama 3's BF16 recipes) and the Adam **optimizer** state: FP32
  master weights, momentum and variance, K = 12 bytes a parameter (Rajbhandari et al.
  2020, "ZeRO", sec. 3.1: 2 + 2 + K with K = 12; with FP32 gradients Megatron-LM's
  distributed-optimizer table gives 2 + 4 + 12 = 18). A GPU holds the dense parameters /
  (TP x PP) and the expert parameters / (TP x PP x EP). ZeRO shards over the data-parallel
  ranks (DP x CP; expert parameters over DP x CP / EP): stage 1 the optimizer state,
  stage 2 the gradients too, stage 3 the weights too. FP8 training keeps these states in
  the same precisions (Transformer Engine, DeepSeek-V3), so precision does not change them
  (Transformer Engine's transient FP8 weight copies are left to the reserve).
- **activations** (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
  Transformer Models", sec. 4): one layer of one microbatch stores s b h (34 + 5 a s / h)
  bytes (s sequence, b microbatch, h hidden, a heads), of which 5 a s^2 b are the
  attention scores; with tensor and sequence parallelism all of it is split over t = TP:
  s b h / t (34 + 5 a s / h). Selective recomputation (and FlashAttention, which
  recomputes the attention core inside its backward) drops the scores: 34 s b h / t.
  Full recomputation keeps only each layer's input, 2 s b h / t, plus one layer's
  activations while it is recomputed. Context parallelism splits s over CP ranks (each
  rank's queries see the whole sequence's keys). MoE: the MLP's 19 s b h of the 34 are
  stored once per routed expert (top_k times); the other 15 (attention 11, layer norms 4)
  once. FP8 training keeps the inputs of its FP8 GEMMs for the backward pass as FP8
  copies (NVIDIA Transformer Engine; DeepSeek-V3 sec. 3.3 caches activations in FP8):
  14 of the 34 bytes are such inputs (QKV and projection inputs 2 + 2, the MLP's two
  linear inputs 2 + 8), so a layer stores 27 s b h / t.
  The first stage holds several microbatches at once. 1F1B: min(M, PP) microbatches of
  its L / PP layers. Interleaved, V model chunks per rank: Megatron-LM's first rank runs
  (PP - 1) x 2 + (V - 1) x PP warm-up chunks, so it holds that + 1 chunks of L / (PP V)
  layers, at most all M V of them, which is Korthikanti's L (1 + (PP - 1) / (PP V)).
  The 34 is counted for a GPT-3 block (GeLU MLP of 4h, dropout, multi-head attention); a
  Llama-style block (SwiGLU of 3.5h, no dropout, grouped-query attention) stores about
  10% more. Embedding and output layers (vocabulary) are not modelled.
- a **reserve**: the CUDA context, cuBLAS workspaces and NCCL's buffers (RESERVE_GIB) and
  the caching allocator's fragmentation (FRAGMENTATION of the tensors): assumptions, not
  measurements; change them here if your stack's `torch.cuda.memory_reserved()` says
  otherwise.

HBM capacity is compared in GiB (2^30 bytes): vendors' "80 GB" is what nvidia-smi counts
as about 80 GiB (81,559 MiB on an H100 SXM).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.fabric.hardware import ACCELERATORS
from simulator.fabric.workload import BF16, Workload
from simulator.units import GIB

ADAM_BYTES = 12  # FP32 master weights + momentum + variance (ZeRO's K)
RESERVE_GIB = 2.0  # CUDA context, cuBLAS workspaces, NCCL buffers (assumption)
FRAGMENTATION = 0.05  # allocator fragmentation, share of the tensors (assumption)
ATTENTION_OTHER, MLP = 15, 19  # Korthikanti's 34 = attention 11 + layer norms 4 + MLP 19
# of which inputs of linear layers (QKV 2, projection 2; MLP first 2, second 8): FP8
# training stores these as FP8 copies, half the bytes
ATTENTION_LINEAR_INPUTS, MLP_LINEAR_INPUTS = 4, 10


@dataclass(frozen=True)
class Memory:
    """Bytes one GPU (the first pipeline stage's) holds at its peak."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    reserve: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.reserve

    def parts(self) -> dict[str, float]:
        return {"weights": self.weights, "gradients": self.gradients,
                "optimizer": self.optimizer, "activations": self.activations,
                "reserve": self.reserve}


def parameters_per_gpu(work: Workload) -> tuple[float, float]:
    """(dense, expert) parameters one GPU holds before ZeRO sharding."""
    m, p = work.model, work.parallel
    expert = m.params * m.expert_fraction if m.experts > 1 else 0.0
    dense = m.params - expert
    return dense / (p.tp * p.pp), expert / (p.tp * p.pp * p.ep)


def layer_activation_bytes(work: Workload) -> float:
    """Activations one layer stores for one microbatch on one GPU (selective or none)."""
    m, p = work.model, work.parallel
    s = m.seq_len / p.cp  # this CP rank's share of the sequence
    sbh = s * p.microbatch_size * m.hidden
    routed = m.top_k if m.experts > 1 else 1
    attention, mlp = ATTENTION_OTHER, MLP
    if work.precision == "fp8":
        attention -= ATTENTION_LINEAR_INPUTS / 2
        mlp -= MLP_LINEAR_INPUTS / 2
    stored = sbh * (attention + mlp * routed) / p.tp
    if p.recompute == "none":  # attention scores, softmax output and dropout mask: 5 bytes
        stored += 5 * m.heads * s * m.seq_len * p.microbatch_size / p.tp
    return stored


def layers_in_flight(work: Workload) -> float:
    """Layer x microbatch activations the first pipeline stage holds at its peak."""
    p, layers, micro = work.parallel, work.model.layers, work.microbatches
    if p.pp == 1:
        return float(layers)  # one microbatch at a time
    if p.virtual_stages == 1:
        return min(micro, p.pp) * layers / p.pp
    chunks = min(micro * p.virtual_stages, (p.pp - 1) * 2 + (p.virtual_stages - 1) * p.pp + 1)
    return chunks * layers / (p.pp * p.virtual_stages)


def activation_bytes(work: Workload) -> float:
    """The first stage's activations at their peak."""
    per_layer = layer_activation_bytes(work)
    if work.parallel.recompute != "full":
        return layers_in_flight(work) * per_layer
    m, p = work.model, work.parallel
    inputs = 2 * m.seq_len / p.cp * p.microbatch_size * m.hidden / p.tp  # 2 s b h / t
    return layers_in_flight(work) * inputs + per_layer  # + the layer being recomputed


def per_gpu(work: Workload) -> Memory:
    """The bytes one GPU needs to train `work` (see the module docstring)."""
    p = work.parallel
    dense, expert = parameters_per_gpu(work)
    data_parallel = p.dp * p.cp  # ranks that hold the same dense shard
    expert_parallel = data_parallel / p.ep  # ranks that hold the same expert shard

    def sharded(stage: int) -> float:
        """Parameters per GPU of a state ZeRO shards from `stage` on."""
        if p.zero_stage >= stage:
            return dense / data_parallel + expert / expert_parallel
        return dense + expert

    weights = sharded(3) * BF16
    gradients = sharded(2) * work.grad_bytes
    optimizer = sharded(1) * ADAM_BYTES
    activations = activation_bytes(work)
    tensors = weights + gradients + optimizer + activations
    reserve = RESERVE_GIB * GIB + FRAGMENTATION * tensors
    return Memory(weights, gradients, optimizer, activations, reserve)


def memory_line(work: Workload | None, accelerator: str) -> str | None:
    """The run header's memory line: the busiest GPU's GiB against its HBM, by part."""
    if work is None:
        return None
    memory, p = per_gpu(work), work.parallel
    hbm = ACCELERATORS[accelerator].hbm_gb
    parts = "  ".join(f"{k} {v / GIB:.1f}" for k, v in memory.parts().items())
    return (f"memory {memory.total / GIB:.1f} of {hbm:g} GiB per GPU (first pipeline stage): "
            f"{parts}  (zero_stage={p.zero_stage}, recompute={p.recompute})")
