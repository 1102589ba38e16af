"""Configuration errors: one line naming the key, the bad value and what is allowed.

Also the warning category of configurations that run but cannot work (TrainsimWarning).
Hydra's and OmegaConf's composition errors become the same one-line `ConfigError` in the
configuration layer (simulator/config/explain.py).
"""

from __future__ import annotations

import math
import sys
from typing import IO, Any

#: Exit status of every command line on a configuration error.
EXIT_CONFIG_ERROR = 2


class ConfigError(ValueError):
    """A configuration value trainsim cannot run with. `str()` is one line for the user."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={_show(value)}: {allowed}")

    def __reduce__(self):  # picklable across joblib / submitit workers
        return (type(self), (self.key, self.value, self.allowed))


class TrainsimWarning(UserWarning):
    """A configuration that runs but cannot give a useful answer
    (simulator/experiments/feasibility.py).

    Filter it like any warning: `warnings.simplefilter("ignore", TrainsimWarning)`.
    """


def print_config_error(error: ConfigError, stream: IO[str] | None = None) -> int:
    """Print `trainsim: config error: <key>=<value>: <what is allowed>` (one line, to
    stderr by default) and return the exit status of a configuration error (2)."""
    print(f"trainsim: config error: {error}", file=sys.stderr if stream is None else stream)
    return EXIT_CONFIG_ERROR


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


# ---- checks that raise ConfigError ---------------------------------------------------------


def require_positive(key: str, value: float | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or not math.isfinite(value) or value <= 0:
        kind = "integer" if isinstance(value, int) else "number"
        suffix = " (or null)" if optional else ""
        raise ConfigError(key, value, f"must be a positive {kind}{suffix}")


def require_non_negative(key: str, value: float | None, optional: bool = False) -> None:
    if optional and value is None:
        return
    if value is None or not math.isfinite(value) or value < 0:
        raise ConfigError(key, value, "must be zero or a positive number")


def require_one_of(key: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ConfigError(key, value, f"must be one of {', '.join(map(str, allowed))}")
