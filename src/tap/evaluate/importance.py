"""Which features the configured predictor leans on: permutation importance on held-out folds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tap.evaluate import metrics as M


def permutation_importances(
    make_estimator: Callable, X: pd.DataFrame, y: np.ndarray, *, folds: int = 5, repeats: int = 20, seed: int = 0,
    subjects: np.ndarray | None = None, groups: np.ndarray | None = None,
) -> pd.DataFrame:
    """Permutation importance on held-out folds: for each grouped K-fold split (the headline's folds:
    cohorts of one item group stay on one side, `tap.stats.group_folds`; default: each cohort its
    own group), fit on the training part and measure how much shuffling one column of the held-out
    part lowers Spearman ρ(ŷ, y) there.
    Returns one row per column: mean and std of the drop over folds x repeats where ρ is defined,
    and `undefined`, how many drops were not (a fold whose predictions do not vary has no ρ: it is
    counted, never scored 0)."""
    from threadpoolctl import threadpool_limits

    from tap.evaluate.protocols import fit_model
    from tap.stats import group_folds

    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    fold_of = group_folds(groups, folds, np.random.RandomState(seed))
    drops = []
    with threadpool_limits(1):
        for k in range(folds):
            train, test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
            if not len(test) or not len(train):
                continue
            model = fit_model(
                make_estimator(),
                X.iloc[train],
                y[train],
                None,
                None if subjects is None else np.asarray(subjects)[train],
            )
            held = None if subjects is None else np.asarray(subjects)[test]
            drops.append(_permutation_drops(model, X.iloc[test], y[test], held, repeats, seed))
    stacked = np.concatenate(drops, axis=1)
    defined = np.isfinite(stacked)
    count = defined.sum(axis=1)
    mean = np.where(count > 0, np.where(defined, stacked, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)
    std = np.array([row[ok].std() if ok.any() else np.nan for row, ok in zip(stacked, defined)])
    return (
        pd.DataFrame({"feature": list(X.columns), "importance": mean, "std": std, "undefined": (~defined).sum(axis=1)})
        .sort_values("importance", ascending=False, kind="stable", na_position="last")
        .reset_index(drop=True)
    )


def _permutation_drops(model, X: pd.DataFrame, y: np.ndarray, subjects, repeats: int, seed: int) -> np.ndarray:
    """(columns, repeats) drops in ρ when one column of X is shuffled: scikit-learn's
    `permutation_importance(model, X, y, scoring=ρ, n_repeats=repeats, random_state=seed)` to the bit
    (its shuffles: one seed drawn from `seed`, each column's repeats shuffling cumulatively from it), with
    every permuted copy predicted in one call. Falls back to scikit-learn's loop when the model's
    prediction of a row depends on the other rows it is predicted with."""
    from tap.evaluate.protocols import predict_model

    def rho(pred: np.ndarray) -> float:
        return M.spearman(pred, y)

    n, columns = len(y), X.to_numpy(dtype=float, copy=True)
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    blocks = []
    for c in range(columns.shape[1]):
        rng, order, permuted = np.random.RandomState(column_seed), np.arange(n), columns.copy()
        for _ in range(repeats):
            rng.shuffle(order)
            permuted[:, c] = permuted[order, c]
            blocks.append(permuted.copy())
    stacked = pd.DataFrame(np.concatenate([columns, *blocks]), columns=X.columns)
    tiled = None if subjects is None else np.tile(np.asarray(subjects), len(blocks) + 1)
    pred = np.asarray(predict_model(model, stacked, tiled), float)
    alone = np.asarray(predict_model(model, X, subjects), float)
    if not np.allclose(pred[:n], alone, rtol=1e-9, atol=1e-12, equal_nan=True):  # rows are not independent
        from sklearn.inspection import permutation_importance

        def score(estimator, X_, y_):
            return M.spearman(predict_model(estimator, X_, subjects), y_)

        return permutation_importance(model, X, y, scoring=score, n_repeats=repeats, random_state=seed).importances
    base = rho(alone)
    scores = np.array([rho(pred[(b + 1) * n:(b + 2) * n]) for b in range(len(blocks))])
    return base - scores.reshape(columns.shape[1], repeats)
