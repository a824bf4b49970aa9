"""TAP auto: what it chooses among and how (a TAPPredictor with model="auto" calls `choose` on its training rows).

Candidates come in an order of preference, the simpler first; the inner grouped K-fold scores each by its
within-fold Spearman ρ, and the first candidate within one standard error (over the inner folds) of the best mean
is kept.
"""

from __future__ import annotations

import numpy as np

FAMILY_ORDER = ("R", "F", "G")

# What "auto" chooses among, for each family prefix: (model, scaling, parameters), in its order of preference
# (the simpler first: the stronger penalty, global before within-subject scaling). Small and strongly
# regularized on purpose: batteries hold tens to hundreds of cohorts.
PENALTIES = (1000.0, 100.0, 10.0, 1.0)
AUTO_SPACE = (
    *[("ridge", scaling, {"alpha": a}) for scaling in ("global", "subject") for a in PENALTIES],
    *[("kernel", scaling, {"alpha": a}) for scaling in ("global", "subject") for a in (3.0, 0.3)],
    (
        "gbm",
        "global",
        {"max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 4, "min_samples_leaf": 10, "l2_regularization": 1.0},
    ),
)


def candidates(families, subjects, *, with_prior: bool) -> list[dict]:
    """What auto tries, in its order of preference: with a prior, the prior alone and ridges shrunk toward
    it (every family prefix, strongest penalty first); then AUTO_SPACE's for every family prefix."""
    families = [f for f in FAMILY_ORDER if f in set(families)]
    prefixes = [tuple(families[:i]) for i in range(1, len(families) + 1)]
    base = {"alpha": 1.0, "max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 4, "min_samples_leaf": 10,
            "l2_regularization": 0.0}
    space = [(model, scaling, params, False) for model, scaling, params in AUTO_SPACE]
    out = []
    if with_prior:
        out.append({**base, "model": "prior", "scaling": "global", "families": list(prefixes[-1]), "prior": True})
        shrunk_space = [(model, scaling, params, True) for model, scaling, params in AUTO_SPACE if model == "ridge"]
        space = shrunk_space + space
    for shrunk in (True, False):
        for fams in prefixes:
            for model, scaling, params, prior in space:
                if prior != shrunk or (scaling == "subject" and subjects is None):
                    continue
                out.append({**base, "model": model, "scaling": scaling, "families": list(fams), **params,
                            **({"prior": prior} if with_prior else {})})
    return out


def choose(predictor, X, y, groups, subjects, rng) -> None:
    """`predictor.choice_` and `.inner_scores_` from an inner grouped K-fold over the candidates on these rows
    only, each scored by its within-fold Spearman ρ (what the headline protocol scores); keeps the first candidate
    whose mean is within one standard error (over the inner folds) of the best mean. With a prior and fewer than 3 item
    groups there is nothing to cross-validate: the prior alone."""
    from tap.stats import group_folds, spearman

    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    subj = None if subjects is None else np.asarray(subjects).astype(str)
    options = predictor._candidates(subj)
    if predictor.prior_ is not None and len(np.unique(groups)) < 3:
        predictor.choice_, predictor.inner_scores_ = options[0], []
        return
    folds = group_folds(groups, max(2, min(predictor.inner_folds, len(np.unique(groups)))), rng)
    open_, prior = predictor._open(X), predictor._prior_values(X)
    per_fold = []
    for cand in options:
        cols = predictor._family_columns(cand["families"])
        if not len(cols):
            per_fold.append([])
            continue
        pred = np.zeros(len(y))
        for k in np.unique(folds):
            train, test = folds != k, folds == k
            Z, st = predictor._prepare(X[train][:, cols], None if subj is None else subj[train], cand, None,
                                  None if open_ is None else open_[train], None if prior is None else prior[train])
            model = predictor._fit_one(Z, y[train], cand)
            Zt, _ = predictor._prepare(X[test][:, cols], None if subj is None else subj[test], cand, st,
                                  None if open_ is None else open_[test], None if prior is None else prior[test])
            pred[test] = model.predict(Zt)
        values = [spearman(pred[folds == k], y[folds == k]) for k in np.unique(folds)]
        per_fold.append([v for v in values if np.isfinite(v)])
    means = [float(np.mean(v)) if v else float("nan") for v in per_fold]
    errors = [float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0 for v in per_fold]
    finite = [i for i, v in enumerate(means) if np.isfinite(v)]
    best = max(finite, key=lambda i: means[i]) if finite else 0  # ties: the earlier (preferred) candidate
    chosen = next((i for i in finite if means[i] >= means[best] - errors[best]), best)
    predictor.choice_ = options[chosen]
    predictor.inner_scores_ = [{**c, "inner_spearman": m, "inner_standard_error": e}
                          for c, m, e in zip(options, means, errors)]
