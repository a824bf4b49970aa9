"""Small statistics shared by the predictor (TAP auto's inner selection) and the evaluation: rank
correlation, its mean within folds, and grouped folds. Pure numpy; nothing here imports TAP."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(np.clip((a @ b) / np.sqrt((a @ a) * (b @ b)), -1.0, 1.0))


def spearman(pred: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of ŷ and y: Pearson of the average ranks (NaN when either is constant)."""
    pred, y = np.asarray(pred, float), np.asarray(y, float)
    if len(y) < 2 or np.ptp(pred) == 0 or np.ptp(y) == 0:
        return float("nan")
    return _corr(rankdata(pred), rankdata(y))


def fold_mean(metric: Callable, pred: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Mean over folds of metric(pred, y) within each fold (NaN folds skipped): how the grouped
    K-fold protocol and TAP auto's inner selection score predictions. Within a fold one model made
    every prediction, so the training mean's pull against the held-out labels — which biases ρ
    pooled over folds, and LOCO's, below 0 for a useless model — cannot enter."""
    pred, y, folds = np.asarray(pred, float), np.asarray(y, float), np.asarray(folds)
    return finite_mean([metric(pred[folds == k], y[folds == k]) for k in np.unique(folds)])


def finite_mean(values: list[float]) -> float:
    """Mean of the finite values; NaN (quietly) when there are none."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def group_folds(groups: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
    """Fold number of each row: groups shuffled, then each put in the fold with the fewest rows so
    far (largest groups first), so that no group is split and folds are near equal in size."""
    labels, sizes = np.unique(groups, return_counts=True)
    order = rng.permutation(len(labels))
    order = order[np.argsort(-sizes[order], kind="stable")]
    load, fold_of_group = np.zeros(k), {}
    for g in order:
        f = int(np.argmin(load))
        fold_of_group[labels[g]] = f
        load[f] += sizes[g]
    return np.array([fold_of_group[g] for g in groups], dtype=int)


def pearson(pred: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of ŷ and y (NaN when either is constant)."""
    pred, y = np.asarray(pred, float), np.asarray(y, float)
    if len(y) < 2 or np.ptp(pred) == 0 or np.ptp(y) == 0:
        return float("nan")
    return _corr(pred, y)


def seed_pair_correlations(y_cs: np.ndarray, method: str = "spearman", min_cohorts: int = 3) -> list[float]:
    """For every pair of seeds, the correlation of their lifts across the cohorts that have both
    (y_cs: cohorts x seeds, NaN where a run is missing); NaN for a pair with fewer than
    `min_cohorts` such cohorts or a seed whose lifts do not vary."""
    y_cs = np.asarray(y_cs, float)
    corr = spearman if method == "spearman" else pearson
    out = []
    for a in range(y_cs.shape[1]):
        for b in range(a + 1, y_cs.shape[1]):
            both = np.isfinite(y_cs[:, a]) & np.isfinite(y_cs[:, b])
            out.append(corr(y_cs[both, a], y_cs[both, b]) if both.sum() >= min_cohorts else float("nan"))
    return out


def seed_reliability(y_cs: np.ndarray, method: str = "spearman") -> float:
    """Single-seed reliability r1: the mean over pairs of seeds of their correlation across cohorts
    (seed_pair_correlations; pairs where it is undefined are left out: seed_pair_correlations counts them)."""
    return finite_mean(seed_pair_correlations(y_cs, method))
