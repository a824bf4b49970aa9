"""Metric functions, pure and numpy-only in their inputs (DESIGN.md, "Measuring honestly").

Notation: cohorts c, seeds s, single-seed lifts y[c, s], label y[c] = mean over seeds, prediction ŷ[c].
"""

from __future__ import annotations


import numpy as np

from tap.stats import _corr, bootstrap, finite_mean, fold_mean, pearson, percentile_interval, seed_reliability, spearman  # noqa: F401  (shared)


def pairwise_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Over pairs (c, c') with y[c] ≠ y[c'], the share that ŷ orders the same way; a tie in ŷ
    counts one half. NaN when every y is equal."""
    pred, y = np.asarray(pred, float), np.asarray(y, float)
    i, j = np.triu_indices(len(y), 1)
    dy, dp = np.sign(y[i] - y[j]), np.sign(pred[i] - pred[j])
    keep = dy != 0
    if not keep.any():
        return float("nan")
    score = np.where(dp[keep] == 0, 0.5, (dp[keep] == dy[keep]).astype(float))
    return float(score.mean())


def top_q_mask(scores: np.ndarray, q: float) -> np.ndarray:
    """The top q share of cohorts by score (at least one); ties broken by position, stably."""
    n = len(scores)
    k = max(1, int(round(q * n)))
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    mask = np.zeros(n, bool)
    mask[order[:k]] = True
    return mask


def selection_on_seed(scores: np.ndarray, y_seed: np.ndarray, q: float = 0.1) -> dict:
    """Score the top-q selection by one held-out seed's lifts y[·, h].

    Returns the selection's mean lift, random's (the mean over all cohorts), the in-sample oracle's
    (top q by y[·, h] itself), the gain over random, the relative gain (gain / |random|) and the
    fraction of the oracle's gain captured ((sel − random) / (oracle − random))."""
    y_seed = np.asarray(y_seed, float)
    selected = float(y_seed[top_q_mask(scores, q)].mean())
    random = float(y_seed.mean())
    oracle = float(y_seed[top_q_mask(y_seed, q)].mean())
    gain = selected - random
    return {
        "selected": selected, "random": random, "oracle": oracle, "gain": gain,
        "relative_gain": gain / abs(random) if random else float("nan"),
        "fraction_of_oracle": gain / (oracle - random) if oracle != random else float("nan"),
    }


def spearman_brown(r1: float, seeds: int) -> float:
    """Reliability of an S-seed mean: R_S = S·r1 / (1 + (S − 1)·r1)."""
    return seeds * r1 / (1 + (seeds - 1) * r1)


def noise_ceiling(r1: float, seeds: int) -> float:
    """The best correlation any predictor can reach with S-seed labels: √R_S (0 when R_S ≤ 0)."""
    return float(np.sqrt(max(0.0, spearman_brown(r1, seeds))))


def ceiling_projection(r1: float, max_seeds: int = 10) -> dict[int, float]:
    """√R_S for S = 1 .. max_seeds."""
    return {s: noise_ceiling(r1, s) for s in range(1, max_seeds + 1)}
