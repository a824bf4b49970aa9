"""The scorers an evaluation compares, each with what it reads and what it costs per cohort.

- TAP: TAPPredictor (gbm or ridge) on the R, R+F and R+F+G feature families.
- TAP auto (model, families and penalty chosen by inner grouped CV) and the fixed models gbm, ridge
  and ridge+subject (features standardized within subject, subject offsets, shared slopes).
- Single features: one column; its sign (and the fill for an undefined value) learned on the
  training folds only, so a feature that predicts *lower* lift is used the right way round without
  peeking at the held-out cohorts; each also standardized within subject ("| within subject").
- Best feature: the one column (and sign) with the largest |ρ| on the training folds.
- Gradient scores and head_align: one column each with the sign theory gives (positive = predicted
  lift), nothing learned.
- Measured lift: GRPO-train the cohort and read its lift on other seeds (1 seed, or all S − 1).
- Short runs: train a little and measure — the probe's lift after the first h GRPO steps of another
  seed's label run (read from its per-item records), at the cost of those h steps and one look.
- Random.

Costs per cohort come from the run's own records: rollout generation (`cost_rollout_*`), the
feature families (`cost_R/F/G_*`) and the label runs (ledger wall seconds and FLOPs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from tap.evaluate.metrics import spearman

FAMILY_SETS = (("R",), ("R", "F"), ("R", "F", "G"))
def _family_order(families: tuple[str, ...]) -> tuple:
    """Family sets in the order the scorers list them: R, R+F, R+F+G, then any other configured one."""
    return (FAMILY_SETS.index(families) if families in FAMILY_SETS else len(FAMILY_SETS), families)


STANDARD_MODELS = (("auto", "global"), ("gbm", "global"), ("ridge", "global"), ("ridge", "subject"))


def tap_scorer_name(model: str, scaling: str, families) -> str:
    """A TAP scorer's name, e.g. "TAP ridge R+F" or "TAP kernel+subject R" (families in R, F, G order)."""
    label = f"{model}+subject" if scaling == "subject" else model
    return f"TAP {label} {'+'.join(f for f in ('R', 'F', 'G') if f in set(families))}"


def configured_scorer_name(predictor: dict) -> str:
    """The name of the scorer that is the configured predictor (`[predictor]`: model, scaling, families)."""
    return tap_scorer_name(predictor["model"], predictor.get("scaling", "global"), predictor["families"])


class SignedFeature(RegressorMixin, BaseEstimator):
    """One feature as a score. `sign=None` learns it from the training rows (the sign of the
    feature's Spearman correlation with the label; +1 on a tie); undefined values get the training
    median. `within_subject` standardizes the feature within each subject first (training rows'
    mean and std per subject; a subject not seen in training gets the global ones), so that only
    its ranking inside a subject counts."""

    def __init__(self, sign=None, within_subject=False):
        self.sign = sign
        self.within_subject = within_subject

    def _values(self, X, subjects) -> np.ndarray:
        x = np.asarray(X, float)[:, 0]
        x = np.where(np.isfinite(x), x, self.fill_)
        if not self.within_subject:
            return x
        if subjects is None:
            raise ValueError("within_subject needs subjects= in fit and predict")
        subjects = np.asarray(subjects).astype(str)
        mean = np.array([self.stats_.get(s, self.stats_[None])[0] for s in subjects])
        std = np.array([self.stats_.get(s, self.stats_[None])[1] for s in subjects])
        return (x - mean) / std

    def fit(self, X, y, subjects=None):
        x = np.asarray(X, float)[:, 0]
        finite = np.isfinite(x)
        self.fill_ = float(np.median(x[finite])) if finite.any() else 0.0
        if self.within_subject:
            if subjects is None:
                raise ValueError("within_subject needs subjects= in fit and predict")
            filled, subjects = np.where(finite, x, self.fill_), np.asarray(subjects).astype(str)

            def stats(v):
                return float(v.mean()), float(v.std()) if v.std() > 0 else 1.0

            self.stats_ = {
                None: stats(filled),
                **{s: stats(filled[subjects == s]) for s in np.unique(subjects) if (subjects == s).sum() >= 2},
            }
        x = self._values(X, subjects)
        if self.sign is None:
            rho = spearman(x, np.asarray(y, float))
            self.sign_ = -1.0 if rho < 0 else 1.0  # NaN (a constant column) compares False: +1
        else:
            self.sign_ = float(self.sign)
        return self

    def predict(self, X, subjects=None):
        return self.sign_ * self._values(X, subjects)


