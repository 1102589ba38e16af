"""The workload presets against their published step figures: Llama 3 405B (16,384 H100)
and MegaScale's 175B (12,288 A100), shared/REFERENCE.md ("Llama 3", "MegaScale").

`efficiency.compute` (0.6) is one number for both presets; the published figures below
are checked with it held fixed, and MFU is worked out by hand, not with the model's
formula.
"""

from __future__ import annotations

import pytest
import yaml

from simulator import load_scenario
from simulator.config.validate import config_dir

H100_PEAK, A100_PEAK = 989e12, 312e12  # dense BF16 FLOP/s (REFERENCE.md "Accelerators")


def config_efficiency() -> dict:
    """The `efficiency` block of scenarios/config.yaml, as written."""
    with open(config_dir() / "config.yaml") as f:
        return yaml.safe_load(f)["efficiency"]


# Llama 3 405B (REFERENCE.md): 16,384 H100, TP 8 x PP 16 x DP 128, 16M tokens per step,
# 400 TFLOP/s per GPU, 41% MFU. flops/token = 6 x 405e9 + 12 x 126 x 16384 x 8192 =
# 2.43e12 + 2.0294e11 = 2.6329e12; implied step = 16,777,216 x 2.6329e12 /
# (400e12 x 16,384) = 6.74 s.
# MegaScale 175B: 12,288 A100, batch 6,144 x 2,048, 55.2% MFU, 6.34 s per iteration.
# (With the same flops/token convention, 6 x 175e9 + 12 x 96 x 12288 x 2048 = 1.0790e12,
# 6.34 s is 55.9% MFU of 312 TFLOP/s: the two published figures agree to 0.7 points.)
#
# Tolerances: MFU within 5 points (the brief); step time within 10% -- 5 MFU points are
# 9-12% of the step at 41-55% MFU, so 10% asks as much of the step time as of the MFU.

LLAMA_FPT = 6 * 405e9 + 12 * 126 * 16384 * 8192
LLAMA_TOKENS = 16_777_216
GPT3_FPT = 6 * 175e9 + 12 * 96 * 12288 * 2048
GPT3_TOKENS = 6144 * 2048

PRESETS = {
    # name: (gpus, peak, flops/token, tokens, published MFU, published step s, layout)
    "llama3_405b": (16384, H100_PEAK, LLAMA_FPT, LLAMA_TOKENS, 0.41,
                    LLAMA_TOKENS * LLAMA_FPT / (400e12 * 16384), (8, 16, 128)),
    "gpt3_175b": (12288, A100_PEAK, GPT3_FPT, GPT3_TOKENS, 0.552, 6.34, (8, 8, 192)),
}


@pytest.fixture(scope="module")
def presets():
    return {name: load_scenario([f"workload={name}"]) for name in PRESETS}


def test_published_figures_derived():
    llama_fpt, llama_step = LLAMA_FPT, PRESETS["llama3_405b"][5]
    megascale_mfu = GPT3_TOKENS * GPT3_FPT / (6.34 * 12288 * A100_PEAK)
    assert llama_fpt == pytest.approx(2.6329e12, rel=1e-4)
    assert llama_step == pytest.approx(6.740, rel=1e-3)
    assert megascale_mfu == pytest.approx(0.552, abs=0.01)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_shape_as_published(presets, name):
    gpus, peak, fpt, tokens, *_, (tp, pp, dp) = PRESETS[name]
    s = presets[name]
    assert s.cluster.gpus == gpus and s.profile.gpus == gpus
    p = s.workload.parallel
    assert (p.tp, p.pp, p.dp, p.cp, p.ep) == (tp, pp, dp, 1, 1)
    assert s.workload.model.flops_per_token == pytest.approx(fpt, rel=1e-12)
    assert s.profile.tokens == tokens
    assert s.profile.peak_flops == peak
    assert s.step_s == s.profile.step_s


@pytest.mark.parametrize("name", PRESETS)
def test_preset_mfu_within_5_points(presets, name):
    mfu = PRESETS[name][4]
    prof = presets[name].profile
    assert abs(prof.mfu - mfu) <= 0.05, (name, prof.mfu, mfu)
    # One compute efficiency (0.6) serves both presets, whose published MFUs differ by
    # 14 points: it cannot be fitted to both, so both within 5 points is a check.


