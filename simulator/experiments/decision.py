"""Deciding between the configurations of a sweep by an objective, with paired statistics.

A planner asks "which configuration trains this model fastest / cheapest?", not "which
one loses the smallest share of its time": when the configurations differ in step time
(cluster, accelerator, topology, workload, parallelism), goodput alone ranks a slow
fabric that fails as often as a fast one as its equal. The objective is therefore
throughput-aware (effective tokens per second) whenever the step time or the nominal
throughput differs between configurations, and goodput otherwise.

The best configuration by mean is the winner only if its paired difference (common
random numbers: replicate r of every configuration saw the same failures) against
every other configuration has a 95% confidence interval that excludes zero; otherwise
the configurations it cannot be told apart from are "tied within the CI".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from simulator.experiments.analysis import paired_differences


@dataclass(frozen=True)
class Objective:
    """A summary column to decide by, and in which direction."""

    column: str
    title: str  # in prose and figure titles
    unit: str  # axis labels
    fmt: str  # display format of one value
    maximize: bool
    needs: str  # what the rows need for the column not to be nan

    @property
    def direction(self) -> str:
        return "higher is better" if self.maximize else "lower is better"

    def better(self, means: pd.Series) -> pd.Series:
        """`means` ordered best first (nan last)."""
        return means.sort_values(ascending=not self.maximize, na_position="last",
                                 kind="stable")


OBJECTIVES = {o.column: o for o in (
    Objective("effective_tokens_per_s", "effective tokens/s", "tokens/s", "{:,.0f}", True,
              "a model workload (e.g. workload=llama3_70b)"),
    Objective("goodput", "goodput", "useful / wall-clock time", "{:.4f}", True, ""),
    Objective("usd_per_mtoken", "$ per million useful tokens", "$ / Mtoken", "{:.4f}",
              False, "a model workload and cluster.gpu_hour_usd"),
    Objective("time_to_train_days", "time to train", "days", "{:,.2f}", False,
              "a training budget: workload.train_tokens (a model workload) or "
              "workload.train_steps"),
)}
#: Relative size under which a difference is no difference (floating-point noise).
NOISE = 1e-9


def available(frame: pd.DataFrame, column: str) -> bool:
    """Whether `column` is in the rows and not nan in all of them."""
    return column in frame.columns and bool(frame[column].notna().any())


def varies(values: pd.Series) -> bool:
    """Whether the finite values differ by more than floating-point noise."""
    values = values.astype(float).dropna()
    if values.empty:
        return False
    lo, hi = values.min(), values.max()
    return bool(hi - lo > NOISE * max(abs(lo), abs(hi)))


def choose_objective(frame: pd.DataFrame, requested: str | None = None
                     ) -> tuple[Objective, str]:
    """The objective and the reason for it: `requested`, or the default.

    The default is effective tokens/s when the step time or the nominal tokens/s differs
    between rows (the time to train a step budget for a fixed-step workload, goodput
    when neither is available), goodput otherwise. Raises ValueError if `requested` is
    unknown or nan in every row.
    """
    if requested is not None:
        if requested not in OBJECTIVES:
            raise ValueError(f"--objective {requested}: allowed: {', '.join(OBJECTIVES)}")
        objective = OBJECTIVES[requested]
        if not available(frame, requested):
            raise ValueError(f"--objective {requested}: the rows have no {requested} "
                             f"(nan in every row); it needs {objective.needs}")
        return objective, "chosen with --objective"
    step = frame["step_s"]
    tokens = frame["tokens_per_s"] if "tokens_per_s" in frame.columns else pd.Series()
    if not (varies(step) or varies(tokens)):
        return OBJECTIVES["goodput"], (
            "the default: every configuration runs the same step, so the share of useful "
            "time decides")
    what = (f"the step time differs between configurations ({step.min():.3f}–"
            f"{step.max():.3f} s)" if varies(step)
            else "the nominal throughput differs between configurations")
    for column in ("effective_tokens_per_s", "time_to_train_days"):
        if available(frame, column):
            return OBJECTIVES[column], (
                f"the default: {what}, so goodput alone would rank a slow configuration "
                "with a fast one")
    return OBJECTIVES["goodput"], (
        f"the default, although {what}: the rows have no tokens (a fixed-step workload) "
        "and no training budget; set workload.train_steps and use --objective "
        "time_to_train_days to weigh the step time")


@dataclass(frozen=True)
class Decision:
    """The outcome of comparing every configuration with the best one by mean."""

    objective: Objective
    best: str  # the best configuration by mean
    ranking: pd.Series  # mean objective per configuration, best first
    diffs: pd.DataFrame  # one row per other configuration: diff, paired_ci, ..., worse
    winner: str | None  # `best` when it beats every other one, else None
    tied: list[str]  # configurations not told apart from the best (best first)
    problem: str | None = None  # why no paired comparison could be made
    missing: list[str] = field(default_factory=list)  # configurations without the objective

    @property
    def runner_up(self) -> pd.Series | None:
        """The second configuration by mean: its diffs row, or None."""
        if self.diffs.empty:
            return None
        return self.diffs.iloc[0]


def decide(frame: pd.DataFrame, objective: Objective) -> Decision:
    """Compare every configuration (the `configuration` column) with the best by mean.

    A configuration is `worse` when its paired 95% CI of the difference excludes zero;
    `best` is the winner when every other configuration is worse. Configurations whose
    objective is nan (e.g. no tokens in a fixed-step workload) are left out, as
    `missing`. Raises ValueError when no configuration has the objective.
    """
    rows = frame[["configuration", "seed", "replicate", objective.column]]
    means = rows.groupby("configuration", sort=False)[objective.column].mean()
    ranking = objective.better(means.dropna())
    if ranking.empty:
        raise ValueError(f"no configuration has {objective.column}; it needs "
                         f"{objective.needs}")
    missing = [str(c) for c in means.index if c not in ranking.index]
    rows = rows[rows["configuration"].isin(ranking.index)]
    best = str(ranking.index[0])
    empty = pd.DataFrame(columns=["configuration", "diff", "paired_ci", "unpaired_ci", "n",
                                  "worse"])
    if len(ranking) < 2:
        return Decision(objective, best, ranking, empty, None, [best], missing=missing)
    try:
        diffs = paired_differences(rows, "configuration", best, metric=objective.column,
                                   by=[])
    except ValueError as error:
        return Decision(objective, best, ranking, empty, None, list(ranking.index),
                        problem=str(error), missing=missing)
    diffs["configuration"] = diffs["configuration"].astype(str)
    diffs = diffs.set_index("configuration").loc[ranking.index[1:]].reset_index()
    scale = NOISE * abs(float(ranking.iloc[0]))
    diffs["worse"] = [bool(abs(d) > scale and not math.isnan(ci) and abs(d) > ci)
                      for d, ci in zip(diffs["diff"], diffs["paired_ci"], strict=True)]
    tied = [best, *diffs.loc[~diffs["worse"], "configuration"]]
    winner = best if diffs["worse"].all() else None
    problem = None
    if diffs["paired_ci"].isna().all():
        problem = ("one replicate per configuration gives no confidence interval: run "
                   "replicates=2 or more")
    return Decision(objective, best, ranking, diffs, winner, tied, problem, missing)
