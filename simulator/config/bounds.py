"""Every key's domain, checked once, before any other validation: finite numbers within
documented bounds, integers in range.

`check_bounds(cfg)` walks the typed config (simulator/config/schema.py): every number
must be finite (NaN and inf are never a setting) and within `BOUNDS` if it has an entry,
else within `MAGNITUDE`; every integer within `INT_LIMIT`. The semantic checks (a key's
lower bound, enumerations, how keys combine) follow in validate.py and the option
modules. The README's Configuration reference lists these bounds with their reasons.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from simulator.errors import ConfigError
from simulator.units import DAY, HOUR, MINUTE

#: A century of wall clock, in each unit a key may use. Longer is not a training run, and
#: the simulated clock (float seconds) keeps sub-microsecond resolution up to it (the
#: spacing of doubles near 3.2e9 s is 4.8e-7 s).
CENTURY_DAYS = 36525.0
CENTURY = {"days": CENTURY_DAYS, "hours": CENTURY_DAYS * DAY / HOUR,
           "minutes": CENTURY_DAYS * DAY / MINUTE, "seconds": CENTURY_DAYS * DAY}
#: Any other number: no quantity trainsim takes comes near 1e15 in its key's units
#: (Llama 3's 15.6e12 training tokens are the largest), and past it products of keys
#: overflow to inf.
MAGNITUDE = 1e15
#: Any integer: int64, as every count is stored in the result tables.
INT_LIMIT = 2**63 - 1
#: A part's mean time between failures, hours: a million such parts still fail less than
#: once a century; leave the part out (null) to never fail it.
MTBF_HOURS = 1e12

#: key -> (upper bound, why). Durations are bounded by CENTURY (by their unit suffix).
BOUNDS: dict[str, tuple[float, str]] = {
    "replicates": (1_000_000, "a mean's 95% CI shrinks as 1/sqrt(n): a million replicates "
                   "pin it to 0.2% of one replicate's spread"),
    "first_replicate": (2**31, "replicate numbers index the random streams"),
    "cluster.pue": (3.0, "facility / IT energy: the Uptime Institute's 2023 survey "
                    "average is 1.58, the worst sites about 2.5"),
    "cluster.gpu_hour_usd": (1000.0, "cloud list prices are $1-15 per GPU-hour"),
    "failures.gpu_mtbf_hours": (MTBF_HOURS, "a million such GPUs still fail less than once "
                                "a century; null leaves them out"),
    "failures.node_mtbf_hours": (MTBF_HOURS, "a million such nodes still fail less than "
                                 "once a century; null leaves them out"),
    "failures.straggler_mtbf_hours": (MTBF_HOURS, "null means no stragglers"),
    "failures.lemon_factor": (1000.0, "lemon nodes fail 10-100x as often as their peers "
                              "(Meta RSC, Kokolis et al. 2024); past 1000x a lemon is down"),
    "failures.infant_factor": (1000.0, "a repaired part's hazard a few times its peers'; past "
                               "1000x it fails on its first step"),
    "failures.straggler_slowdown": (100.0, "a node 100x slower is down: model it as a "
                                    "failure"),
    "failures.planned_per_day": (1440.0, "once a minute; maintenance is daily at most"),
}

#: failures.shape by lifetime kind: (low, high, why).
SHAPE_BOUNDS: dict[str, tuple[float, float, str]] = {
    "weibull": (0.1, 10.0, "published Weibull shapes of hardware failures are 0.3-1.5 "
                "(Schroeder and Gibson, DSN 2006: 0.7-0.8); at 0.001 the mean's gamma(1 + 1/k) "
                "overflows, above 10 a lifetime is its mean to 3%"),
    "lognormal": (0.01, 5.0, "sigma; at 5 the mean is e^12.5 = 270,000x the median (almost "
                  "every failure at once, then none)"),
}
#: The smallest nonzero workload.jitter_cv: below it a step moves by less than a
#: microsecond per second, and the lognormal's sigma rounds to 0.
MIN_JITTER_CV = 1e-6
#: cluster.gpus + spares (default of `max_gpus`): the largest clusters built by 2025 hold
#: 100,000-200,000 GPUs (xAI Colossus); a bigger study raises `max_gpus`, memory allowing
#: (the default fixed-step run at 262,144 GPUs peaks at 0.2 GB; a model's topology graph
#: takes more), while 10^9 GPUs runs out of memory.
MAX_GPUS = 262_144


def check_bounds(cfg: Any) -> None:
    """Raise ConfigError for the first number that is not finite or out of its bound."""
    if cfg.max_gpus < 1:
        raise ConfigError("max_gpus", cfg.max_gpus, "must be a positive integer")
    f = cfg.failures
    if not math.isfinite(f.shape):
        raise ConfigError("failures.shape", f.shape, "must be a finite number")
    if f.kind in SHAPE_BOUNDS:
        low, high, why = SHAPE_BOUNDS[f.kind]
        if not low <= f.shape <= high:
            raise ConfigError("failures.shape", f.shape,
                              f"must be in [{low:g}, {high:g}] for failures={f.kind} ({why})")
    elif f.kind != "trace" and f.shape != 1.0:
        raise ConfigError("failures.shape", f.shape,
                          f"failures={f.kind} has no shape (it is 1); choose "
                          "failures=weibull or lognormal to set one")
    _check_sdc_shape(f.sdc_detect_kind, f.sdc_detect_shape)
    _walk(cfg, "")
    cv = cfg.workload.jitter_cv
    if 0 < cv < MIN_JITTER_CV:
        raise ConfigError("workload.jitter_cv", cv,
                          f"must be 0 (no jitter) or at least {MIN_JITTER_CV:g} (below, a "
                          "step moves by under a microsecond per second)")
    gpus = cfg.cluster.gpus
    spares = cfg.cluster.spare_nodes or 0
    if gpus > cfg.max_gpus:
        raise ConfigError("cluster.gpus", gpus, f"must be at most max_gpus={cfg.max_gpus:,} "
                          "(raise max_gpus for a larger study, memory allowing)")
    per_node = max(cfg.cluster.gpus_per_node, 1)
    if spares > 0 and gpus + spares * per_node > cfg.max_gpus:
        raise ConfigError("cluster.spare_nodes", spares,
                          f"job and spare GPUs together must be at most max_gpus="
                          f"{cfg.max_gpus:,} (raise max_gpus for a larger study)")
    if cfg.first_replicate + cfg.replicates > BOUNDS["first_replicate"][0]:
        raise ConfigError("first_replicate", cfg.first_replicate,
                          "first_replicate + replicates must be at most 2^31")


def _check_sdc_shape(kind: str, shape: Any) -> None:
    """failures.sdc_detect_shape within SHAPE_BOUNDS of failures.sdc_detect_kind (1 for
    exponential, which has none); an unknown kind is validation's to name."""
    key = "failures.sdc_detect_shape"
    if isinstance(shape, bool) or not isinstance(shape, int | float):
        return
    if not math.isfinite(shape):
        raise ConfigError(key, shape, "must be a finite number")
    if kind in SHAPE_BOUNDS:
        low, high, why = SHAPE_BOUNDS[kind]
        if not low <= shape <= high:
            raise ConfigError(key, shape, f"must be in [{low:g}, {high:g}] for "
                              f"failures.sdc_detect_kind={kind} ({why})")
    elif kind == "exponential" and shape != 1.0:
        raise ConfigError(key, shape, "failures.sdc_detect_kind=exponential has no shape "
                          "(it is 1); choose weibull or lognormal to set one")


