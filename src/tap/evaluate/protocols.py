"""Evaluation protocols: who is trained on what, so that nothing held out leaks in.

- LOCO: for each cohort, fit on every other cohort, predict it.
- LODO: for each subject, fit on the cohorts that hold none of its items, predict the cohorts of
  that subject. A mixed cohort (items of several subjects) is never predicted and is left out of
  training whenever it holds items of the held-out subject.
- Held-out-seed selection: for each seed h, the labels used to rank (the predictor's training
  targets, or the "measured lift" selector) are means over the other seeds only; the top q% are then
  scored by y[·, h] alone. Predictor scores are LOCO predictions trained on those other-seed labels.
`make_estimator` returns a fresh unfitted estimator each call (fit / predict; predict_interval optional).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tap.evaluate.metrics import selection_on_seed


def loco(make_estimator: Callable, X: np.ndarray, y: np.ndarray, *, intervals: bool = False) -> dict[str, np.ndarray]:
    """Leave-one-cohort-out predictions (and conformal intervals when `intervals`)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    n = len(y)
    pred, lo, hi = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        train = np.arange(n) != i
        model = make_estimator().fit(X[train], y[train])
        pred[i] = model.predict(X[i:i + 1])[0]
        if intervals:
            low, high = model.predict_interval(X[i:i + 1])
            lo[i], hi[i] = low[0], high[0]
    return {"pred": pred, "lo": lo, "hi": hi}


def lodo(
    make_estimator: Callable, X: np.ndarray, y: np.ndarray, domains: np.ndarray, members: list[set] | None = None,
    *, mixed: str = "mixed",
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
        pred[held] = make_estimator().fit(X[train], y[train]).predict(X[held])
    return pred


def held_out_seed_selection(
    score_fn: Callable[[np.ndarray], np.ndarray], y_cs: np.ndarray, q: float = 0.1
) -> list[dict]:
    """For each seed h: scores = score_fn(labels from the other seeds), then the top-q selection is
    scored by y[·, h]. `score_fn` sees only the other seeds' mean labels (cohorts,)."""
    y_cs = np.asarray(y_cs, float)
    out = []
    for h in range(y_cs.shape[1]):
        others = np.delete(y_cs, h, axis=1).mean(axis=1)
        result = selection_on_seed(score_fn(others), y_cs[:, h], q)
        out.append({"seed": h, **result})
    return out


def predictor_scores(make_estimator: Callable, X: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A score_fn for held_out_seed_selection: LOCO predictions trained on the given labels."""
    return lambda labels: loco(make_estimator, X, labels)["pred"]
