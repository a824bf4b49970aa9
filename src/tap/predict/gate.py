"""The learning-signal gate a TAPPredictor can build in (`gate="nondegenerate"`).

With β = 0 a GRPO group whose rewards all agree has zero advantage and gives no gradient, so a cohort none of
whose rollout groups disagreed (`frac_nondegenerate` = 0) has no learning signal the features can see. A gated
model fits its base model on the cohorts that had one and gives the others one constant.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

GATE_COLUMN = "frac_nondegenerate"  # share of a cohort's rollout groups whose rewards disagree


def has_learning_signal(frac_nondegenerate) -> np.ndarray:
    """Whether each cohort had a learning signal: frac_nondegenerate > 0, an unknown (NaN) value counting as one."""
    return ~(np.asarray(frac_nondegenerate, float) == 0)


def gate_for(gate, columns: list[str]):
    """The `gate` a TAPPredictor fit on a bare array of these columns needs: the gate column's index
    for "nondegenerate" (or "none" when the columns do not hold it); anything else unchanged."""
    if gate == "nondegenerate":
        return list(columns).index(GATE_COLUMN) if GATE_COLUMN in columns else "none"
    return gate


class GatedModel(RegressorMixin, BaseEstimator):
    """A base model for the cohorts with a learning signal, a constant for those without. The last
    column of X is the gate (1: some rollout group's rewards disagreed); the base model sees the others.
    Fit on the open rows (on every row when fewer than 2 are open); closed rows predict
    Σ y_closed / (n_closed + 1)."""

    def __init__(self, base=None):
        self.base = base

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        open_ = X[:, -1] > 0.5
        self.closed_value_ = float(y[~open_].sum() / ((~open_).sum() + 1))
        rows = open_ if open_.sum() >= 2 else np.ones(len(y), bool)
        self.model_ = clone(self.base).fit(X[rows, :-1], y[rows])
        return self

    def predict(self, X):
        X = np.asarray(X, float)
        return np.where(X[:, -1] > 0.5, self.model_.predict(X[:, :-1]), self.closed_value_)
