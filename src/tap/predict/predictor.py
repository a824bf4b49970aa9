"""TAPPredictor: features -> predicted lift, with conformal prediction intervals.

Models: gradient boosting (HistGradientBoostingRegressor, the default; handles NaN features) or a
standardized ridge (median-imputed) as the baseline. `families` keeps only the feature columns whose
cost tag is listed (when X is a DataFrame whose columns TAP knows; other arrays use every column).

Intervals at `level` (default 0.9); `interval="none"` fits the point model only (what an
evaluation that needs no intervals should use: CV+ fits `n_folds` extra models):
- "split": split conformal — fit on a random (1 − calibration_share) part, take the
  ⌈(n_cal + 1)·level⌉-th smallest absolute calibration residual q; interval ŷ ± q. Coverage
  ≥ level for a new exchangeable cohort. With fewer than level/(1 − level) calibration cohorts
  (9 at 0.9) that rank exceeds n_cal and the interval is unbounded (±inf), as the method says.
- "jackknife+": the K-fold CV+ of Barber et al. (2021) — fold models μ₋ₖ and out-of-fold residuals
  Rᵢ; the interval for x runs from the ⌊α(n + 1)⌋-th smallest of μ₋ₖ₍ᵢ₎(x) − Rᵢ to the
  ⌈(1 − α)(n + 1)⌉-th smallest of μ₋ₖ₍ᵢ₎(x) + Rᵢ, α = 1 − level; a rank below 1 or above n
  makes that side unbounded (−inf / +inf). Point predictions come from a model fit on all rows.
  The guarantee is weaker than split's: coverage ≥ 1 − 2α − min{2(1 − 1/K)/(n/K + 1),
  (1 − K/n)/(K + 1)} (their Theorem 4; 1 − 2α for the jackknife+), though in practice it is near
  1 − α. `guarantee()` returns the bound for the fitted n and K.
Both keep the signed held-out errors (label − held-out prediction) in `heldout_errors_`: what a
dataset-level interval needs to include the predictor's own error (api.predict.dataset_lift).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data


def _feature_tags() -> dict[str, str]:
    from tap.api import feature_catalog

    return {name: tag for name, tag, _ in feature_catalog()}


class TAPPredictor(RegressorMixin, BaseEstimator):
    """Predict a cohort's lift from its features (scikit-learn estimator contract)."""

    def __init__(self, model="gbm", families=("R", "F"), interval="jackknife+", level=0.9, n_folds=5,
                 calibration_share=0.25, alpha=1.0, max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                 min_samples_leaf=5, random_state=None):
        self.model = model
        self.families = families
        self.interval = interval
        self.level = level
        self.n_folds = n_folds
        self.calibration_share = calibration_share
        self.alpha = alpha
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def _base(self):
        if self.model == "gbm":
            return HistGradientBoostingRegressor(
                max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf, random_state=self.random_state,
            )
        if self.model == "ridge":
            return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), Ridge(alpha=self.alpha))
        raise ValueError(f"model must be 'gbm' or 'ridge', got {self.model!r}")

    def _fit_one(self, X, y):
        """A base model fit on (X, y). A column with no value in these rows (a fold of a small
        battery can have one) is set to 0 for this fit: scikit-learn's boosting cannot bin it."""
        empty = np.isnan(X).all(axis=0)
        if empty.any():
            X = X.copy()
            X[:, empty] = 0.0
        return clone(self._base()).fit(X, y)

    def _select(self, X):
        """Column indices to use: the chosen families among known feature names, else all."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return np.arange(self.n_features_in_)
        tags = _feature_tags()
        known = [i for i, n in enumerate(names) if n in tags]
        if not known:
            return np.arange(self.n_features_in_)
        return np.array([i for i in known if tags[names[i]] in set(self.families)], dtype=int)

    def fit(self, X, y):
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        if self.interval not in ("split", "jackknife+", "none"):
            raise ValueError(f"interval must be 'split', 'jackknife+' or 'none', got {self.interval!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level!r}")
        self.columns_ = self._select(X)
        if not len(self.columns_):
            raise ValueError(f"no feature of the families {self.families} in X")
        Xs = X[:, self.columns_]
        rng = np.random.RandomState(self.random_state if isinstance(self.random_state, int) else None)
        if self.interval == "none":
            self.estimator_ = self._fit_one(Xs, y)
        elif self.interval == "split":
            order = rng.permutation(len(y))
            n_cal = max(1, int(round(self.calibration_share * len(y))))
            cal, train = order[:n_cal], order[n_cal:] if len(y) > n_cal else order
            self.estimator_ = self._fit_one(Xs[train], y[train])
            self.heldout_errors_ = y[cal] - self.estimator_.predict(Xs[cal])
            residuals = np.sort(np.abs(self.heldout_errors_))
            rank = math.ceil((len(residuals) + 1) * self.level)
            self.quantile_ = float(residuals[rank - 1]) if rank <= len(residuals) else math.inf
        else:
            folds = KFold(n_splits=max(2, min(self.n_folds, len(y))), shuffle=True, random_state=rng.randint(2**31 - 1))
            self.fold_models_, self.fold_of_ = [], np.zeros(len(y), dtype=int)
            self.heldout_errors_ = np.zeros(len(y))
            for k, (train, test) in enumerate(folds.split(Xs)):
                model = self._fit_one(Xs[train], y[train])
                self.fold_models_.append(model)
                self.fold_of_[test] = k
                self.heldout_errors_[test] = y[test] - model.predict(Xs[test])
            self.residuals_ = np.abs(self.heldout_errors_)
            self.estimator_ = self._fit_one(Xs, y)
        self.n_iter_ = int(getattr(self.estimator_, "n_iter_", 1))  # boosting iterations (1 for ridge)
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self.estimator_.predict(X[:, self.columns_])

    def predict_interval(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends of the conformal interval at `level` for each row."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")[:, self.columns_]
        if self.interval == "none":
            raise ValueError("this predictor was fit with interval='none': refit with 'split' or 'jackknife+' for intervals")
        if self.interval == "split":
            center = self.estimator_.predict(X)
            return center - self.quantile_, center + self.quantile_
        fold_preds = np.stack([m.predict(X) for m in self.fold_models_])  # (K, m)
        per_row = fold_preds[self.fold_of_]  # (n, m): μ₋ₖ₍ᵢ₎(x)
        low_rank, high_rank = self._ranks()
        n = len(self.residuals_)
        lower = np.sort(per_row - self.residuals_[:, None], axis=0)[low_rank - 1] if low_rank >= 1 else np.full(len(X), -np.inf)
        upper = np.sort(per_row + self.residuals_[:, None], axis=0)[high_rank - 1] if high_rank <= n else np.full(len(X), np.inf)
        return lower, upper

    def _ranks(self) -> tuple[int, int]:
        """CV+'s order-statistic ranks ⌊α(n + 1)⌋ and ⌈(1 − α)(n + 1)⌉ (1-based; outside 1..n = unbounded)."""
        n, a = len(self.residuals_), 1 - self.level
        return math.floor(a * (n + 1) + 1e-9), math.ceil((1 - a) * (n + 1) - 1e-9)

    def bounded(self) -> bool:
        """Whether intervals at `level` have two finite ends with this many calibration points."""
        check_is_fitted(self)
        if self.interval == "split":
            return math.isfinite(self.quantile_)
        if self.interval == "jackknife+":
            low, high = self._ranks()
            return low >= 1 and high <= len(self.residuals_)
        return False

    def guarantee(self) -> float | None:
        """The coverage the method guarantees for a new exchangeable cohort: `level` for split
        conformal, 1 − 2α − min{2(1 − 1/K)/(n/K + 1), (1 − K/n)/(K + 1)} for K-fold CV+."""
        check_is_fitted(self)
        if self.interval == "split":
            return self.level
        if self.interval != "jackknife+":
            return None
        n, k, a = len(self.residuals_), len(self.fold_models_), 1 - self.level
        return max(0.0, 1 - 2 * a - min(2 * (1 - 1 / k) / (n / k + 1), (1 - k / n) / (k + 1)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