def bound_of(key: str) -> tuple[float, str] | None:
    """(upper bound, why) of `key`, or None: BOUNDS, else a century by unit suffix."""
    if key in BOUNDS:
        return BOUNDS[key]
    if key.endswith("mtbf_hours"):  # a catalog component's too
        return MTBF_HOURS, "a million such parts still fail less than once a century"
    unit = key.rsplit("_", 1)[-1]
    if unit in CENTURY:
        return CENTURY[unit], "a century of wall clock, the simulated clock's range"
    return None


def _walk(node: Any, prefix: str) -> None:
    for f in dataclasses.fields(node):
        key, value = f"{prefix}{f.name}", getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            _walk(value, f"{key}.")
        elif isinstance(value, list):
            for item in value:
                check_number(key, item)
        elif f.name == "components" and isinstance(value, dict):
            continue  # checked entry by entry (simulator/config/failures.py)
        else:
            check_number(key, value)


def check_number(key: str, value: Any) -> None:
    """A number's domain: finite, within its bound (`bound_of`) or the catch-alls."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key, value, "must be a finite number")
    bound = bound_of(key)
    if bound is not None and abs(value) > bound[0]:
        raise ConfigError(key, value, f"must be at most {bound[0]:g} ({bound[1]})")
    if isinstance(value, int) and abs(value) > INT_LIMIT:
        raise ConfigError(key, value, f"must be at most {INT_LIMIT} (a 64-bit integer)")
    if isinstance(value, float) and abs(value) > MAGNITUDE and key not in ("seed",):
        raise ConfigError(key, value, f"must be at most {MAGNITUDE:g} in magnitude (past it "
                          "conversions overflow)")
