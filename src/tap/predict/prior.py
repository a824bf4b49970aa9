"""A predictor that starts from a prior (the zoo's pooled predictor) and learns a run's departures from it.

With p₀ the prior's prediction on a cohort's features (normalized as the prior's worlds were, against the
reference cohorts: the run's), the fit is

    r = (y − ȳ) / s_y − (p₀ − p̄₀) / s_p₀,    r ≈ ridge(x; λ)  (TAP's ridge, penalty λ = `shrinkage`)

and the prediction ŷ = ȳ + s_y · ((p₀ − p̄₀) / s_p₀ + ridge(x)): with few labels the ridge stays near 0 and the
ranking is the prior's; with many it moves to the run's own. Means and standard deviations are the labelled
cohorts' (p₀'s over the reference cohorts). Conformal intervals come from the ridge's (jackknife+ over the
labelled cohorts, in units of s_y): the prior is fixed before the run's labels are seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tap.predict.predictor import TAPPredictor


def reference_normalize(values: np.ndarray, reference: np.ndarray, how: str) -> np.ndarray:
    """Each column of `values` normalized against the same column of `reference` (tap.evaluate.transfer.normalize's
    z and rank, with the reference's mean and sd, or its empirical distribution, instead of the values' own)."""
    x, ref = np.asarray(values, float), np.asarray(reference, float)
    if how == "none":
        return x.copy()
    out = np.zeros_like(x)
    for j in range(x.shape[1]):
        known = ref[np.isfinite(ref[:, j]), j]
        if len(known) < 2 or np.ptp(known) == 0:
            continue
        defined = np.isfinite(x[:, j])
        if how == "z":
            out[defined, j] = (x[defined, j] - known.mean()) / known.std()
        elif how == "rank":
            ordered = np.sort(known)
            below = np.searchsorted(ordered, x[defined, j], "left")
            upto = np.searchsorted(ordered, x[defined, j], "right")
            out[defined, j] = (below + upto) / 2 / len(ordered) - 0.5
        else:
            raise ValueError(f"unknown normalization {how!r}")
    return out


class PriorPredictor:
    """TAP's ridge fitted to a run's departures from a prior predictor (module docstring). scikit-learn's
    contract: __init__ stores its arguments; fit returns self; learned attributes end in "_"."""

    def __init__(self, prior=None, columns=(), normalization="none", shrinkage=10.0, interval="jackknife+",
                 level=0.9, n_folds=5, random_state=0):
        self.prior = prior
        self.columns = columns
        self.normalization = normalization
        self.shrinkage = shrinkage
        self.interval = interval
        self.level = level
        self.n_folds = n_folds
        self.random_state = random_state

    def _prior_scores(self, X: pd.DataFrame) -> np.ndarray:
        values = reference_normalize(X[list(self.columns)].to_numpy(float), self.reference_, self.normalization)
        return np.asarray(self.prior.predict(pd.DataFrame(values, columns=list(self.columns))), float)

    def fit(self, X: pd.DataFrame, y, groups=None, subjects=None, reference: pd.DataFrame | None = None):
        """Fit on labelled cohorts (X, y); `reference` (default X) holds every cohort whose features are known,
        labelled or not: the normalization the prior reads is taken over it."""
        y = np.asarray(y, float)
        self.reference_ = (X if reference is None else reference)[list(self.columns)].to_numpy(float)
        p0 = self._prior_scores(X)
        p_ref = self._prior_scores(X if reference is None else reference)
        self.p0_mean_, self.p0_sd_ = float(p_ref.mean()), float(p_ref.std()) or 1.0
        self.y_mean_, self.y_sd_ = float(y.mean()), float(y.std()) or 1.0
        residual = (y - self.y_mean_) / self.y_sd_ - (p0 - self.p0_mean_) / self.p0_sd_
        self.residual_ = TAPPredictor(model="ridge", families=("R", "F", "G"), alpha=self.shrinkage,
                                      interval=self.interval, level=self.level, n_folds=self.n_folds,
                                      random_state=self.random_state)
        self.residual_.fit(X[list(self.columns)], residual, groups=groups)
        return self

    def _standard(self, X: pd.DataFrame) -> np.ndarray:
        return (self._prior_scores(X) - self.p0_mean_) / self.p0_sd_

    def predict(self, X: pd.DataFrame, subjects=None) -> np.ndarray:
        return self.y_mean_ + self.y_sd_ * (self._standard(X) + self.residual_.predict(X[list(self.columns)]))

    def predict_interval(self, X: pd.DataFrame, subjects=None) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.residual_.predict_interval(X[list(self.columns)])
        base = self._standard(X)
        return self.y_mean_ + self.y_sd_ * (base + lo), self.y_mean_ + self.y_sd_ * (base + hi)

    # what `tap score` reads of a fitted predictor, in lift units
    @property
    def heldout_errors_(self) -> np.ndarray:
        return self.y_sd_ * self.residual_.heldout_errors_

    @property
    def fold_of_(self) -> np.ndarray:
        return self.residual_.fold_of_

    @property
    def fold_models_(self) -> list:
        return self.residual_.fold_models_

    def guarantee(self) -> float | None:
        return self.residual_.guarantee()

    def bounded(self) -> bool:
        return self.residual_.bounded()

    def describe(self) -> str:
        return (f"the zoo's pooled predictor ({self.normalization} normalization) plus a ridge (alpha "
                f"{self.shrinkage:g}) on this run's departures from it")
