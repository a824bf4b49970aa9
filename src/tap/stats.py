"""Small statistics shared by the predictor (TAP auto's inner selection), the evaluation and every
report of an interval: rank correlation, its mean within folds, grouped folds, seed reliability and
the bootstrap (over rows, or over groups of rows that are not independent). Pure numpy; nothing here
imports TAP."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(np.clip((a @ b) / np.sqrt((a @ a) * (b @ b)), -1.0, 1.0))


def spearman(pred: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of ŷ and y: Pearson of the average ranks (NaN when either is constant)."""
    pred, y = np.asarray(pred, float), np.asarray(y, float)
    if len(y) < 2 or np.ptp(pred) == 0 or np.ptp(y) == 0:
        return float("nan")
    return _corr(average_ranks(pred), average_ranks(y))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank: scipy's rankdata(method="average") to the
    bit (half-integers are exact), NaN everywhere when x has a NaN, at a tenth of its cost on the
    short vectors the bootstrap ranks thousands of times."""
    x = np.asarray(x, float)
    if np.isnan(x).any():
        return np.full(len(x), np.nan)
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    bounds = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1], [True])))  # tie-group starts, then n
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((bounds[:-1] + bounds[1:] - 1) / 2.0 + 1.0, np.diff(bounds))
    return ranks


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half (Mann–Whitney U / n₊n₋);
    NaN without both classes."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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


# --- Bootstrap intervals: one helper for every interval TAP reports --------------------------------


def resample_indices(n: int, resamples: int, seed: int | np.random.Generator) -> list[np.ndarray]:
    """`resamples` draws of range(n) with replacement, from `default_rng(seed)` (or from a generator
    the caller goes on drawing from). Statistics that must be paired (every scorer in one
    evaluation, every arm in one choice summary) index the same draws."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return [rng.integers(0, n, n) for _ in range(resamples)]


def resample_groups(groups, resamples: int, seed: int | np.random.Generator) -> list[np.ndarray]:
    """`resamples` bootstrap draws of the rows of `groups` (each row's group label) that resample
    whole groups: as many groups as there are, drawn with replacement, each expanded to all of its
    rows (in row order). Rows of one group — cohorts that share a pool item — are not independent;
    drawing them together keeps an interval as wide as the data. Draws differ in size. With every row
    a group of its own (labels 0..n−1 in row order) this is `resample_indices(n, ...)` draw for draw."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(inverse.max() + 2 if len(inverse) else 1))
    members = [order[starts[g]:starts[g + 1]] for g in range(len(starts) - 1)]
    draws = []
    for _ in range(resamples):
        picked = rng.integers(0, len(members), len(members))
        draws.append(np.concatenate([members[g] for g in picked]) if len(members) else np.zeros(0, int))
    return draws


def percentile_interval(value: float, samples, level: float = 0.95, key: str = "value") -> dict:
    """`{key: value, "lo", "hi"}`: the percentile interval of the bootstrap `samples`. Resamples on
    which the statistic is undefined (NaN or None) are left out and counted: `"undefined": k` is
    added when k > 0, and both ends are NaN when every resample is undefined."""
    values = np.array([np.nan if s is None else s for s in samples], float)
    finite = values[np.isfinite(values)]
    alpha = round((1 - level) / 2, 12)  # 0.025 exactly, not 0.025000000000000022
    lo, hi = (
        (float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha)))
        if len(finite)
        else (math.nan, math.nan)
    )
    out = {key: float(value), "lo": lo, "hi": hi}
    if len(finite) < len(values):
        out["undefined"] = int(len(values) - len(finite))
    return out


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, *, resamples: int = 1000, seed: int = 0,
              level: float = 0.95, groups=None) -> dict:
    """`statistic` (a function of an index array into n rows) on all rows, with its percentile
    bootstrap interval (`percentile_interval`, so undefined resamples are counted) over rows, or over
    `groups` (each row's group label: `resample_groups`) when given."""
    if groups is not None and len(groups) != n:
        raise ValueError(f"{len(groups)} group labels for {n} rows")
    draws = resample_indices(n, resamples, seed) if groups is None else resample_groups(groups, resamples, seed)
    return percentile_interval(statistic(np.arange(n)), [statistic(idx) for idx in draws], level)


def t_interval(values, level: float = 0.95) -> dict:
    """Mean with its Student-t interval (for a handful of independent runs, e.g. loop seeds, where a
    bootstrap over so few values would be too narrow); `lo`/`hi` are None below 2 values."""
    from scipy import stats

    values = np.asarray(values, float)
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "lo": None, "hi": None, "n": int(len(values))}
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": int(len(values))}
