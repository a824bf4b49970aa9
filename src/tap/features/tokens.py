"""F features read from the sampler's own per-token log-probs and entropies (the forward pass that
generated the rollouts; no extra model call)."""

from __future__ import annotations

import numpy as np

from tap.features.groups import CohortRollouts, Undefined
from tap.features.rewards import _split


def _per_completion(c: CohortRollouts, name: str, reduce) -> np.ndarray:
    if not c.groups:
        raise Undefined("the cohort has no rollouts")
    return np.array([reduce(x) if len(x) else np.nan for g in c.groups for x in getattr(g, name)])


def token_entropy_mean(c: CohortRollouts) -> float:
    """[F] mean entropy (nats) of the sampling distribution over all generated tokens of the cohort."""
    tokens = np.concatenate([x for g in c.groups for x in g.entropies]) if c.groups else np.zeros(0)
    if not len(tokens):
        raise Undefined("no generated tokens")
    return float(tokens.mean())


def entropy_gap_correct_vs_wrong(c: CohortRollouts) -> float:
    """[F] mean per-completion mean entropy of correct completions − that of wrong ones."""
    correct, wrong = _split(c, _per_completion(c, "entropies", np.mean))
    return float(np.nanmean(correct) - np.nanmean(wrong))


def seq_logprob_mean(c: CohortRollouts) -> float:
    """[F] mean over completions of the sequence log-prob Σ_t log p(y_t) (nats)."""
    return float(np.mean(_per_completion(c, "logprobs", np.sum)))


def logprob_gap_correct_vs_wrong(c: CohortRollouts) -> float:
    """[F] mean sequence log-prob of correct completions − that of wrong ones."""
    correct, wrong = _split(c, _per_completion(c, "logprobs", np.sum))
    return float(correct.mean() - wrong.mean())