class BestFeature(RegressorMixin, BaseEstimator):
    """The single feature a user would pick from the training rows: the column with the largest
    |Spearman ρ| with the label there, used with that sign (undefined values: training median)."""

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        self.fill_ = np.array([np.median(c[np.isfinite(c)]) if np.isfinite(c).any() else 0.0 for c in X.T])
        Z = np.where(np.isfinite(X), X, self.fill_)
        rhos = np.array([spearman(c, y) for c in Z.T])
        strength = np.where(np.isfinite(rhos), np.abs(rhos), -1.0)
        self.column_ = int(np.argmax(strength))
        self.sign_ = -1.0 if rhos[self.column_] < 0 else 1.0
        return self

    def predict(self, X):
        x = np.asarray(X, float)[:, self.column_]
        return self.sign_ * np.where(np.isfinite(x), x, self.fill_[self.column_])


@dataclass
class Scorer:
    """A way of ranking cohorts: a name, its group, the feature columns it reads, how to make a
    fresh model (None for the measured-lift and random scorers), and its cost per cohort."""

    name: str
    group: str  # tap | feature | gradient | measured | random
    columns: list[str] = field(default_factory=list)
    make: Callable | None = None
    cost_seconds: float = float("nan")
    cost_flops: float = float("nan")
    intervals: bool = False
    note: str = ""
    seed_scores: np.ndarray | None = None  # (cohorts, seeds) scores a seed's run gives (short runs)


def _mean(table: pd.DataFrame, column: str) -> float:
    return float(table[column].mean()) if column in table and table[column].notna().any() else float("nan")


