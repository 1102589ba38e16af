"""Validation of the workload part of the config: transformer and parallelism ->
Workload (see simulator/config/validate.py; the topology part is simulator/config/topology.py)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from simulator.errors import ConfigError, require_one_of, require_positive
from simulator.fabric.hardware import PRECISIONS, Accelerator, peak_flops
from simulator.fabric.memory import per_gpu
from simulator.fabric.workload import RECOMPUTE, Overlap, Parallelism, Transformer, Workload
from simulator.reliability.scenario import ClusterSpec
from simulator.units import GIB

if TYPE_CHECKING:
    from simulator.config.schema import WorkloadConfig


def workload_from(w: WorkloadConfig, cluster: ClusterSpec, domain_size: int) -> Workload:
    """The transformer and its parallel layout, sized to `cluster.gpus`."""
    m, p, o = w.model, w.parallel, w.overlap
    for key in ("layers", "hidden", "heads", "kv_heads", "seq_len", "experts", "top_k"):
        require_positive(f"workload.model.{key}", getattr(m, key))
    require_positive("workload.model.params_billion", m.params_billion)
    if m.heads % m.kv_heads:
        raise ConfigError("workload.model.kv_heads", m.kv_heads,
                          f"must divide workload.model.heads={m.heads}")
    if m.experts > 1 and not (0 < m.expert_fraction < 1 and m.top_k <= m.experts):
        raise ConfigError("workload.model.expert_fraction", m.expert_fraction,
                          "an MoE model needs 0 < expert_fraction < 1 and top_k <= experts")
    for key in ("tp", "pp", "cp", "ep", "virtual_stages", "microbatch_size"):
        require_positive(f"workload.parallel.{key}", getattr(p, key))
    require_one_of("workload.parallel.zero_stage", p.zero_stage, (0, 1, 2, 3))
    require_one_of("workload.parallel.recompute", p.recompute, RECOMPUTE)
    require_one_of("workload.precision", w.precision, PRECISIONS)
    for key in ("tp", "cp", "pp", "dp", "ep"):
        value = getattr(o, key)
        if not 0 <= value <= 1:
            raise ConfigError(f"workload.overlap.{key}", value, "must be in [0, 1]")
    model_parallel = p.tp * p.pp * p.cp
    if cluster.gpus % model_parallel:
        raise ConfigError("workload.parallel", f"tp={p.tp} pp={p.pp} cp={p.cp}",
                          f"tp x pp x cp = {model_parallel} must divide "
                          f"cluster.gpus={cluster.gpus}")
    dp = cluster.gpus // model_parallel
    if p.dp is not None and p.dp != dp:
        raise ConfigError("workload.parallel.dp", p.dp,
                          f"must be cluster.gpus / (tp x pp x cp) = {dp}, or null")
    if dp % p.ep:
        raise ConfigError("workload.parallel.ep", p.ep, f"must divide dp={dp}")
    if p.tp > domain_size and not p.allow_tp_across_domains:
        raise ConfigError("workload.parallel.tp", p.tp,
                          f"spans more than one scale-up domain ({domain_size} GPUs); "
                          "set workload.parallel.allow_tp_across_domains=true to allow it")
    if p.pp > m.layers:
        raise ConfigError("workload.parallel.pp", p.pp,
                          f"must not exceed workload.model.layers={m.layers}")
    tokens = w.global_batch_tokens
    require_positive("workload.global_batch_tokens", tokens)
    minimum = m.seq_len * dp * p.microbatch_size
    if tokens < minimum:
        raise ConfigError("workload.global_batch_tokens", tokens,
                          f"must be at least seq_len x dp x microbatch_size = {minimum}")
    model = Transformer(m.params_billion * 1e9, m.layers, m.hidden, m.heads, m.kv_heads,
                        m.seq_len, m.experts, m.top_k, m.expert_fraction)
    parallel = Parallelism(p.tp, p.pp, dp, p.cp, p.ep, p.virtual_stages, p.microbatch_size,
                           p.zero_stage, p.recompute)
    return Workload(model, parallel, float(tokens), Overlap(o.tp, o.cp, o.pp, o.dp, o.ep),
                    precision=w.precision)


def peak_of(accelerator: str, precision: str) -> float:
    """The accelerator's dense peak FLOP/s at `precision`, or a ConfigError naming
    `workload.precision` (e.g. fp8 on an A100)."""
    try:
        return peak_flops(accelerator, precision)
    except ValueError as exc:
        raise ConfigError("workload.precision", precision, str(exc)) from None


def check_fixed_step(w: WorkloadConfig) -> None:
    """A fixed-step workload has no model: its precision, parallelism, overlap and batch
    would be silently ignored, so any of them set away from the schema's default is an
    error naming the key."""
    require_one_of("workload.precision", w.precision, PRECISIONS)
    if w.precision != "bf16":
        raise ConfigError("workload.precision", w.precision,
                          "needs a workload with a model (e.g. workload=llama3_70b); "
                          "a fixed step time has no precision")
    if w.global_batch_tokens is not None:
        raise ConfigError("workload.global_batch_tokens", w.global_batch_tokens,
                          "needs a workload with a model (e.g. workload=llama3_70b); a fixed "
                          "step (workload.step_seconds) has no tokens: leave it null")
    for group in ("parallel", "overlap"):
        given, default = getattr(w, group), type(getattr(w, group))()
        for f in dataclasses.fields(given):
            value = getattr(given, f.name)
            if value != getattr(default, f.name):
                raise ConfigError(f"workload.{group}.{f.name}", value,
                                  "needs a workload with a model (e.g. workload=llama3_70b); "
                                  "a fixed step (workload.step_seconds) has no "
                                  f"{'parallelism' if group == 'parallel' else 'overlap'}")


def check_memory(work: Workload, accelerator: Accelerator) -> None:
    """A ConfigError naming the parallelism keys if `work` does not fit in one GPU's HBM."""
    memory = per_gpu(work)
    if memory.total <= accelerator.hbm_gb * GIB:
        return
    p = work.parallel
    parts = ", ".join(f"{k} {v / GIB:.1f}" for k, v in memory.parts().items())
    raise_ = ["workload.parallel.tp (within a scale-up domain)", ".pp"]
    if p.zero_stage < 3:
        raise_.append(f".zero_stage (now {p.zero_stage})")
    levers = [f"raise {', '.join(raise_[:-1])} or {raise_[-1]}"]
    if p.recompute != "full":
        levers.append(f"set .recompute=full (now {p.recompute})")
    if p.microbatch_size > 1:
        levers.append(f"lower .microbatch_size (now {p.microbatch_size})")
    levers.append("use an accelerator with more HBM")
    layout = (f"tp={p.tp} pp={p.pp} dp={p.dp} cp={p.cp} ep={p.ep} "
              f"virtual_stages={p.virtual_stages} microbatch_size={p.microbatch_size} "
              f"zero_stage={p.zero_stage} recompute={p.recompute}")
    raise ConfigError("workload.parallel", layout,
                      f"needs {memory.total / GIB:.1f} GiB per GPU ({parts}) but "
                      f"{accelerator.name} has {accelerator.hbm_gb:g} GiB; to fit, "
                      f"{'; '.join(levers[:-1])}; or {levers[-1]}")
