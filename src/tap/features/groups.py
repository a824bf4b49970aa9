"""A cohort's rollouts as plain arrays, the input every feature function reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class Undefined(ValueError):
    """A feature has no value for this cohort (e.g. a gap between correct and wrong completions
    when none is correct); the reason is recorded next to the NaN, never dropped silently."""


@dataclass(frozen=True)
class Group:
    """One prompt's G completions."""

    rewards: np.ndarray  # (G,)
    answers: tuple[str | None, ...]
    n_tokens: np.ndarray  # (G,)
    truncated: np.ndarray  # (G,) bool
    logprobs: tuple[np.ndarray, ...]  # per completion, per token
    entropies: tuple[np.ndarray, ...]

    @property
    def pass_rate(self) -> float:
        return float(self.rewards.mean())


@dataclass(frozen=True)
class CohortRollouts:
    cohort_id: str
    groups: tuple[Group, ...]

    def flat(self, name: str) -> np.ndarray:
        return np.concatenate([getattr(g, name) for g in self.groups]) if self.groups else np.zeros(0)


def _answer(value) -> str | None:
    return value if isinstance(value, str) else None


def cohorts_from_rollouts(rollouts: pd.DataFrame) -> list[CohortRollouts]:
    """Group a rollouts table (one row per completion) into cohorts of prompt groups."""
    out = []
    for cohort_id, cohort in rollouts.groupby("cohort_id", sort=True):
        groups = []
        for _, g in cohort.groupby("position", sort=True):
            groups.append(
                Group(
                    rewards=g.reward.to_numpy(dtype=float),
                    answers=tuple(_answer(a) for a in g.answer),
                    n_tokens=g.n_tokens.to_numpy(dtype=float),
                    truncated=(g.finish_reason == "length").to_numpy(),
                    logprobs=tuple(np.asarray(x, dtype=float) for x in g.logprobs),
                    entropies=tuple(np.asarray(x, dtype=float) for x in g.entropies),
                )
            )
        out.append(CohortRollouts(str(cohort_id), tuple(groups)))
    return out
