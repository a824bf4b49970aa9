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
    from sklearn.inspection import permutation_importance
    from threadpoolctl import threadpool_limits

    from tap.evaluate.protocols import fit_model, predict_model
    from tap.stats import group_folds

    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    fold_of = group_folds(groups, folds, np.random.RandomState(seed))
    drops = []
    with threadpool_limits(1):
        for k in range(folds):
            train, test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
            if not len(test) or not len(train):
                continue
            held = None if subjects is None else np.asarray(subjects)[test]

            def rho(estimator, X_, y_, held=held):  # rows keep their order under permutation: subjects stay aligned
                return M.spearman(predict_model(estimator, X_, held), y_)

            model = fit_model(
                make_estimator(),
                X.iloc[train],
                y[train],
                None,
                None if subjects is None else np.asarray(subjects)[train],
            )
            result = permutation_importance(
                model, X.iloc[test], y[test], scoring=rho, n_repeats=repeats, random_state=seed
            )
            drops.append(result.importances)  # (columns, repeats)
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