# Compute and pipeline bubble of each preset worked out with numbers (REFERENCE.md's
# figures, the presets' YAML, efficiency.compute 0.6):
# llama3_405b: 2,632,937,204,736 FLOP/token x 16,777,216 tokens / 16,384 GPUs
#   / (989e12 x 0.6) = 4.54352 s; bubble (PP - 1) / (V M) = 15 / (4 x 16) of it,
#   M = 16,777,216 / (8,192 x DP 128 x 1) = 16: 1.06489 s.
# gpt3_175b: 1,078,991,029,248 x 12,582,912 / 12,288 / (312e12 x 0.6) = 5.90217 s;
#   bubble 7 / (2 x 32), M = 12,582,912 / (2,048 x 192): 0.64555 s.
HAND = {"llama3_405b": (4.543525, 1.064889), "gpt3_175b": (5.902173, 0.645550)}


@pytest.mark.parametrize("name", PRESETS)
def test_preset_mfu_by_hand(presets, name):
    """Checks now: MFU = model FLOPs / (step x GPUs x peak) with the model FLOPs, the
    compute time and the bubble written out above as numbers; only the exposed
    communication comes from the model (the network and collectives, tested in
    tests/fabric/). Can fail: a wrong FLOP count, compute or bubble formula, or an MFU
    that divides by anything but the whole step. (Replaces `mfu == fpt x tokens /
    (prof.step_s x gpus x peak)`, which re-derived MFU from the model's own step.)"""
    gpus, peak, *_ = PRESETS[name]
    compute, bubble = HAND[name]
    prof = presets[name].profile
    assert (prof.compute_s, prof.bubble_s) == pytest.approx((compute, bubble), rel=1e-6)
    flops = {"llama3_405b": 2_632_937_204_736 * 16_777_216,
             "gpt3_175b": 1_078_991_029_248 * 12_582_912}[name]
    step = compute + bubble + sum(prof.exposed_s.values())
    assert prof.step_s == pytest.approx(step, rel=1e-6)
    assert prof.mfu == pytest.approx(flops / (step * gpus * peak), rel=1e-6)
    # without communication MFU would be 0.6 x compute / (compute + bubble): 0.6 x 64 /
    # 79 = 0.486 (Llama 3), 0.6 x 64 / 71 = 0.541 (MegaScale); exposure only lowers it
    ceiling = {"llama3_405b": 0.6 * 64 / 79, "gpt3_175b": 0.6 * 64 / 71}[name]
    assert prof.mfu < ceiling


@pytest.mark.parametrize("name", PRESETS)
def test_preset_step_time_within_10_percent(presets, name):
    step = PRESETS[name][5]
    assert presets[name].profile.step_s == pytest.approx(step, rel=0.10), name


def test_presets_share_the_default_efficiency(presets):
    eff = config_efficiency()
    for name, s in presets.items():
        f = s.fabric
        assert dict(f.efficiency) == {k: eff[k] for k in ("nvlink", "ib", "roce", "ici")}
        assert f.nvls_efficiency == eff["nvls"]
        assert f.step_latency_s == pytest.approx(eff["step_latency_us"] * 1e-6, rel=1e-12)
        # compute efficiency is not stored: recover it from compute time = flops / (peak e)
        gpus, peak, fpt, tokens, *_ = PRESETS[name]
        prof = s.profile
        assert fpt * tokens / gpus / (peak * prof.compute_s) == pytest.approx(
            eff["compute"], rel=1e-12)


def test_preset_step_adds_up(presets):
    for s in presets.values():
        p, w = s.profile, s.workload
        par = w.parallel
        assert p.bubble_s == pytest.approx(
            p.compute_s * (par.pp - 1) / (par.virtual_stages * w.microbatches), rel=1e-12)
        assert p.step_s == pytest.approx(p.compute_s + p.bubble_s + sum(p.exposed_s.values()),
                                         rel=1e-12)
        assert set(p.comm_s) == {"tp", "pp", "dp"}
        for dim, t in p.comm_s.items():
            assert p.exposed_s[dim] == pytest.approx(t * (1 - getattr(w.overlap, dim)),
                                                     rel=1e-12)


