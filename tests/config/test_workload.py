"""Configuration errors of the workload, topology and efficiency keys: a ConfigError
naming the key, the value and what is allowed, and exit status 2 from the CLI.

Allowed values are written here from the presets (scenarios/workload/*.yaml) and the
divisibility rules of the layout (TP x PP x DP = GPUs), not read from the validation code.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from simulator import ConfigError, load_scenario

BAD = {
    "parallel does not divide gpus": (["workload=llama3_405b", "cluster.gpus=1000"],
                                      "workload.parallel", "cluster.gpus=1000"),
    "tp across domains": (["workload=llama3_405b", "workload.parallel.tp=16"],
                          "workload.parallel.tp", "allow_tp_across_domains"),
    "zero nic bandwidth": (["topology.nic_gbps=0"], "topology.nic_gbps", None),
    "negative nic bandwidth": (["topology.nic_gbps=-400"], "topology.nic_gbps", None),
    "zero ib efficiency": (["efficiency.ib=0"], "efficiency.ib", None),
    "negative nvlink efficiency": (["efficiency.nvlink=-0.5"], "efficiency.nvlink", None),
    "efficiency above one": (["efficiency.roce=1.5"], "efficiency.roce", None),
    "zero nic bandwidth with a model": (["workload=llama3_70b", "topology.nic_gbps=0"],
                                        "topology.nic_gbps", None),
    "unknown topology kind": (["topology.kind=hypercube"], "topology.kind", "rail_fat_tree"),
    "unknown topology preset": (["topology=hypercube"], "topology", "dgx_h100_superpod"),
    # llama3_70b on 1,024 GPUs: DP 32, at least 8,192 x 32 = 262,144 tokens
    "batch too small for dp": (["workload=llama3_70b", "workload.global_batch_tokens=131072"],
                               "workload.global_batch_tokens", "262144"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_input_names_the_key(case):
    overrides, key, mention = case
    with pytest.raises(ConfigError) as info:
        load_scenario(overrides)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}=")
    assert "\n" not in str(info.value)
    if mention:
        assert mention in str(info.value)


@pytest.mark.parametrize("value", ["0", "5"])
def test_compute_efficiency_checked_without_a_model(value):
    with pytest.raises(ConfigError) as info:
        load_scenario([f"efficiency.compute={value}"])
    assert info.value.key == "efficiency.compute"


def test_tp_across_domains_when_allowed():
    s = load_scenario(["workload=llama3_70b", "workload.parallel.tp=16",
                       "workload.parallel.allow_tp_across_domains=true"])
    p = s.workload.parallel
    assert (p.tp, p.pp, p.dp) == (16, 4, 16)  # 1024 / (16 x 4)
    assert math.isfinite(s.profile.step_s) and s.profile.comm_s["tp"] > 0


def test_cli_config_error_exits_2(tmp_path):
    out = subprocess.run([sys.executable, "-m", "simulator", "workload=llama3_405b",
                          "cluster.gpus=1000"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("trainsim: config error: workload.parallel=")
    assert "cluster.gpus=1000" in lines[0]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.csv"))


