"""Hypothesis profiles of the fuzz tests, chosen by the HYPOTHESIS_PROFILE variable.

    ci       (the default) few examples, derandomized: the same inputs on every run,
             no shrinking, no example database; the whole folder in under two minutes
    dev      more examples, random each run, shrinking on: for hunting
    nightly  many examples, random each run

    HYPOTHESIS_PROFILE=dev PYTHONPATH=$PWD python -m pytest -q tests/fuzz

The profiles are applied to the fuzz tests only (`profile()`), never loaded globally, so
other tests' hypothesis settings do not change.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = {"deadline": None,  # the guard (check.py) limits each example's wall time
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large],
           "print_blob": True}
settings.register_profile("ci", max_examples=1, derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.generate], **_COMMON)
settings.register_profile("dev", max_examples=1, **_COMMON)
settings.register_profile("nightly", max_examples=1, **_COMMON)

#: Examples per test and profile: a test multiplies it by its own weight.
EXAMPLES = {"ci": 1, "dev": 10, "nightly": 100}


def profile_name() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE", "ci")


def profile(examples: int) -> settings:
    """The chosen profile's settings for a test that runs `examples` examples under ci."""
    name = profile_name()
    return settings(settings.get_profile(name),
                    max_examples=examples * EXAMPLES.get(name, 1))
