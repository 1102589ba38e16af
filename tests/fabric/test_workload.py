"""The training-step model: hand-derived workload math and sizing to the cluster (the
published presets' step figures: tests/validation/test_published_steps.py; configuration
errors: tests/config/test_validate.py).

Expected values come from the formulas of `simulator/fabric/workload.py`'s docstring worked out
by hand, from the model shapes in scenarios/workload/*.yaml, and from the published
figures of shared/REFERENCE.md ("Llama 3", "MegaScale", "Accelerators").
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator import ConfigError, load_scenario
from simulator.fabric import stepmodel
from simulator.fabric.collectives import Layout, bandwidths
from simulator.fabric.workload import Overlap, Parallelism, Transformer, Workload, step_profile

H100_PEAK = 989e12  # dense BF16 FLOP/s (REFERENCE.md, hardware.py)
NIC = 50e9  # 400 Gb/s per GPU
MiB = 2**20


# ---- 7. workload math on a fake communication model -------------------------------------


class Recorder:
    """A CommModel: a fixed time per (op, dim); records every call."""

    def __init__(self, times: dict[tuple[str, str], float]) -> None:
        self.times = times
        self.calls: list[tuple[str, str, float]] = []

    def time(self, op: str, dim: str, size_bytes: float) -> float:
        self.calls.append((op, dim, size_bytes))
        return self.times[(op, dim)]


TIMES = {("reduce_scatter", "tp"): 1e-4, ("all_gather", "tp"): 2e-4,
         ("all_gather", "cp"): 3e-4, ("reduce_scatter", "cp"): 4e-4,
         ("send_recv", "pp"): 5e-4, ("all_to_all", "ep"): 6e-4,
         ("reduce_scatter", "dp"): 0.7, ("all_gather", "dp"): 0.11}
PEAK, EFF = 1e15, 0.5


def test_dense_step_by_hand():
    # 1.5B parameters, 16 layers, hidden 1,024, sequence 2,048; TP 4 x PP 4 x DP 2 = 32
    # GPUs, 2 virtual stages, microbatch 1, 6 microbatches per DP rank.
    model = Transformer(params=1.5e9, layers=16, hidden=1024, heads=16, kv_heads=16,
                        seq_len=2048)
    par = Parallelism(tp=4, pp=4, dp=2, virtual_stages=2, microbatch_size=1)
    tokens = 2048 * 2 * 1 * 6  # seq x dp x microbatch x M: 24,576
    work = Workload(model, par, tokens, Overlap(tp=0.25, pp=0.5, dp=0.75))
    comm = Recorder(TIMES)
    prof = step_profile(work, PEAK, EFF, comm)

    # flops per token = 6 N + 12 L h s = 9e9 + 12 x 16 x 1024 x 2048 = 9,402,653,184
    fpt = 6 * 1.5e9 + 12 * 16 * 1024 * 2048
    assert model.flops_per_token == pytest.approx(9_402_653_184, rel=1e-15)
    assert fpt == 9_402_653_184
    assert prof.model_flops == pytest.approx(fpt * tokens, rel=1e-15)
    compute = fpt * tokens / 32 / (PEAK * EFF)  # = 0.01444...
    assert prof.compute_s == pytest.approx(compute, rel=1e-12)
    assert work.microbatches == 6
    bubble = compute * (4 - 1) / (2 * 6)
    assert prof.bubble_s == pytest.approx(bubble, rel=1e-12)

    # the calls: TP activation b s h x 2 B = 1 x 2048 x 1024 x 2 = 4 MiB (RS and AG);
    # PP sends the sequence-parallel shard of it, 4 MiB / TP = 1 MiB;
    # DP: shard = 1.5e9 / (TP x PP) = 93,750,000 parameters -> grads x 4 B = 375 MB
    # reduce-scattered, params x 2 B = 187.5 MB all-gathered. No CP, no EP calls.
    act = 1 * 2048 * 1024 * 2
    shard = 1.5e9 / (4 * 4)
    assert set(comm.calls) == {
        ("reduce_scatter", "tp", act), ("all_gather", "tp", act),
        ("send_recv", "pp", act / 4),
        ("reduce_scatter", "dp", shard * 4), ("all_gather", "dp", shard * 2)}

    # per step: TP 4 (RS + AG) per layer and microbatch, 16 / 4 = 4 layers per stage,
    # 6 microbatches; PP 2 V sends per microbatch; DP one RS + one AG
    tp = 4 * (1e-4 + 2e-4) * 4 * 6
    pp = 2 * 2 * 6 * 5e-4
    dp = 0.7 + 0.11
    assert prof.comm_s == pytest.approx({"tp": tp, "pp": pp, "dp": dp}, rel=1e-12)
    exposed = {"tp": tp * 0.75, "pp": pp * 0.5, "dp": dp * 0.25}  # x (1 - overlap)
    assert prof.exposed_s == pytest.approx(exposed, rel=1e-12)
    step = compute + bubble + sum(exposed.values())
    assert prof.step_s == pytest.approx(step, rel=1e-12)
    assert prof.mfu == pytest.approx(fpt * tokens / (step * 32 * PEAK), rel=1e-12)
    assert prof.tokens_per_s == pytest.approx(tokens / step, rel=1e-12)
    assert prof.breakdown() == pytest.approx(
        {"compute": compute, "bubble": bubble, "exposed_tp": exposed["tp"],
         "exposed_pp": exposed["pp"], "exposed_dp": exposed["dp"]}, rel=1e-12)


def test_context_parallel_and_zero3_by_hand():
    # GQA model (16 heads, 4 KV heads), TP 2 x CP 2 x PP 2 x DP 3 = 24 GPUs, microbatch 2,
    # ZeRO-3. M = tokens / (seq x dp x mb) = 4.
    model = Transformer(params=2e9, layers=8, hidden=2048, heads=16, kv_heads=4,
                        seq_len=4096)
    par = Parallelism(tp=2, pp=2, dp=3, cp=2, virtual_stages=1, microbatch_size=2,
                      zero_stage=3)
    tokens = 4096 * 3 * 2 * 4
    work = Workload(model, par, tokens, Overlap(tp=0.0, cp=0.5, pp=0.8, dp=0.9))
    comm = Recorder(TIMES)
    prof = step_profile(work, PEAK, EFF, comm)

    fpt = 6 * 2e9 + 12 * 8 * 2048 * 4096
    compute = fpt * tokens / 24 / (PEAK * EFF)
    assert prof.compute_s == pytest.approx(compute, rel=1e-12)
    bubble = compute * 1 / (1 * 4)
    assert prof.bubble_s == pytest.approx(bubble, rel=1e-12)
    # a CP rank holds mb x seq / CP = 4,096 tokens: activation 4096 x 2048 x 2 B = 16 MiB;
    # K and V of the whole microbatch sequence, KV width h x kv / heads = 512, split over
    # TP: 2 x 4096 x 2 x 512 x 2 B / 2 = 8 MiB;
    # DP (over DP x CP = 6 ranks): shard 2e9 / (TP x PP) = 5e8 params.
    act = 2 * 4096 / 2 * 2048 * 2
    kv = 2 * 4096 * 2 * (2048 * 4 / 16) * 2 / 2
    shard = 2e9 / 4
    assert (act, kv) == (16 * MiB, 8 * MiB)
    assert set(comm.calls) == {
        ("reduce_scatter", "tp", act), ("all_gather", "tp", act),
        ("all_gather", "cp", kv), ("reduce_scatter", "cp", kv),
        ("send_recv", "pp", act / 2),
        ("reduce_scatter", "dp", shard * 4), ("all_gather", "dp", shard * 2)}
    layers, m = 8 / 2, 4
    tp = 4 * (1e-4 + 2e-4) * layers * m
    cp = (2 * 3e-4 + 4e-4) * layers * m  # K/V all-gathered twice, reduce-scattered once
    pp = 2 * 1 * m * 5e-4
    dp = 0.7 + 2 * 0.11  # ZeRO-3: parameters gathered for forward and backward
    assert prof.comm_s == pytest.approx({"tp": tp, "cp": cp, "pp": pp, "dp": dp}, rel=1e-12)
    exposed = {"tp": tp, "cp": cp * 0.5, "pp": pp * 0.2, "dp": dp * 0.1}
    assert prof.exposed_s == pytest.approx(exposed, rel=1e-12)
    step = compute + bubble + sum(exposed.values())
    assert prof.mfu == pytest.approx(fpt * tokens / (step * 24 * PEAK), rel=1e-12)


def test_mixture_of_experts_by_hand():
    # 8B parameters, 3/4 in 8 experts, top-2: active = 2e9 + 6e9 x 2 / 8 = 3.5e9.
    # TP 2 x DP 8 (EP 4 carved out of DP) = 16 GPUs, no PP.
    model = Transformer(params=8e9, layers=4, hidden=1024, heads=8, kv_heads=8,
                        seq_len=1024, experts=8, top_k=2, expert_fraction=0.75)
    par = Parallelism(tp=2, pp=1, dp=8, ep=4)
    tokens = 1024 * 8 * 5
    comm = Recorder(TIMES)
    prof = step_profile(Workload(model, par, tokens, Overlap(ep=0.0, dp=0.0)), PEAK, EFF,
                        comm)
    assert model.active_params == pytest.approx(3.5e9, rel=1e-15)
    fpt = 6 * 3.5e9 + 12 * 4 * 1024 * 1024
    assert prof.compute_s == pytest.approx(fpt * tokens / 16 / (PEAK * EFF), rel=1e-12)
    assert prof.bubble_s == 0.0
    # nccl-tests' all-to-all S is one rank's send buffer (S/p to each peer): a rank
    # routes its 1024 / TP = 512 tokens to top_k = 2 experts, 512 x 2 x 1024 x 2 B = 2 MiB.
    # One rank holds the dense weights / TP and its EP share of the experts:
    # (2e9 + 6e9 / 4) / 2 = 1.75e9 parameters.
    act = 1024 * 1024 * 2
    routed = act / 2 * 2
    shard = (2e9 + 6e9 / 4) / 2
    assert set(comm.calls) == {
        ("reduce_scatter", "tp", act), ("all_gather", "tp", act),
        ("all_to_all", "ep", routed),
        ("reduce_scatter", "dp", shard * 4), ("all_gather", "dp", shard * 2)}
    m = 5
    assert prof.comm_s["ep"] == pytest.approx(4 * 6e-4 * 4 * m, rel=1e-12)


def test_microbatches_round_and_never_drop_below_one():
    model = Transformer(params=1e9, layers=4, hidden=1024, heads=8, kv_heads=8, seq_len=1000)
    par = Parallelism(dp=4, microbatch_size=2)
    # tokens / (seq x dp x mb): 100,000 / 8,000 = 12.5 -> 12 (round half to even);
    # 104,000 / 8,000 = 13; 1,000 / 8,000 -> at least 1
    assert Workload(model, par, 100_000).microbatches == 12
    assert Workload(model, par, 104_000).microbatches == 13
    assert Workload(model, par, 1_000).microbatches == 1


def test_single_gpu_has_no_communication():
    model = Transformer(params=1e9, layers=4, hidden=1024, heads=8, kv_heads=8, seq_len=1024)
    comm = Recorder({})
    prof = step_profile(Workload(model, Parallelism(), 4096), PEAK, EFF, comm)
    assert comm.calls == [] and prof.comm_s == {} and prof.bubble_s == 0.0
    assert prof.mfu == pytest.approx(EFF, rel=1e-12)  # all compute: MFU = efficiency


# Llama 3 405B (REFERENCE.md): flops/token = 6 N + 12 L h s, 16M tokens per step; its
# published step figures are checked in tests/validation/test_published_steps.py.
LLAMA_FPT = 6 * 405e9 + 12 * 126 * 16384 * 8192
LLAMA_TOKENS = 16_777_216


# ---- 8. presets size themselves to cluster.gpus -----------------------------------------


def test_llama3_405b_on_1024_gpus():
    # DP 8 = 1024 / (8 x 16): 2,048 sequences / 8 = 256 microbatches, so the interleaved
    # first stage holds (16 - 1) x 2 + (4 - 1) x 16 + 1 = 79 chunks of 126 / 64 layers and
    # its activations outgrow an H100 (tests/test_memory.py). Full recomputation fits it.
    with pytest.raises(ConfigError) as info:
        load_scenario(["workload=llama3_405b", "cluster.gpus=1024"])
    assert info.value.key == "workload.parallel"
    s = load_scenario(["workload=llama3_405b", "cluster.gpus=1024",
                       "workload.parallel.recompute=full"])
    p = s.workload.parallel
    assert (p.tp, p.pp, p.dp) == (8, 16, 8)  # 1024 / (8 x 16)
    assert s.profile.gpus == 1024
    # compute per GPU = flops/token x 16M tokens / 1024 / (989 TFLOP/s x 0.6), and full
    # recomputation runs the forward (2 N + 4 L h s = a third of 6 N + 12 L h s) again
    assert s.profile.compute_s == pytest.approx(
        LLAMA_FPT * 4 / 3 * LLAMA_TOKENS / 1024 / (H100_PEAK * 0.6), rel=1e-12)
    assert s.profile.model_flops == pytest.approx(LLAMA_FPT * LLAMA_TOKENS, rel=1e-12)
    assert 0 < s.profile.mfu < 0.6 * 3 / 4  # recomputed FLOPs are not model FLOPs


def test_llama3_70b_on_the_1k_cluster():
    s = load_scenario(["cluster=dgx_h100_1k", "workload=llama3_70b"])
    p = s.workload.parallel
    assert (s.cluster.gpus, p.tp, p.pp, p.dp) == (1024, 8, 4, 32)
    assert s.fabric.builder == "rail_fat_tree"
    assert 0 < s.profile.mfu < 0.6 and set(s.profile.comm_s) == {"tp", "pp", "dp"}


@pytest.mark.parametrize("gpus", [8, 24, 1000])
def test_superpod_any_node_count(gpus):
    """Fixed-step scenarios do not build the fabric: build it through the public path and
    time TP (one node) and DP (one rank per node, rail rings) all-reduces by hand."""
    s = load_scenario(["topology=dgx_h100_superpod", f"cluster.gpus={gpus}"])
    nodes = gpus // 8
    model = stepmodel.collective_model(s.fabric, gpus, Layout(tp=8, dp=nodes))
    n = 64 * MiB
    # NCCL's protocols (simulator/fabric/protocols.py, from NCCL's src/graph/tuning.cc).
    # TP, ring, Simple: 8.4 us once, then per step max(3.4 us, wire 2 x 0.5 us + 1 us
    # step) + S/8 at 450 GB/s x 0.82.
    tp_group, dp_group = model.layout.groups("tp"), model.layout.groups("dp")
    tp = 8.4e-6 + 2 * 7 * (3.4e-6 + n / 8 / (450e9 * 0.82))
    assert model.time_groups("all_reduce", tp_group, n, "ring", "simple") == pytest.approx(
        tp, rel=1e-12)
    # the default on an NVSwitch node is NVLS: max(25 us, 2 us) + S / (450 GB/s x 0.61)
    assert model.time("all_reduce", "tp", n) == pytest.approx(25e-6 + n / (450e9 * 0.61),
                                                              rel=1e-12)
    # DP: 8 rail rings of `nodes` ranks, one flow per NIC at 50 GB/s x 0.9; every hop
    # crosses nodes: Simple's max(14 us, wire <= 3.2 us + 1 us) = 14 us per step.
    a = 14e-6
    dp = 8.4e-6 + 2 * (nodes - 1) * (a + n / nodes / (NIC * 0.9)) if nodes > 1 else 0.0
    assert model.time_groups("all_reduce", dp_group, n, "ring", "simple") == pytest.approx(
        dp, rel=1e-12)
    if nodes > 1:
        busbw = bandwidths("all_reduce", nodes, n, dp - 8.4e-6 - 2 * (nodes - 1) * a)[1]
        assert busbw == pytest.approx(NIC * 0.9, rel=1e-12)


@pytest.mark.parametrize("gpus, dp", [(32, 1), (96, 3)])
def test_llama3_70b_on_small_superpods(gpus, dp):
    s = load_scenario(["workload=llama3_70b", "topology=dgx_h100_superpod",
                       f"cluster.gpus={gpus}"])
    assert s.workload.parallel.dp == dp
    assert ("dp" in s.profile.comm_s) == (dp > 1)
    assert 0 < s.profile.mfu < 0.6


def test_layout_groups_follow_megatron_order():
    # rank = tp + TP (cp + CP (dp + DP pp)); TP 2, CP 2, DP 2, PP 2 -> 16 ranks
    lay = Layout(tp=2, cp=2, dp=2, pp=2)
    assert lay.groups("tp")[:2].tolist() == [[0, 1], [2, 3]]
    assert lay.groups("cp")[0].tolist() == [0, 2]
    assert lay.groups("dp")[0].tolist() == [0, 2, 4, 6]  # DP spans dp x cp
    assert lay.groups("pp")[0].tolist() == [0, 8]
    for dim in ("tp", "cp", "dp", "pp"):
        g = lay.groups(dim)
        assert np.array_equal(np.sort(g.ravel()), np.arange(16))  # a partition
