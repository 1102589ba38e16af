"""The facility power model against published figures.

Llama 3 ("The Llama 3 Herd of Models", 2024, sec. 3.3.4): when the 16,384 GPUs of the
405B run stop and start together, the data centre's draw fluctuates "on the order of
tens of megawatts". The model's swing when a failure stops the job is every GPU falling
from its step draw to idle and every host to idle, times PUE; with the figures of
simulator/fabric/power.py that is ~11 MW, the low end of that order.
"""

from __future__ import annotations

import warnings

import pytest

from simulator import simulate


@pytest.mark.slow
def test_llama3_swings_are_on_the_order_of_tens_of_megawatts():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = simulate(["+experiment=llama3_54d", "horizon_days=5"], progress=False).iloc[0]
    assert row["failures"] > 0
    assert 10.0 <= row["power_swing_mw"] < 100.0
    assert row["power_swing_mw"] < row["facility_peak_mw"]
    # a whole-cluster stop: at least every GPU's drop from its step draw to idle, 16,384 x
    # (the step's mean >= the communication-bound 323.5 W, minus idle 100 W), x PUE 1.2
    assert row["power_swing_mw"] * 1e6 >= 16_384 * (323.5 - 100.0) * 1.2
