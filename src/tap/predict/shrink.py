"""Shrinkage toward a label-free prior, which a TAPPredictor can build in (`prior="head_align_dot"`).

A prior is a score that needs no label and whose sign theory gives (higher = more lift): head_align_dot,
head_align_pass_dot, a gradient score. With p the prior's value, u = (p − m)/s its standardization by the
training rows' mean m and standard deviation s (m = 0, s = 1 with fewer than two distinct values: the raw
score), and ȳ, s_y the training labels' mean and standard deviation (0 and 1 without two labels),

    r = (y − ȳ)/s_y − u,    r ≈ base(x),    ŷ = ȳ + s_y (u + base(x))

so a ridge base is a ridge whose prior mean puts weight 1 on the standardized prior and 0 on every other
feature, its penalty the prior's strength: with few labels the ridge stays near 0 and the ranking is the
prior's; with many it moves to what the labels say (the prior's own column is among the base's features, so
the data can reweigh it). `base=None` is the prior alone; with no training row the prediction is the prior
itself, so the ranking is the prior's. A cohort whose prior is undefined (NaN) gets u = 0.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone


class ShrunkToPrior(RegressorMixin, BaseEstimator):
    """`base` fit to the standardized labels' departures from the standardized prior (module docstring).
    The last column of X is the prior; the base model sees the others."""

    def __init__(self, base=None):
        self.base = base

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        p = X[:, -1]
        known = p[np.isfinite(p)]
        spread = float(known.std()) if len(known) >= 2 else 0.0
        self.center_, self.scale_ = (float(known.mean()), spread) if spread > 0 else (0.0, 1.0)
        self.y_mean_ = float(y.mean()) if len(y) else 0.0
        self.y_scale_ = float(y.std()) if len(y) >= 2 and y.std() > 0 else 1.0
        self.model_ = None
        if self.base is not None and len(y) >= 2:
            residual = (y - self.y_mean_) / self.y_scale_ - self._standard(p)
            self.model_ = clone(self.base).fit(X[:, :-1], residual)
        return self

    def _standard(self, p: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(p), (p - self.center_) / self.scale_, 0.0)

    def predict(self, X):
        X = np.asarray(X, float)
        departure = self.model_.predict(X[:, :-1]) if self.model_ is not None else 0.0
        return self.y_mean_ + self.y_scale_ * (self._standard(X[:, -1]) + departure)


def prior_for(prior, columns: list[str]):
    """The `prior` a TAPPredictor fit on a bare array of these columns needs: the prior column's index for
    a feature name ("none" when the columns do not hold it); "none" and an index unchanged."""
    if isinstance(prior, str) and prior != "none":
        return list(columns).index(prior) if prior in columns else "none"
    return prior
