"""simulator/errors.py: the one-line ConfigError, its printer, and the checks that raise it.

The expected texts are written here from the house rule (key, value, what is allowed, one
line; exit status 2), not read from the module.
"""

from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass, field

import pytest

from simulator.config.explain import known_keys_note
from simulator.errors import (
    EXIT_CONFIG_ERROR,
    ConfigError,
    print_config_error,
    require_non_negative,
    require_one_of,
    require_positive,
)


def test_one_config_error_printer() -> None:
    stream = io.StringIO()
    status = print_config_error(ConfigError("checkpoint", "bogus", "no such option"), stream)
    assert status == EXIT_CONFIG_ERROR == 2
    assert stream.getvalue() == "trainsim: config error: checkpoint=bogus: no such option\n"


def test_config_error_names_key_value_and_what_is_allowed() -> None:
    error = ConfigError("cluster.gpus", 0, "must be a positive integer")
    assert str(error) == "cluster.gpus=0: must be a positive integer"
    assert (error.key, error.value, error.allowed) == ("cluster.gpus", 0,
                                                       "must be a positive integer")
    assert isinstance(error, ValueError)
    # None prints as the YAML the user wrote
    assert str(ConfigError("checkpoint.write_minutes", None, "must be set")) == (
        "checkpoint.write_minutes=null: must be set")


def test_config_error_survives_pickling() -> None:
    # joblib / submitit workers send errors back to the parent process
    error = pickle.loads(pickle.dumps(ConfigError("topology.kind", "hypercube", "no such")))
    assert (error.key, error.value, error.allowed, str(error)) == (
        "topology.kind", "hypercube", "no such", "topology.kind=hypercube: no such")


@pytest.mark.parametrize("value", [0, -1, -0.5, math.inf, math.nan, None])
def test_require_positive_rejects(value) -> None:
    with pytest.raises(ConfigError) as info:
        require_positive("restart.detect_minutes", value)
    assert info.value.key == "restart.detect_minutes" and "positive" in info.value.allowed


def test_require_positive_and_non_negative_accept() -> None:
    require_positive("k", 1e-9)
    require_positive("k", None, optional=True)
    require_non_negative("k", 0.0)
    require_non_negative("k", None, optional=True)
    with pytest.raises(ConfigError, match=r"^k=-1: must be zero or a positive number$"):
        require_non_negative("k", -1)
    with pytest.raises(ConfigError, match=r"\(or null\)"):
        require_positive("k", 0, optional=True)


def test_require_one_of_lists_the_allowed_values() -> None:
    require_one_of("precision", "fp8", ("bf16", "fp8"))
    with pytest.raises(ConfigError) as info:
        require_one_of("precision", "fp4", ("bf16", "fp8"))
    assert str(info.value) == "precision=fp4: must be one of bf16, fp8"


@dataclass
class _Inner:
    gpus: int = 8
    accelerator: str = "H100"


@dataclass
class _Schema:
    cluster: _Inner = field(default_factory=_Inner)
    seed: int = 0


def test_known_keys_note_lists_the_keys_next_to_an_unknown_one() -> None:
    assert known_keys_note("cluster.gpu", _Schema) == "known keys in cluster: gpus, accelerator"
    assert known_keys_note("sede", _Schema) == "known keys in the top level: cluster, seed"
    assert known_keys_note("cluster.gpus", None) == "see the README's configuration reference"
