"""TAPPredictor: features -> predicted lift, with conformal prediction intervals.

Models: gradient boosting (HistGradientBoostingRegressor; handles NaN features), a standardized
ridge (median-imputed), a Bayesian ridge on the same standardized features ("bayes": its penalty set by
the labels' evidence, scikit-learn's BayesianRidge), an RBF kernel ridge, or "auto": model,
feature families and regularization chosen by grouped inner cross-validation on the training rows
alone (`tap.predict.auto.AUTO_SPACE`; the choice is kept in `choice_` and its inner scores in `inner_scores_`).
`families` keeps only the feature columns whose cost tag is listed (when X is a DataFrame whose
columns TAP knows; other arrays use every column); "auto" also tries each shorter family prefix.
`scaling="subject"` standardizes every feature within each cohort's subject (training statistics;
an unseen subject gets the global ones) and adds one offset per subject: shared slopes, subject
intercepts. It needs `subjects` in fit and predict.

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
dataset-level interval needs to include the predictor's own error (api.scoring.dataset_lift).

`gate="nondegenerate"` (or the gate column's index, for X without column names) builds in what GRPO's
objective says: with β = 0 a group whose rewards all agree has zero advantage and gives no gradient, so
a cohort none of whose rollout groups disagreed (`frac_nondegenerate` = 0) has no learning signal the
features can see. The base model is fit on the cohorts that had one; a cohort without predicts the mean
label of the training cohorts without one, shrunk toward 0 as if one more of them had lift 0 (`GatedModel`).
The gate is part of the model, so CV+ and split conformal calibrate it like any other and their guarantees
hold.

`prior="head_align_dot"` (a feature name, or its column index) starts from a label-free score: every base
model is fit to the labels' departures from the standardized prior and adds them back (`ShrunkToPrior`; a
ridge is then a ridge whose prior mean weighs the prior 1 and the rest 0), model "prior" is the prior alone,
and with no labelled row at all the prediction is the prior's own ranking. "auto" with a prior also tries the
prior alone and ridges shrunk toward it. Auto keeps the first candidate, in its order of preference (the
prior alone, ridges shrunk toward the prior, then `AUTO_SPACE`'s from the fewest families and the strongest
penalty on), whose inner score is within one standard error (over the inner folds) of the best.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import BayesianRidge, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from tap.predict.auto import FAMILY_ORDER, candidates, choose
from tap.predict.gate import GATE_COLUMN, GatedModel, has_learning_signal
from tap.predict.scaling import subject_scale, subject_stats
from tap.predict.shrink import ShrunkToPrior


def _feature_tags() -> dict[str, str]:
    from tap.features.catalog import feature_tags

    return feature_tags()


class TAPPredictor(RegressorMixin, BaseEstimator):
    """Predict a cohort's lift from its features (scikit-learn estimator contract)."""

    gate = "none"  # what a predictor saved before the gate existed loads with
    gate_ = None
    prior = "none"  # ... and before the prior existed
    prior_ = None

    def __init__(self, model="gbm", families=("R", "F"), interval="jackknife+", level=0.9, n_folds=5,
                 calibration_share=0.25, alpha=1.0, max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                 min_samples_leaf=5, random_state=None, scaling="global", inner_folds=5, gate="none", prior="none"):
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
        self.scaling = scaling
        self.inner_folds = inner_folds
        self.gate = gate
        self.prior = prior

    def _params(self) -> dict:
        """The model, scaling and model parameters in force (auto's choice once fitted)."""
        if self.model == "auto":
            return dict(self.choice_)
        return {"model": self.model, "scaling": self.scaling, "alpha": self.alpha, "max_iter": self.max_iter,
                "learning_rate": self.learning_rate, "max_leaf_nodes": self.max_leaf_nodes,
                "min_samples_leaf": self.min_samples_leaf, "l2_regularization": 0.0}

    def _base(self, params: dict | None = None):
        p = params or self._params()
        if p["model"] == "prior":
            return None
        if p["model"] == "gbm":
            return HistGradientBoostingRegressor(
                max_iter=p["max_iter"], learning_rate=p["learning_rate"], max_leaf_nodes=p["max_leaf_nodes"],
                min_samples_leaf=p["min_samples_leaf"], l2_regularization=p.get("l2_regularization", 0.0),
                random_state=self.random_state,
            )
        scale = [SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()]
        if p["model"] == "ridge":
            return make_pipeline(*scale, Ridge(alpha=p["alpha"]))
        if p["model"] == "bayes":  # the penalty set by the labels' own evidence (empirical Bayes), no inner CV
            return make_pipeline(*scale, BayesianRidge())
        if p["model"] == "kernel":
            return make_pipeline(*scale, KernelRidge(alpha=p["alpha"], kernel="rbf"))  # γ = 1 / features
        raise ValueError(f"model must be 'gbm', 'ridge', 'bayes', 'kernel', 'prior' or 'auto', got {p['model']!r}")

    def _fit_one(self, X, y, params: dict | None = None):
        """A base model fit on (X, y): shrunk toward the prior when `params` use it (the prior is then X's
        column after the features), gated when the gate is on (X's last column is then the gate).
        A column with no value in these rows (a fold of a small battery can have one) is set to 0 for
        this fit: scikit-learn's boosting cannot bin it."""
        params = params or self._params()
        empty = np.isnan(X).all(axis=0)
        if self._uses_prior(params):
            empty[-1 - (self.gate_ is not None)] = False  # the prior: NaN means "unknown", read as its mean
        if empty.any():
            X = X.copy()
            X[:, empty] = 0.0
        base = self._base(params)
        model = ShrunkToPrior(None if base is None else clone(base)) if self._uses_prior(params) else clone(base)
        return (GatedModel(model) if self.gate_ is not None else model).fit(X, y)

    def _uses_prior(self, params: dict) -> bool:
        return self.prior_ is not None and params.get("prior", True)

    def _open(self, X: np.ndarray) -> np.ndarray | None:
        """The gate of each row (1.0: a learning signal, or unknown), or None when the gate is off."""
        if self.gate_ is None:
            return None
        return has_learning_signal(X[:, self.gate_]).astype(float)

    def _given_index(self, value, what: str) -> int | None:
        """`value` as a column index of X when it is one (checked against X's width), else None."""
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            return None
        if not 0 <= value < self.n_features_in_:
            raise ValueError(f"{what} column {value} is outside X's {self.n_features_in_} columns")
        return int(value)

    def _prior_index(self) -> int | None:
        """The prior's column in X: `prior` itself when it is an index, else the place of that feature name
        among the names X was fit with; None when there is no prior."""
        if (index := self._given_index(self.prior, "prior")) is not None:
            return index
        if self.prior == "none":
            return None
        names = list(getattr(self, "feature_names_in_", ()))
        if self.prior not in names:
            raise ValueError(f"prior {self.prior!r} is not a column of X (a label-free score such as head_align_dot)")
        return names.index(self.prior)

    def _gate_index(self) -> int | None:
        """The gate's column in X: `gate` itself when it is an index (X without column names, as the
        evaluation passes it), else frac_nondegenerate's place among the names X was fit with; None
        when the gate is off or X has no such column."""
        if (index := self._given_index(self.gate, "gate")) is not None:
            return index
        if self.gate == "none":
            return None
        if self.gate != "nondegenerate":
            raise ValueError(f"gate must be 'nondegenerate', 'none' or a column index, got {self.gate!r}")
        names = list(getattr(self, "feature_names_in_", ()))
        return names.index(GATE_COLUMN) if GATE_COLUMN in names else None

    def _family_columns(self, families) -> np.ndarray:
        """Column indices of the given families among known feature names, else every column."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return np.arange(self.n_features_in_)
        tags = _feature_tags()
        known = [i for i, n in enumerate(names) if n in tags]
        if not known:
            return np.arange(self.n_features_in_)
        return np.array([i for i in known if tags[names[i]] in set(families)], dtype=int)

    def _select(self, X):
        return self._family_columns(self.families)

    # --- within-subject standardization (tap.predict.scaling) ----------------------------------
    def _prepare(self, X: np.ndarray, subjects, params: dict, stats: dict | None = None, open_=None, prior=None):
        """(matrix the base model sees, scaling statistics) for columns already selected; the prior's raw
        values follow (`prior`, one per row, when `params` use it), then the gate (`open_`, when on)."""
        if params["scaling"] == "subject":
            stats = (
                stats
                if stats is not None
                else subject_stats(X, None if subjects is None else np.asarray(subjects).astype(str))
            )
            X = subject_scale(X, subjects, stats)
        else:
            stats = None
        extra = [v for v in (prior if self._uses_prior(params) else None, open_) if v is not None]
        return (np.column_stack([X, *extra]) if extra else X), stats

    def _prior_values(self, X: np.ndarray) -> np.ndarray | None:
        return None if self.prior_ is None else X[:, self.prior_]

    # --- auto (tap.predict.auto) --------------------------------------------------------------
    def _candidates(self, subjects) -> list[dict]:
        return candidates(self.families, subjects, with_prior=self.prior_ is not None)

    def _choose(self, X, y, groups, subjects, rng) -> None:
        choose(self, X, y, groups, subjects, rng)

    # --- fit / predict ------------------------------------------------------------------------
    def fit(self, X, y, groups=None, subjects=None):
        """Fit on (X, y). `groups` (rows sharing pool items share a group) keeps auto's inner folds
        apart; `subjects` (each row's subject) is needed by scaling="subject" and lets auto try it.
        Runs single-threaded: on a few hundred rows, BLAS and OpenMP threads only cost time."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self._fit(X, y, groups, subjects)

    def _fit(self, X, y, groups, subjects):
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True,
                             ensure_min_samples=0 if self.prior != "none" else 1)
        self.prior_ = self._prior_index()
        if self.prior_ is None and self.model == "prior":
            raise ValueError("model 'prior' needs a prior: a label-free score column such as prior='head_align_dot'")
        if self.interval not in ("split", "jackknife+", "none"):
            raise ValueError(f"interval must be 'split', 'jackknife+' or 'none', got {self.interval!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level!r}")
        if self.scaling not in ("global", "subject"):
            raise ValueError(f"scaling must be 'global' or 'subject', got {self.scaling!r}")
        rng = np.random.RandomState(self.random_state if isinstance(self.random_state, int) else None)
        self.gate_ = self._gate_index()
        if self.model == "auto":
            self._choose(X, y, groups, subjects, rng)
            self.columns_ = self._family_columns(self.choice_["families"])
        else:
            self._base()  # a bad model name fails here, before any fit
            self.columns_ = self._select(X)
        if not len(self.columns_):
            raise ValueError(f"no feature of the families {self.families} in X")
        params = self._params()
        Xs, self.scaling_ = self._prepare(X[:, self.columns_], subjects, params, None, self._open(X),
                                          self._prior_values(X))
        if self.interval == "none":
            self.estimator_ = self._fit_one(Xs, y, params)
        elif len(y) < 2:  # a prior with fewer than 2 labels: nothing to calibrate, so the interval is unbounded
            self.estimator_ = self._fit_one(Xs, y, params)
            self.heldout_errors_, self.residuals_, self.fold_models_ = np.zeros(0), np.zeros(0), []
            self.fold_of_, self.quantile_ = np.zeros(0, dtype=int), math.inf
        elif self.interval == "split":
            order = rng.permutation(len(y))
            n_cal = max(1, int(round(self.calibration_share * len(y))))
            cal, train = order[:n_cal], order[n_cal:] if len(y) > n_cal else order
            self.estimator_ = self._fit_one(Xs[train], y[train], params)
            self.heldout_errors_ = y[cal] - self.estimator_.predict(Xs[cal])
            residuals = np.sort(np.abs(self.heldout_errors_))
            rank = math.ceil((len(residuals) + 1) * self.level)
            self.quantile_ = float(residuals[rank - 1]) if rank <= len(residuals) else math.inf
        else:
            folds = KFold(n_splits=max(2, min(self.n_folds, len(y))), shuffle=True, random_state=rng.randint(2**31 - 1))
            self.fold_models_, self.fold_of_ = [], np.zeros(len(y), dtype=int)
            self.heldout_errors_ = np.zeros(len(y))
            for k, (train, test) in enumerate(folds.split(Xs)):
                model = self._fit_one(Xs[train], y[train], params)
                self.fold_models_.append(model)
                self.fold_of_[test] = k
                self.heldout_errors_[test] = y[test] - model.predict(Xs[test])
            self.residuals_ = np.abs(self.heldout_errors_)
            self.estimator_ = self._fit_one(Xs, y, params)
        self.n_iter_ = int(getattr(self.estimator_, "n_iter_", 1))  # boosting iterations (1 for ridge)
        return self

    def _matrix(self, X, subjects):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        open_, prior = self._open(X), self._prior_values(X)
        X = X[:, self.columns_]
        params = self._params()
        if self.scaling_ is not None:
            return self._prepare(X, subjects, params, self.scaling_, open_, prior)[0]
        return self._prepare(X, None, {**params, "scaling": "global"}, None, open_, prior)[0]

    def predict(self, X, subjects=None):
        X = self._matrix(X, subjects)
        return self.estimator_.predict(X)

    def describe(self) -> str:
        """One line: the model in force, its families and scaling (auto: what it chose)."""
        check_is_fitted(self)
        p = self._params()
        fams = "+".join(p["families"] if self.model == "auto" else [f for f in FAMILY_ORDER if f in set(self.families)])
        gate = f", gated on {GATE_COLUMN} > 0" if self.gate_ is not None else ""
        auto = "auto → " if self.model == "auto" else ""
        if p["model"] == "prior":
            return f"{auto}the prior {self.prior_name()} alone (standardized; no label moves its ranking{gate})"
        shrunk = f", shrunk toward the prior {self.prior_name()}" if self._uses_prior(p) else ""
        knob = (
            f"alpha {p['alpha']:g}"
            if p["model"] in ("ridge", "kernel")
            else "penalty from the evidence" if p["model"] == "bayes"
            else f"{p['max_iter']} trees of {p['max_leaf_nodes']} leaves"
        )
        scale = ", standardized within subject + subject offsets" if p["scaling"] == "subject" else ""
        return f"{auto}{p['model']} ({knob}{scale}{shrunk}{gate}) on {fams}"

    def prior_name(self) -> str | None:
        """The prior's feature name (or "column i" for X without names); None without a prior."""
        if self.prior_ is None:
            return None
        names = getattr(self, "feature_names_in_", None)
        return str(names[self.prior_]) if names is not None else f"column {self.prior_}"

    def predict_interval(self, X, subjects=None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends of the conformal interval at `level` for each row."""
        X = self._matrix(X, subjects)
        if self.interval == "none":
            raise ValueError(
                "this predictor was fit with interval='none': refit with 'split' or 'jackknife+' for intervals"
            )
        if self.interval == "split":
            center = self.estimator_.predict(X)
            return center - self.quantile_, center + self.quantile_
        if not self.fold_models_:
            return np.full(len(X), -np.inf), np.full(len(X), np.inf)
        fold_preds = np.stack([m.predict(X) for m in self.fold_models_])  # (K, m)
        per_row = fold_preds[self.fold_of_]  # (n, m): μ₋ₖ₍ᵢ₎(x)
        low_rank, high_rank = self._ranks()
        n = len(self.residuals_)
        lower = (
            np.sort(per_row - self.residuals_[:, None], axis=0)[low_rank - 1]
            if low_rank >= 1
            else np.full(len(X), -np.inf)
        )
        upper = (
            np.sort(per_row + self.residuals_[:, None], axis=0)[high_rank - 1]
            if high_rank <= n
            else np.full(len(X), np.inf)
        )
        return lower, upper

    def probability_below(self, X, threshold: float = 0.0, subjects=None) -> np.ndarray:
        """P(lift < threshold) for each row, read off the conformal predictive distribution the
        intervals come from: the held-out values v_i = μ(x) + e_i (split: the calibration errors around
        the point model; CV+: μ₋ₖ₍ᵢ₎(x) + e_i with each cohort's signed out-of-fold error) give
        (#{v_i < threshold} + ½) / (n + 1) — a split conformal predictive system's value with its
        random tie-break at its mean (Vovk et al. 2019), so never exactly 0 or 1. The probability
        that a cohort is harmful is `probability_below(X, 0)`."""
        X = self._matrix(X, subjects)
        if self.interval == "none":
            raise ValueError(
                "this predictor was fit with interval='none': refit with 'split' or 'jackknife+' for probabilities"
            )
        if not len(self.heldout_errors_):
            return np.full(len(X), 0.5)
        if self.interval == "split":
            values = self.estimator_.predict(X)[None, :] + self.heldout_errors_[:, None]  # (n_cal, m)
        else:
            fold_preds = np.stack([m.predict(X) for m in self.fold_models_])  # (K, m)
            values = fold_preds[self.fold_of_] + self.heldout_errors_[:, None]  # (n, m)
        return ((values < threshold).sum(axis=0) + 0.5) / (len(values) + 1)

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
        if not k:
            return 0.0
        return max(0.0, 1 - 2 * a - min(2 * (1 - 1 / k) / (n / k + 1), (1 - k / n) / (k + 1)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