def family_costs(features: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """(seconds, FLOPs) per cohort of rollouts and of each feature family, from the cost columns."""
    rollout = (_mean(features, "cost_rollout_seconds"), _mean(features, "cost_rollout_flops"))
    return {
        "rollout": rollout,
        "R": (_mean(features, "cost_R_seconds"), 0.0),
        "F": (_mean(features, "cost_F_seconds"), _mean(features, "cost_F_flops")),
        "G": (_mean(features, "cost_G_seconds"), _mean(features, "cost_G_flops")),
    }


def _cost(costs: dict, parts: list[str]) -> tuple[float, float]:
    return float(sum(costs[p][0] for p in parts)), float(sum(costs[p][1] for p in parts))


def build_scorers(
    features: pd.DataFrame, label_cost: tuple[float, float], seeds: int, predictor: dict,
    short_runs: dict[int, tuple[np.ndarray, float, float]] | None = None, which: str = "all",
) -> list[Scorer]:
    """Every scorer the run's features allow (`which="all"`), or the headline set (`"headline"`): the
    configured predictor, the best single R+F feature, the theory-signed gradient and head-alignment scores,
    the measured selectors and random — what the report's first screen compares. `predictor` holds
    TAPPredictor parameters (the `[predictor]` config, without `model`/`families`, which the scorers
    vary); `label_cost` is (seconds, FLOPs) of one label run; `short_runs` maps h to (the lifts after h
    steps, cohorts x seeds, aligned with `features`; seconds; FLOPs of such a run)."""
    from tap.features.catalog import feature_tags
    from tap.features.compute import feature_columns

    tags = feature_tags()
    usable = [c for c in feature_columns(features) if c in tags and features[c].notna().any()]
    costs = family_costs(features)
    scorers = [
        *_tap_scorers(usable, tags, costs, predictor),
        *_feature_scorers(usable, costs),
        *_measured_scorers(label_cost, seeds, short_runs),
        Scorer("random", "random", cost_seconds=0.0, cost_flops=0.0),
    ]
    if which == "all":
        return scorers
    configured = configured_scorer_name(predictor) if "model" in predictor else None
    return [s for s in scorers if s.name in (configured, "best feature R+F") or s.group in ("measured", "random")
            or (s.group == "gradient" and "|" not in s.name)]


def _tap_scorers(usable: list[str], tags: dict, costs: dict, predictor: dict) -> list[Scorer]:
    """TAP's predictor (auto, gbm, ridge, ridge within subject) and the best single feature, per family set,
    and the configured predictor (`predictor`'s model, scaling and families) when it is none of those."""
    from tap.predict.gate import gate_for
    from tap.predict.predictor import TAPPredictor
    from tap.predict.shrink import prior_for

    present = {tags[c] for c in usable}
    params = {k: v for k, v in predictor.items() if k not in ("model", "families", "scaling")}
    scorers: list[Scorer] = []
    configured = None
    if "model" in predictor:  # the configured predictor is a scorer, whatever its model, scaling and families
        fams = tuple(f for f in ("R", "F", "G") if f in set(predictor["families"]))
        configured = (predictor["model"], predictor.get("scaling", "global"), fams)
    for families in sorted({*FAMILY_SETS, *([configured[2]] if configured else [])}, key=_family_order):
        if not set(families) <= present:
            continue
        columns = [c for c in usable if tags[c] in families]
        models = [*(STANDARD_MODELS if families in FAMILY_SETS else ()),
                  *([configured[:2]] if configured and configured[2] == families else [])]
        for model, scaling in dict.fromkeys(models):
            if model == "prior" and params.get("prior", "none") not in columns:
                continue  # the prior alone needs its column among these families'
            def make(model=model, families=families, scaling=scaling, columns=columns):
                return TAPPredictor(model=model, families=families, scaling=scaling,
                                    **{**params, "gate": gate_for(params.get("gate", "none"), columns),
                                       "prior": prior_for(params.get("prior", "none"), columns)})

            label = f"{model}+subject" if scaling == "subject" else model
            scorers.append(
                Scorer(
                    tap_scorer_name(model, scaling, families),
                    "tap",
                    columns,
                    make,
                    *_cost(costs, ["rollout", *families]),
                    intervals=True,
                    note={
                        "auto": "model, families and penalty chosen by inner grouped CV on the training folds",
                        "ridge+subject": "features standardized within subject, subject offsets, shared slopes",
                    }.get(label, ""),
                )
            )
        if families in FAMILY_SETS and families != ("R", "F", "G"):
            scorers.append(
                Scorer(
                    f"best feature {'+'.join(families)}",
                    "feature",
                    columns,
                    BestFeature,
                    *_cost(costs, ["rollout", *families]),
                    note="the single feature (and sign) with the largest |ρ| on the training folds",
                )
            )
    return scorers


def _feature_scorers(usable: list[str], costs: dict) -> list[Scorer]:
    """Each feature alone: theory-signed (gradient, head alignment) or with its sign learned; then
    each again standardized within subject."""
    from tap.features.gradients import GRADIENT_FEATURES
    from tap.features.head_align import HEAD_ALIGN_FEATURES
    from tap.features.representations import MODEL_FEATURES

    theory = set(GRADIENT_FEATURES) | set(HEAD_ALIGN_FEATURES)
    forward = set(MODEL_FEATURES) | set(HEAD_ALIGN_FEATURES)
    scorers: list[Scorer] = []
    for column in usable:
        if column in theory:
            parts = ["rollout", "G" if column in GRADIENT_FEATURES else "F"]
            scorers.append(Scorer(column, "gradient", [column], lambda: SignedFeature(sign=1.0), *_cost(costs, parts),
                                  note="fixed sign (+ = predicted lift)"))
        else:
            parts = ["rollout", "F" if column in forward else "R"]
            scorers.append(Scorer(column, "feature", [column], SignedFeature, *_cost(costs, parts),
                                  note="sign learned on training folds"))
    for column in usable:
        fixed = column in theory
        parts = ["rollout", "G" if column in GRADIENT_FEATURES else "F" if column in forward else "R"]
        make = (
            (lambda: SignedFeature(sign=1.0, within_subject=True))
            if fixed
            else (lambda: SignedFeature(within_subject=True))
        )
        scorers.append(Scorer(f"{column} | within subject", "gradient" if fixed else "feature", [column], make,
                              *_cost(costs, parts), note="standardized within subject on the training folds"))
    return scorers


def _measured_scorers(label_cost: tuple[float, float], seeds: int,
                      short_runs: dict[int, tuple[np.ndarray, float, float]] | None) -> list[Scorer]:
    """Selectors that train and measure: another seed's lift, the other seeds' mean, short runs."""
    seconds, flops = label_cost
    scorers = [Scorer("measured lift, 1 seed", "measured", cost_seconds=seconds, cost_flops=flops,
                      note="train and measure: another seed's lift")]
    if seeds > 2:
        scorers.append(Scorer(f"measured lift, {seeds - 1} seeds", "measured", cost_seconds=(seeds - 1) * seconds,
                              cost_flops=(seeds - 1) * flops, note="mean lift of the other seeds"))
    for steps, (lifts, seconds, flops) in sorted((short_runs or {}).items()):
        scorers.append(
            Scorer(
                f"short run, {steps} step{'s' if steps > 1 else ''}",
                "measured",
                cost_seconds=seconds,
                cost_flops=flops,
                seed_scores=lifts,
                note=f"train {steps} GRPO step{'s' if steps > 1 else ''} and measure: another seed's lift after them",
            )
        )
    return scorers
