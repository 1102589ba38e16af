"""A catalog entry's own lifetime (failures.components.<name>.kind and .shape, as
`python -m simulator.fit` writes them): what it sets, and the error for each bad value."""

from __future__ import annotations

import math

import pytest

from simulator.config.validate import validate
from simulator.errors import ConfigError
from simulator.reliability.failures import Exponential, Weibull
from tests.config.test_validate import config

HOUR = 3600.0


def catalog(**entries: dict) -> dict:
    return {"failures__node_mtbf_hours": None, "failures__components": entries}


def test_each_component_keeps_its_own_kind_and_shape_and_the_rest_follow_failures_kind():
    spec = validate(config(failures__kind="weibull", failures__shape=2.0, **catalog(
        hbm={"scope": "gpu", "mtbf_hours": 400.0, "kind": "weibull", "shape": 0.7},
        psu={"scope": "node", "mtbf_hours": 500.0, "kind": "exponential"},
        fan={"scope": "node", "mtbf_hours": 900.0})))
    lives = {c.name: c.lifetime for c in spec.failures.components}
    assert lives == {"hbm": Weibull(400 * HOUR, 0.7), "psu": Exponential(500 * HOUR),
                     "fan": Weibull(900 * HOUR, 2.0)}
    # mean-matched: the Weibull's scale is mean / Gamma(1 + 1/shape)
    assert lives["hbm"].scale_s == pytest.approx(400 * HOUR / math.gamma(1 + 1 / 0.7))


@pytest.mark.parametrize(("entry", "key", "allowed"), [
    ({"kind": "gamma"}, "hbm.kind", "must be one of exponential, weibull, lognormal"),
    ({"kind": "weibull", "shape": 0}, "hbm.shape", "must be a positive number"),
    ({"kind": "weibull", "shape": "x"}, "hbm.shape", "must be a positive number"),
    ({"shape": 0.7}, "hbm.shape", "needs the component's own kind"),
    ({"kind": "exponential", "shape": 0.7}, "hbm.shape", "must be 1 (or absent)"),
])
def test_a_bad_own_lifetime_names_its_key(entry, key, allowed):
    with pytest.raises(ConfigError) as caught:
        validate(config(**catalog(hbm={"scope": "gpu", "mtbf_hours": 400.0, **entry})))
    assert caught.value.key == f"failures.components.{key}"
    assert allowed in caught.value.allowed


def test_job_faults_are_one_superposed_process_so_only_exponential():
    with pytest.raises(ConfigError, match="must be exponential for scope job"):
        validate(config(**catalog(bug={"scope": "job", "mtbf_hours": 9e4, "kind": "weibull",
                                       "shape": 0.7})))
