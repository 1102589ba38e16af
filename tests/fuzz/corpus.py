"""The regression corpus: every concrete case of issue #12 and what a clean answer is.

A case is overrides (and maybe a trace file's contents) with the answer expected:

    error   a ConfigError naming one of `keys`
    warn    a ConfigError naming one of `keys`, or a run that raises a TrainsimWarning
    clean   a ConfigError naming one of `keys`, or a run (rows that make sense)
    run     a run (the input is valid)

`part` is the #12 work that fixes it on the integration branch (validation: the
domains of the keys and the trace reader; budget: the work budget for hangs). A case a
run of these tests finds still failing is marked xfail (test_corpus.py, OPEN).
"""

from __future__ import annotations

from dataclasses import dataclass

#: A work-budget refusal names the key that raises the limit (`max_events` or similar).
BUDGET_KEY_PREFIX = "max_"
#: Validation cases where the work budget's refusal is a clean answer too (too much work
#: asked for, whichever check sees it first).
BUDGET_TOO = frozenset({"interval_1e308", "work_hours_1e308", "replicates_huge", "gpus_1e9",
                        "spare_nodes_1e9", "step_seconds_1e308"})

GOOD_TRACE = "time_hours,kind,node\n5,node,3\n20,gpu,7\n"


@dataclass(frozen=True)
class Case:
    id: str
    overrides: tuple[str, ...]
    expect: str  # error | warn | clean | run
    keys: tuple[str, ...]
    part: str  # validation | budget | outputs
    trace: bytes | None = None  # written to a file, failures.trace_path points at it


def _trace(case_id: str, data: bytes, expect: str, *extra: str,
           keys: tuple[str, ...] = ("failures.trace_path",)) -> Case:
    return Case(case_id, ("failures=trace", *extra), expect, keys, "validation", data)


