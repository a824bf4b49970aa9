"""Active labeling (issue 18, item 2): which cohorts to label next so the predictor ranks best.

Label runs are the expensive part of calibrating TAP. After a random start, each round fits an
ensemble of the configured predictor on bootstrap resamples of the cohorts labelled so far, predicts
every unlabelled cohort (mean μ and spread σ over the ensemble) and labels the ones with the largest
expected improvement over the labelled top: EI = (μ − τ) Φ(z) + σ φ(z), z = (μ − τ) / σ, where τ
is the labelled labels' (1 − q) quantile. Cohorts that may belong to the top q, or about which the
ensemble disagrees, come first; that is where a ranking used to pick the top q is decided.

Labels are bought through a `PaidLabels` ledger: selection code only ever sees the labels of cohorts
it has paid for (the tests hold it to that).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


class PaidLabels:
    """The labels bought so far. `buy(ids)` pays for and returns the labels of `ids` through `source`
    (a function from cohort ids to {id: label}: real label runs, or a replayed ledger); nothing else
    is readable."""

    def __init__(self, source: Callable[[list[str]], dict[str, float]]):
        self._source = source
        self.labels: dict[str, float] = {}
        self.order: list[str] = []

    def buy(self, ids: list[str]) -> dict[str, float]:
        new = [i for i in dict.fromkeys(ids) if i not in self.labels]
        bought = self._source(new) if new else {}
        missing = [i for i in new if i not in bought]
        if missing:
            raise RuntimeError(
                f"no label came back for {len(missing)} cohorts (e.g. {missing[0]}): their label runs failed"
            )
        for cohort_id in new:
            self.labels[cohort_id] = float(bought[cohort_id])
            self.order.append(cohort_id)
        return {i: self.labels[i] for i in new}

    def paid_before(self, labels: dict[str, float]) -> None:
        """Labels bought earlier (a ledger's finished cohorts): readable, and not bought again."""
        for cohort_id, value in labels.items():
            if cohort_id not in self.labels:
                self.labels[cohort_id] = float(value)
                self.order.append(cohort_id)

    def __len__(self) -> int:
        return len(self.labels)


def ensemble_predictions(make_model: Callable[[], object], X_labelled: np.ndarray, y: np.ndarray, X_pool: np.ndarray,
                         *, members: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over `members` fits of `make_model()` on bootstrap resamples of the labelled rows."""
    from threadpoolctl import threadpool_limits

    preds = []
    with threadpool_limits(1):
        for _ in range(members):
            rows = rng.integers(0, len(y), len(y))
            preds.append(make_model().fit(X_labelled[rows], y[rows]).predict(X_pool))
    preds = np.asarray(preds)
    return preds.mean(axis=0), preds.std(axis=0)


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, tau: float) -> np.ndarray:
    """E[max(Y − τ, 0)] for Y ~ N(μ, σ²); (μ − τ)⁺ where σ = 0."""
    from scipy.stats import norm

    mu, sigma = np.asarray(mu, float), np.asarray(sigma, float)
    out = np.maximum(mu - tau, 0.0)
    live = sigma > 0
    z = (mu[live] - tau) / sigma[live]
    out[live] = (mu[live] - tau) * norm.cdf(z) + sigma[live] * norm.pdf(z)
    return out


def next_batch(features: pd.DataFrame, paid: PaidLabels, size: int, make_model: Callable[[], object], *, q: float = 0.1,
               members: int = 8, rng: np.random.Generator) -> list[str]:
    """The `size` unlabelled cohorts (rows of `features`, indexed by cohort id) with the largest
    expected improvement over the labelled top-q threshold; reads only `paid.labels`."""
    labelled = [i for i in features.index if i in paid.labels]
    pool = [i for i in features.index if i not in paid.labels]
    if len(pool) <= size:
        return pool
    y = np.array([paid.labels[i] for i in labelled])
    mu, sigma = ensemble_predictions(
        make_model,
        features.loc[labelled].to_numpy(float),
        y,
        features.loc[pool].to_numpy(float),
        members=members,
        rng=rng,
    )
    score = expected_improvement(mu, sigma, float(np.quantile(y, 1 - q)))
    order = np.lexsort((-mu, -score))  # largest EI first; ties (EI 0) by the predicted label
    return [pool[i] for i in order[:size]]


def label_order(features: pd.DataFrame, paid: PaidLabels, budget: int, *, strategy: str, start: int, batch: int,
                make_model: Callable[[], object], q: float = 0.1, members: int = 8, seed: int = 0,
                after_round: Callable[[PaidLabels], None] | None = None) -> list[str]:
    """Buy labels until `budget` cohorts are labelled: `start` at random (skipped for cohorts
    already paid for), then `batch` per round by `strategy` ("active": expected improvement;
    "random": a uniform draw). `after_round` sees the paid labels after each round."""
    if strategy not in ("active", "random"):
        raise ValueError(f"strategy must be 'active' or 'random', got {strategy!r}")
    rng = np.random.default_rng(seed)
    budget = min(budget, len(features))
    if len(paid) < start:
        pool = [i for i in features.index if i not in paid.labels]
        paid.buy([pool[i] for i in rng.permutation(len(pool))[:min(start, budget) - len(paid)]])
        if after_round:
            after_round(paid)
    while len(paid) < budget:
        size = min(batch, budget - len(paid))
        if strategy == "active":
            ids = next_batch(features, paid, size, make_model, q=q, members=members, rng=rng)
        else:
            pool = [i for i in features.index if i not in paid.labels]
            ids = [pool[i] for i in rng.permutation(len(pool))[:size]]
        paid.buy(ids)
        if after_round:
            after_round(paid)
    return list(paid.order)
