"""Validation of the `failures` part of the config -> FailureModel (see config.py).

The model has no failure domains yet: switch, rack, scale-up and link units come from the
topology graph at elaboration (simulator/elaborate.py)."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from simulator.config.bounds import check_number
from simulator.errors import (
    ConfigError,
    TrainsimWarning,
    require_non_negative,
    require_one_of,
    require_positive,
)
from simulator.reliability.failures import (
    LIFETIME_KINDS,
    SCOPES,
    SDC_KIND,
    Component,
    FailureModel,
    InfantMortality,
    Lemons,
    SilentCorruption,
    Stragglers,
    make_lifetime,
)
from simulator.reliability.scenario import ClusterSpec
from simulator.reliability.trace import parse_time, read_trace_file
from simulator.units import DAY, HOUR

if TYPE_CHECKING:
    from simulator.config.schema import FailuresConfig

COMPONENT_SCOPES = (*SCOPES, "link")
COMPONENT_KEYS = ("scope", "mtbf_hours", "category", "repair_hours", "in_process_share", "kind",
                  "shape")
FAILURE_KINDS = ("none", "trace", *LIFETIME_KINDS)


def failures_from(f: FailuresConfig, cluster: ClusterSpec) -> FailureModel:
    """The failure model: plain lifetimes, a catalog, a trace; lemons, infant mortality,
    planned maintenance, silent data corruption."""
    model = _failures_from(f, cluster)
    if not model.has_sdc:  # the detection keys then change nothing: say so
        default = type(f)()
        for key in ("sdc_detect_hours", "sdc_detect_kind", "sdc_detect_shape"):
            if getattr(f, key) != getattr(default, key):
                raise ConfigError(f"failures.{key}", getattr(f, key),
                                  "only matters with silent data corruption (set "
                                  "failures.sdc_mtbf_hours, or sdc rows in a trace); "
                                  f"leave it at {_show(getattr(default, key))}")
    return model


def _failures_from(f: FailuresConfig, cluster: ClusterSpec) -> FailureModel:
    require_one_of("failures.kind", f.kind, FAILURE_KINDS)
    require_non_negative("failures.planned_per_day", f.planned_per_day)
    stragglers = _stragglers(f)
    sdc = _sdc(f)
    planned_gap_s = DAY / f.planned_per_day if f.planned_per_day > 0 else None
    if f.kind == "trace":
        if f.trace_path is None:
            raise ConfigError("failures.trace_path", None, "failures=trace needs a CSV file")
        _check_trace_keys(f)
        if f.sdc_mtbf_hours is not None:
            raise ConfigError("failures.sdc_mtbf_hours", f.sdc_mtbf_hours,
                              "has no effect with failures=trace (a trace replays recorded "
                              "failures); leave it null, or add sdc rows to the trace")
        total = cluster.nodes + cluster.spare_nodes
        read = read_trace_file(f.trace_path, total, cluster.gpus_per_node, f.trace_replicate,
                               _trace_start(f))
        trace = read.failures
        _check_resample(f, trace)
        if any(t.kind == SDC_KIND for t in trace):  # detected after the configured latency
            sdc = SilentCorruption(math.inf, *_sdc_detection(f))
        return FailureModel(kind="trace", trace=trace, planned_gap_s=planned_gap_s, sdc=sdc,
                            resample=f.resample, trace_hosts=read.hosts,
                            stragglers=stragglers or Stragglers(
                                math.inf, f.straggler_slowdown,
                                f.straggler_detect_hours * HOUR))
    if f.trace_path is not None:
        raise ConfigError("failures.trace_path", f.trace_path,
                          "is only read with failures=trace (or failures.kind=trace)")
    for key in ("trace_replicate", "trace_start", "resample"):
        if getattr(f, key) != getattr(type(f)(), key):
            raise ConfigError(f"failures.{key}", getattr(f, key),
                              "is only read with failures=trace (or failures.kind=trace)")
    if f.kind == "none":
        for key in ("gpu_mtbf_hours", "node_mtbf_hours"):
            if getattr(f, key) is not None:
                raise ConfigError(f"failures.{key}", getattr(f, key),
                                  "must be null with failures=none (choose failures="
                                  "exponential or weibull to set a rate)")
        if f.components:
            raise ConfigError("failures.components", ", ".join(f.components),
                              "must be empty with failures=none")
        default = type(f)()
        for key in RANDOM_ONLY[4:-1]:  # lemons and infant mortality modify lifetimes
            if getattr(f, key) != getattr(default, key):
                raise ConfigError(f"failures.{key}", getattr(f, key),
                                  "has no effect with failures=none (no lifetimes to "
                                  f"modify); leave it at {_show(getattr(default, key))}")
        if f.sdc_mtbf_hours is not None:
            raise ConfigError("failures.sdc_mtbf_hours", f.sdc_mtbf_hours,
                              "must be null with failures=none (choose failures="
                              "exponential, with or without other rates, to set it)")
        return FailureModel(kind="none", planned_gap_s=planned_gap_s, stragglers=stragglers)
    require_positive("failures.gpu_mtbf_hours", f.gpu_mtbf_hours, optional=True)
    require_positive("failures.node_mtbf_hours", f.node_mtbf_hours, optional=True)
    require_positive("failures.shape", f.shape)

    def lifetime(mtbf_hours: float | None, kind: str = f.kind, shape: float = f.shape):
        return None if mtbf_hours is None else make_lifetime(kind, mtbf_hours * HOUR, shape)

    catalog = [_component(name, entry, lifetime) for name, entry in f.components.items()]
    lemons, infant = _lemons(f), _infant(f)
    return FailureModel(kind=f.kind, gpu=lifetime(f.gpu_mtbf_hours),
                        node=lifetime(f.node_mtbf_hours), catalog=tuple(catalog),
                        planned_gap_s=planned_gap_s, lemons=lemons, infant=infant,
                        stragglers=stragglers, sdc=sdc)


#: Keys of random lifetimes, which a replayed trace does not have: with failures=trace
#: each must keep its schema default (straggler_slowdown and straggler_detect_hours do
#: apply, to the trace's straggler rows; planned_per_day adds planned maintenance).
RANDOM_ONLY = ("gpu_mtbf_hours", "node_mtbf_hours", "shape", "components", "lemon_fraction",
               "lemon_factor", "lemon_retire_after", "lemon_window_hours", "infant_factor",
               "infant_hours", "straggler_mtbf_hours")


def _check_trace_keys(f: FailuresConfig) -> None:
    """failures=trace: a key of random lifetimes set is an error naming it, not ignored;
    `failures.trace_replicate` is a replicate number (0 or more)."""
    if isinstance(f.trace_replicate, bool) or f.trace_replicate < 0:
        raise ConfigError("failures.trace_replicate", f.trace_replicate,
                          "must be zero or a positive integer (a replicate number of the "
                          "trace's replicate column)")
    default = type(f)()
    for key in RANDOM_ONLY:
        value = getattr(f, key)
        if value != getattr(default, key):
            raise ConfigError(f"failures.{key}", value,
                              "has no effect with failures=trace (a trace replays recorded "
                              "failures, it samples no lifetimes); leave it at "
                              f"{_show(getattr(default, key))}, or add the failures to "
                              "the trace")


def _trace_start(f: FailuresConfig):
    """failures.trace_start as an aware UTC datetime (None: not set)."""
    if f.trace_start is None:
        return None
    try:
        return parse_time(str(f.trace_start), "failures.trace_start")
    except ValueError:
        raise ConfigError("failures.trace_start", f.trace_start, "must be an ISO 8601 time "
                          "(e.g. 2025-01-01T00:00:00Z; no offset: UTC)") from None


def _check_resample(f: FailuresConfig, trace: tuple) -> None:
    """failures.resample is true or false, and needs rows tied to a node to draw."""
    if not isinstance(f.resample, bool):
        raise ConfigError("failures.resample", f.resample, "must be true or false")
    if f.resample and not any(t.kind not in ("job", "link") for t in trace):
        raise ConfigError("failures.resample", f.resample,
                          f"{f.trace_path} has no rows tied to a node (only job and link "
                          "rows, or none): a bootstrap by host would replay it unchanged")


def _show(value: Any) -> str:
    return "null" if value is None else "{}" if value == {} else str(value)


def _stragglers(f: FailuresConfig) -> Stragglers | None:
    require_positive("failures.straggler_mtbf_hours", f.straggler_mtbf_hours, optional=True)
    if not (math.isfinite(f.straggler_slowdown) and f.straggler_slowdown >= 1):
        raise ConfigError("failures.straggler_slowdown", f.straggler_slowdown,
                          "must be 1 or more (the step time factor while slow)")
    require_positive("failures.straggler_detect_hours", f.straggler_detect_hours)
    if f.straggler_mtbf_hours is None:
        return None
    return Stragglers(f.straggler_mtbf_hours * HOUR, f.straggler_slowdown,
                      f.straggler_detect_hours * HOUR)


def _sdc_detection(f: FailuresConfig) -> tuple[float, str, float]:
    """The detection latency of silent data corruption: mean (s), kind, shape."""
    require_positive("failures.sdc_detect_hours", f.sdc_detect_hours)
    require_one_of("failures.sdc_detect_kind", f.sdc_detect_kind, LIFETIME_KINDS)
    require_positive("failures.sdc_detect_shape", f.sdc_detect_shape)
    return f.sdc_detect_hours * HOUR, f.sdc_detect_kind, f.sdc_detect_shape


def _sdc(f: FailuresConfig) -> SilentCorruption | None:
    """Silent data corruption at a per-GPU rate (null: none); a trace's `sdc` rows are
    read with the trace."""
    detection = _sdc_detection(f)
    require_positive("failures.sdc_mtbf_hours", f.sdc_mtbf_hours, optional=True)
    if f.sdc_mtbf_hours is None:
        return None
    return SilentCorruption(f.sdc_mtbf_hours * HOUR, *detection)


def _lemons(f: FailuresConfig) -> Lemons | None:
    if not 0 <= f.lemon_fraction <= 1:
        raise ConfigError("failures.lemon_fraction", f.lemon_fraction, "must be in [0, 1]")
    if not (math.isfinite(f.lemon_factor) and f.lemon_factor >= 1):
        raise ConfigError("failures.lemon_factor", f.lemon_factor, "must be 1 or more")
    require_positive("failures.lemon_retire_after", f.lemon_retire_after, optional=True)
    require_positive("failures.lemon_window_hours", f.lemon_window_hours)
    if f.lemon_fraction == 0 and f.lemon_retire_after is None:
        return None
    return Lemons(f.lemon_fraction, f.lemon_factor, f.lemon_retire_after,
                  f.lemon_window_hours * HOUR)


def _infant(f: FailuresConfig) -> InfantMortality | None:
    if not (math.isfinite(f.infant_factor) and f.infant_factor >= 1):
        raise ConfigError("failures.infant_factor", f.infant_factor, "must be 1 or more")
    require_non_negative("failures.infant_hours", f.infant_hours)
    if f.infant_factor == 1 or f.infant_hours == 0:
        return None
    return InfantMortality(f.infant_factor, f.infant_hours * HOUR)


def _component(name: str, entry: Any, lifetime) -> Component:
    """One catalog entry: {scope, mtbf_hours, category, ...}, checked field by field; its
    own `kind` and `shape` (a fitted catalog, `python -m simulator.fit`) win over
    failures.kind and failures.shape."""
    key = f"failures.components.{name}"
    if name in ("gpu", "node"):
        raise ConfigError(key, name, "is reserved: use failures.gpu_mtbf_hours / "
                          "failures.node_mtbf_hours")
    if not isinstance(entry, dict):
        raise ConfigError(key, entry, "must be a mapping {scope: ..., mtbf_hours: ...}")
    unknown = sorted(set(entry) - set(COMPONENT_KEYS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", entry[unknown[0]],
                          f"unknown key; known keys: {', '.join(COMPONENT_KEYS)}")
    scope, mtbf = entry.get("scope"), entry.get("mtbf_hours")
    require_one_of(f"{key}.scope", scope, COMPONENT_SCOPES)
    if isinstance(mtbf, bool) or not isinstance(mtbf, int | float):
        raise ConfigError(f"{key}.mtbf_hours", mtbf, "must be a positive number")
    require_positive(f"{key}.mtbf_hours", float(mtbf))
    check_number(f"{key}.mtbf_hours", mtbf)
    repair = entry.get("repair_hours")
    if repair is not None and (isinstance(repair, bool) or not isinstance(repair, int | float)
                               or not math.isfinite(repair) or repair < 0):
        raise ConfigError(f"{key}.repair_hours", repair, "must be zero or a positive number")
    check_number(f"{key}.repair_hours", repair)
    share = entry.get("in_process_share", 0.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise ConfigError(f"{key}.in_process_share", share,
                          "must be a share in [0, 1] (of this cause's failures that recover "
                          "in process with restart=in_process)")
    if share and scope == "link":
        raise ConfigError(f"{key}.in_process_share", share,
                          "must be 0 for a link: a cable down slows the job, it does not "
                          "stop it")
    kind, shape = _own_lifetime(key, entry, scope)
    own = {k: v for k, v in (("kind", kind), ("shape", shape)) if v is not None}
    return Component(name, scope, lifetime(float(mtbf), **own), str(entry.get("category", "")),
                     None if repair is None else float(repair) * HOUR, float(share))


def _own_lifetime(key: str, entry: dict, scope: str) -> tuple[str | None, float | None]:
    """A component's own lifetime kind and shape (None: the failures-wide one)."""
    kind, shape = entry.get("kind"), entry.get("shape")
    if kind is not None:
        require_one_of(f"{key}.kind", kind, LIFETIME_KINDS)
        if kind != "exponential" and scope in ("job", "link"):
            raise ConfigError(f"{key}.kind", kind, f"must be exponential for scope {scope} "
                              "(its failures are one superposed process, not renewed parts)")
    if shape is not None:
        if isinstance(shape, bool) or not isinstance(shape, int | float):
            raise ConfigError(f"{key}.shape", shape, "must be a positive number")
        require_positive(f"{key}.shape", float(shape))
        if kind is None:
            raise ConfigError(f"{key}.shape", shape, "needs the component's own kind "
                              "(weibull or lognormal) beside it")
        if kind == "exponential" and shape != 1:
            raise ConfigError(f"{key}.shape", shape, "must be 1 (or absent) with kind "
                              "exponential")
    return kind, None if shape is None else float(shape)


def check_links(model: FailureModel, has_model: bool) -> None:
    """Link failures slow the step on the degraded graph: they need a workload's model."""
    if "link" in model.graph_scopes and not has_model:
        raise ConfigError("failures.components", "scope: link",
                          "link failures slow the step on the degraded graph, so they "
                          "need a workload with a model (workload=llama3_405b, "
                          "llama3_70b, gpt3_175b or moe_8x7b)")


def warn_trace_beyond(model: FailureModel, run_s: float, run_key: str) -> None:
    """A TrainsimWarning counting the trace's rows at or after the end of the run
    (`run_key`: horizon_days, or max_horizon_days with work_hours): they never replay."""
    late = sum(1 for t in model.trace or () if t.time_s >= run_s)
    # all of them late: the run has no failure at all, which the feasibility check says
    if 0 < late < len(model.trace or ()):
        warnings.warn(f"failures.trace_path: {late} of {len(model.trace)} trace row(s) at "
                      f"or after the run's end ({run_key}: {run_s / HOUR:g} h) never "
                      "replay", TrainsimWarning, stacklevel=2)