CASES = [
    # ---- tracebacks ------------------------------------------------------------------
    Case("interval_1e308", ("checkpoint.interval_minutes=1e308",), "error",
         ("checkpoint.interval_minutes",), "validation"),
    Case("work_hours_1e308", ("work_hours=1e308",), "error", ("work_hours",), "validation"),
    Case("replicates_huge", ("replicates=99999999999999999999",), "error", ("replicates",),
         "validation"),
    Case("gpus_1e9", ("cluster.gpus=1000000000",), "error", ("cluster.gpus",), "validation"),
    Case("spare_nodes_1e9", ("cluster.spare_nodes=1000000000",), "error",
         ("cluster.spare_nodes",), "validation"),
    Case("zero_stage_negative", ("workload.parallel.zero_stage=-1",), "error",
         ("workload.parallel.zero_stage",), "validation"),
    Case("zero_stage_negative_model", ("workload=llama3_70b", "workload.parallel.zero_stage=-1"),
         "error", ("workload.parallel.zero_stage",), "validation"),
    Case("infant_factor_1e308", ("failures.infant_factor=1e308", "failures.infant_hours=100"),
         "error", ("failures.infant_factor",), "validation"),
    Case("infant_factor_1e308_alone", ("failures.infant_factor=1e308",), "clean",
         ("failures.infant_factor",), "validation"),
    Case("jitter_cv_tiny", ("workload.jitter_cv=1e-300",), "clean", ("workload.jitter_cv",),
         "validation"),
    Case("jitter_cv_tiny_steps", ("mode=steps", "horizon_days=0.1", "workload.jitter_cv=1e-300"),
         "clean", ("workload.jitter_cv",), "validation"),
    Case("weibull_shape_tiny", ("failures=weibull", "failures.shape=0.001"), "clean",
         ("failures.shape",), "validation"),
    Case("lognormal_shape_huge", ("failures=lognormal", "failures.shape=1e200"), "clean",
         ("failures.shape",), "validation"),
    _trace("trace_not_utf8", "time_hours,kind,node,component\n5,node,3,caf\xe9\n"
           .encode("latin-1"), "error"),
    _trace("trace_field_over_128k", b"time_hours,kind,node,component\n5,node,3,"
           + b"x" * (129 * 1024) + b"\n", "error"),
    _trace("trace_switch_on_tpu_torus", b"time_hours,kind,node\n5,switch,3\n", "clean",
           "cluster=tpu_v5p_8k", "cluster.gpus=256"),
    # ---- hangs (the work budget refuses them before running) -------------------------
    Case("horizon_1e9_days", ("horizon_days=1e9",), "error", ("horizon_days",), "budget"),
    Case("planned_1e9_per_day", ("failures.planned_per_day=1e9",), "error",
         ("failures.planned_per_day",), "budget"),
    Case("straggler_mtbf_1e-9", ("failures.straggler_mtbf_hours=1e-9",), "error",
         ("failures.straggler_mtbf_hours",), "budget"),
    Case("node_mtbf_1e-9_no_repair", ("failures.node_mtbf_hours=1e-9",
                                      "restart.repair_hours=0"), "error",
         ("failures.node_mtbf_hours", "restart.repair_hours"), "budget"),
    Case("job_component_mtbf_1e-9",
         ("+failures.components.bug={scope:job,mtbf_hours:1e-9,category:software}",),
         "error", ("failures.components",), "budget"),
    Case("steps_of_1ms", ("mode=steps", "workload.step_seconds=0.001"), "error",
         ("workload.step_seconds", "mode"), "budget"),
    # with the default 5-minute write, a checkpoint per step is ~8,600 checkpoints in 30
    # days: it runs at once, and warns that the interval is shorter than the write
    Case("interval_1e-9_steps_1e-6", ("checkpoint.interval_minutes=1e-9",
                                      "workload.step_seconds=1e-6"), "warn",
         ("checkpoint.interval_minutes",), "budget"),
    # with no write, a checkpoint every microsecond: ~2.6e12 events, past the work budget
    Case("interval_1e-9_steps_1e-6_no_write", ("checkpoint.interval_minutes=1e-9",
                                               "workload.step_seconds=1e-6",
                                               "checkpoint.write_minutes=0"), "error",
         ("checkpoint.interval_minutes", "workload.step_seconds"), "budget"),
    Case("replicates_1e7", ("replicates=10000000",), "error", ("replicates",), "budget"),
    # ---- silent acceptance -----------------------------------------------------------
    Case("events_2", ("events=2",), "error", ("events",), "validation"),
    Case("elastic_2", ("restart.elastic=2",), "error", ("restart.elastic",), "validation"),
    _trace("trace_replicate_negative", GOOD_TRACE.encode(), "error",
           "failures.trace_replicate=-1", keys=("failures.trace_replicate",)),
    _trace("trace_unsorted", b"time_hours,kind,node\n20,node,3\n5,node,4\n", "warn"),
    _trace("trace_duplicate_rows", b"time_hours,kind,node\n5,node,3\n5,node,3\n", "warn"),
    _trace("trace_header_only", b"time_hours,kind,node\n", "warn"),
    _trace("trace_beyond_horizon", b"time_hours,kind,node\n5,node,3\n9000,node,4\n", "warn"),
    Case("interval_shorter_than_write", ("checkpoint.interval_minutes=1",
                                         "checkpoint.write_minutes=60"), "warn",
         ("checkpoint.interval_minutes", "checkpoint.write_minutes"), "validation"),
    Case("snapshot_longer_than_write", ("checkpoint=async", "checkpoint.snapshot_minutes=10",
                                        "checkpoint.write_minutes=1"), "warn",
         ("checkpoint.snapshot_minutes", "checkpoint.write_minutes"), "validation"),
    Case("pue_inf", ("cluster.pue=inf",), "error", ("cluster.pue",), "validation"),
    # ---- messages --------------------------------------------------------------------
    Case("model_key_on_fixed_step", ("workload.model.layers=10",), "error",
         ("workload.model.layers", "workload.model"), "validation"),
    # ---- keys that do nothing --------------------------------------------------------
    _trace("trace_with_lemons", GOOD_TRACE.encode(), "warn", "failures.lemon_fraction=0.1",
           keys=("failures.lemon_fraction",)),
    _trace("trace_with_stragglers", GOOD_TRACE.encode(), "warn",
           "failures.straggler_mtbf_hours=100", keys=("failures.straggler_mtbf_hours",)),
    Case("work_hours_and_horizon", ("work_hours=10", "horizon_days=5"), "warn",
         ("work_hours", "horizon_days"), "validation"),
    Case("delete_cluster_group", ("~cluster",), "error", ("cluster",), "validation"),
    Case("step_seconds_1e308", ("workload.step_seconds=1e308",), "warn",
         ("workload.step_seconds",), "validation"),
]

#: `name=` values that must be refused (through the command line): `{tmp}` is a scratch
#: folder, so that an absolute name that is accepted still writes nowhere else.
NAMES = ["../../x", "{tmp}/x", "..", "", "${oc.env:HOME}"]
