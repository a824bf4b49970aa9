"""Evaluation protocols: who is trained on what, so that nothing held out leaks in.

- Grouped K-fold, repeated (the headline): cohorts that share any pool item form one group
  (`item_groups`); each repeat splits the groups into K folds, fits on K − 1 and predicts the
  held-out fold. Metrics are taken within each fold and averaged (metrics.fold_mean), then over
  repeats; intervals bootstrap cohorts and draw a repeat per resample, so they include refit variance.
- LOCO: for each cohort, fit on every other cohort, predict it.
- LODO: for each subject, fit on the cohorts that hold none of its items, predict the cohorts of
  that subject. A mixed cohort (items of several subjects) is never predicted and is left out of
  training whenever it holds items of the held-out subject.
- Held-out-seed selection: for each seed h, the labels used to rank (the predictor's training
  targets, or the "measured lift" selector) are means over the other seeds only; the top q% are then
  scored by y[·, h] alone. Predictor scores are LOCO predictions trained on those other-seed labels.
`make_estimator` returns a fresh unfitted estimator each call (fit / predict; predict_interval
optional). Estimators that take `groups` / `subjects` in fit (and `subjects` in predict) get them:
the training rows' groups (for an inner selection) and each row's subject.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

import numpy as np

from tap.stats import group_folds  # noqa: F401  (the predictor's inner folds use it too)



def item_groups(cohort_ids: Iterable, items: dict) -> np.ndarray:
    """Group number of each cohort: connected components of "shares a pool item" (`items` maps a
    cohort id to its item ids; a cohort with none listed is a group of its own)."""
    ids = list(cohort_ids)
    parent = list(range(len(ids)))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict = {}
    for i, cid in enumerate(ids):
        for item in items.get(cid, ()):
            if item in owner:
                parent[root(i)] = root(owner[item])
            else:
                owner[item] = i
    first: dict[int, int] = {}  # groups numbered by their first cohort: the same for any order of the items
    return np.array([first.setdefault(root(i), len(first)) for i in range(len(ids))])


def _takes(method, name: str) -> bool:
    return name in inspect.signature(method).parameters


def fit_model(model, X, y, groups=None, subjects=None):
    """model.fit(X, y), passing groups / subjects when its fit takes them."""
    kwargs = {}
    if groups is not None and _takes(model.fit, "groups"):
        kwargs["groups"] = groups
    if subjects is not None and _takes(model.fit, "subjects"):
        kwargs["subjects"] = subjects
    return model.fit(X, y, **kwargs)


def predict_model(model, X, subjects=None, method: str = "predict"):
    """model.predict (or predict_interval) on X, passing subjects when it takes them."""
    call = getattr(model, method)
    return call(X, subjects=subjects) if subjects is not None and _takes(call, "subjects") else call(X)


def _slice(a, rows):
    return None if a is None else np.asarray(a)[rows]


def kfold(
    make_estimator: Callable, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, subjects=None, *,
    folds: int = 5, repeats: int = 10, seed: int = 0, intervals: bool = False,
) -> dict[str, np.ndarray]:
    """Repeated grouped K-fold: out-of-fold predictions `kfold` (repeats, n) and fold numbers
    `folds` (repeats, n); with `intervals`, repeat 0's conformal intervals `lo` / `hi` (n,) and each held-out
    cohort's probability of lift < 0, `p_harm` (n,; NaN for a model without `probability_below`)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    n = len(y)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    k = max(2, min(folds, len(np.unique(groups))))
    rng = np.random.RandomState(seed)
    pred, fold_of = np.zeros((repeats, n)), np.zeros((repeats, n), dtype=int)
    lo, hi, harm = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for r in range(repeats):
        fold_of[r] = group_folds(groups, k, rng)
        for f in range(k):
            test, train = fold_of[r] == f, fold_of[r] != f
            model = fit_model(make_estimator(), X[train], y[train], groups[train], _slice(subjects, train))
            pred[r, test] = predict_model(model, X[test], _slice(subjects, test))
            if intervals and r == 0:
                lo[test], hi[test] = predict_model(model, X[test], _slice(subjects, test), "predict_interval")
                if hasattr(model, "probability_below"):
                    harm[test] = predict_model(model, X[test], _slice(subjects, test), "probability_below")
    return {"kfold": pred, "folds": fold_of, "lo": lo, "hi": hi, "p_harm": harm}


def kfold_selection(
    make_estimator: Callable, X: np.ndarray, y_cs: np.ndarray, groups: np.ndarray | None = None, subjects=None, *,
    folds: int = 5, seed: int = 0,
) -> np.ndarray:
    """Scores for held-out-seed selection (seeds, n): for seed h, grouped K-fold out-of-fold
    predictions of a model trained on the other seeds' mean labels (a fresh split per seed)."""
    y_cs = np.asarray(y_cs, float)
    return np.stack([
        kfold(make_estimator, X, np.delete(y_cs, h, axis=1).mean(axis=1), groups, subjects, folds=folds, repeats=1,
              seed=seed + 1000 * (h + 1))["kfold"][0]
        for h in range(y_cs.shape[1])
    ])


def loco(
    make_estimator: Callable, X: np.ndarray, y: np.ndarray, *, intervals: bool = False, subjects=None
) -> dict[str, np.ndarray]:
    """Leave-one-cohort-out predictions (and conformal intervals when `intervals`)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    n = len(y)
    pred, lo, hi = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        train = np.arange(n) != i
        model = fit_model(make_estimator(), X[train], y[train], None, _slice(subjects, train))
        one = _slice(subjects, [i])
        pred[i] = predict_model(model, X[i:i + 1], one)[0]
        if intervals:
            low, high = predict_model(model, X[i:i + 1], one, "predict_interval")
            lo[i], hi[i] = low[0], high[0]
    return {"pred": pred, "lo": lo, "hi": hi}


def lodo(
    make_estimator: Callable, X: np.ndarray, y: np.ndarray, domains: np.ndarray, members: list[set] | None = None,
    *, mixed: str = "mixed", groups: np.ndarray | None = None,
) -> np.ndarray:
    """Leave-one-domain-out predictions: each domain's cohorts predicted by a model trained on
    cohorts without any of that domain's items. `members[i]` is the set of domains whose items
    cohort i holds (default {domains[i]}); cohorts whose domain is `mixed` are never predicted (NaN)."""
    X, y, domains = np.asarray(X, float), np.asarray(y, float), np.asarray(domains)
    members = members if members is not None else [{d} for d in domains]
    pred = np.full(len(y), np.nan)
    for domain in np.unique(domains):
        if domain == mixed:
            continue
        held = domains == domain
        train = np.array([domain not in m for m in members])
        if not train.any():
            continue  # nothing outside this domain to learn from
        model = fit_model(make_estimator(), X[train], y[train], _slice(groups, train), domains[train])
        pred[held] = predict_model(model, X[held], domains[held])
    return pred
