"""F features that need one forward pass of the policy over the cohort's own prompts (and golds)."""

from __future__ import annotations

import numpy as np

from tap.features.groups import Undefined


def gold_nll(nll_per_item: np.ndarray) -> float:
    """[F] mean teacher-forced gold-answer NLL (nats/token, end token included) of the cohort's own items."""
    if not len(nll_per_item):
        raise Undefined("the cohort has no items")
    return float(np.mean(nll_per_item))


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm == 0, 1.0, norm)


def probe_similarity(cohort_reps: np.ndarray, probe_mean: np.ndarray) -> float:
    """[F] cosine between the mean last-layer prompt representation of the cohort and that of the probe."""
    if not len(cohort_reps):
        raise Undefined("the cohort has no items")
    return float(_unit(cohort_reps.mean(0)) @ _unit(probe_mean))


def cohort_diversity(cohort_reps: np.ndarray) -> float:
    """[F] mean pairwise cosine distance (1 − cos) between the cohort's prompt representations."""
    n = len(cohort_reps)
    if n < 2:
        raise Undefined("needs at least two items")
    unit = _unit(cohort_reps)
    cos = unit @ unit.T
    return float(1.0 - cos[np.triu_indices(n, 1)].mean())


MODEL_FEATURES = {"gold_nll": gold_nll, "probe_similarity": probe_similarity, "cohort_diversity": cohort_diversity}
