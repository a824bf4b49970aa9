"""R features: computed from rewards, answers and lengths alone (no model).

Notation: a cohort has prompts i with G completions each; p̂_i is prompt i's pass rate (mean
reward), k_i its number of successes (the sum of its rewards), A = r − mean of its group (GRPO's
advantage). Rewards may lie anywhere in [0, 1] (partial credit); a completion counts as correct when
its reward exceeds 1/2 (docs/features.md).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tap.advantages import group_advantages
from tap.features.groups import CohortRollouts, Undefined


def _p(c: CohortRollouts) -> np.ndarray:
    if not c.groups:
        raise Undefined("the cohort has no rollouts")
    return np.array([g.pass_rate for g in c.groups])


def pass_rate_mean(c: CohortRollouts) -> float:
    """[R] mean_i p̂_i."""
    return float(_p(c).mean())


def pass_rate_std(c: CohortRollouts) -> float:
    """[R] std_i p̂_i (population std over prompts)."""
    return float(_p(c).std())


def learnability(c: CohortRollouts) -> float:
    """[R] mean_i p̂_i (1 − p̂_i): the variance of a prompt's reward, largest at p̂ = 1/2."""
    p = _p(c)
    return float((p * (1 - p)).mean())


def frac_nondegenerate(c: CohortRollouts) -> float:
    """[R] share of groups whose rewards are not all equal (the groups GRPO learns from)."""
    _p(c)
    return float(np.mean([np.ptp(g.rewards) > 0 for g in c.groups]))


def frac_all_correct(c: CohortRollouts) -> float:
    """[R] share of prompts with p̂ = 1."""
    return float((_p(c) == 1).mean())


def frac_all_wrong(c: CohortRollouts) -> float:
    """[R] share of prompts with p̂ = 0."""
    return float((_p(c) == 0).mean())


def frac_in_band(c: CohortRollouts) -> float:
    """[R] share of prompts with 0.2 ≤ p̂ ≤ 0.8."""
    p = _p(c)
    return float(((p >= 0.2) & (p <= 0.8)).mean())


def _advantages(c: CohortRollouts, scaled: bool) -> np.ndarray:
    _p(c)
    return np.concatenate(
        [group_advantages(g.rewards, len(g.rewards), "group" if scaled else "none") for g in c.groups]
    )


def adv_std(c: CohortRollouts) -> float:
    """[R] std of A over all rollouts of the cohort (population std)."""
    return float(_advantages(c, scaled=False).std())


def adv_abs_mean(c: CohortRollouts) -> float:
    """[R] mean |A| over all rollouts (A unscaled)."""
    return float(np.abs(_advantages(c, scaled=False)).mean())


def adv_abs_mean_scaled(c: CohortRollouts) -> float:
    """[R] mean |A / (std_group + 1e-4)| over all rollouts, std unbiased as in TRL (0 for G = 1)."""
    return float(np.abs(_advantages(c, scaled=True)).mean())


def reward_std_mean(c: CohortRollouts) -> float:
    """[R] mean over prompts of the population std of the group's rewards."""
    _p(c)
    return float(np.mean([g.rewards.std() for g in c.groups]))


def pass_at_g(c: CohortRollouts) -> float:
    """[R] share of prompts with at least one correct completion (reward > 1/2) among their G."""
    _p(c)
    return float(np.mean([g.rewards.max() > 0.5 for g in c.groups]))


def posterior_var(c: CohortRollouts) -> float:
    """[R] mean over prompts of Var[Beta(1 + k, 1 + G − k)] = ab / ((a + b)² (a + b + 1))."""
    _p(c)
    values = []
    for g in c.groups:
        k, n = g.rewards.sum(), len(g.rewards)
        a, b = 1 + k, 1 + n - k
        values.append(a * b / ((a + b) ** 2 * (a + b + 1)))
    return float(np.mean(values))


def format_fail_rate(c: CohortRollouts) -> float:
    """[R] share of completions with no extractable answer."""
    _p(c)
    return float(np.mean([a is None for g in c.groups for a in g.answers]))


def truncation_rate(c: CohortRollouts) -> float:
    """[R] share of completions that hit max_new_tokens (finish reason "length")."""
    _p(c)
    return float(c.flat("truncated").mean())


def len_mean(c: CohortRollouts) -> float:
    """[R] mean completion length in tokens (end token included)."""
    _p(c)
    return float(c.flat("n_tokens").mean())


def _split(c: CohortRollouts, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rewards = c.flat("rewards")
    correct, wrong = values[rewards > 0.5], values[rewards <= 0.5]
    if not len(correct) or not len(wrong):
        raise Undefined("needs both correct and wrong completions")
    return correct, wrong


def len_gap_correct_vs_wrong(c: CohortRollouts) -> float:
    """[R] mean length of correct completions − mean length of wrong ones."""
    _p(c)
    correct, wrong = _split(c, c.flat("n_tokens"))
    return float(correct.mean() - wrong.mean())


def _majority(answers: tuple[str | None, ...]) -> tuple[str | None, int]:
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, 0
    # ties go to the answer seen first, so the result does not depend on hash order
    best = max(counts.values())
    first = next(a for a in answers if a is not None and counts[a] == best)
    return first, best


def answer_agreement(c: CohortRollouts) -> float:
    """[R] mean over prompts of (count of the majority extracted answer) / G; completions without
    an answer count in G but never form the majority (all unanswered → 0)."""
    _p(c)
    return float(np.mean([_majority(g.answers)[1] / len(g.answers) for g in c.groups]))


def majority_matches_gold(c: CohortRollouts) -> float:
    """[R] share of prompts whose majority extracted answer is rewarded (0 when none answered)."""
    _p(c)
    hits = []
    for g in c.groups:
        answer, _ = _majority(g.answers)
        hits.append(answer is not None and g.rewards[g.answers.index(answer)] > 0.5)
    return float(np.mean(hits))


def distinct_answer_frac(c: CohortRollouts) -> float:
    """[R] mean over prompts of (number of distinct extracted answers) / G."""
    _p(c)
    return float(np.mean([len({a for a in g.answers if a is not None}) / len(g.answers) for g in c.groups]))
