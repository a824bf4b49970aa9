"""GRPO's group-relative advantages as TRL computes them: the one implementation (the R features,
the GRPO loss and the report read it). Pure numpy.

    A_j = r_j − mean(group of j)                           (scale_rewards = "none")
    A_j = (r_j − mean(group)) / (std(group) + 1e-4)        ("group", std unbiased)
    A_j = (r_j − mean(group)) / (std(all rewards) + 1e-4)  ("batch")
"""

from __future__ import annotations

import numpy as np

STD_EPS = 1e-4  # TRL divides by (std + 1e-4)


def group_advantages(rewards, num_generations: int, scale_rewards: str = "group") -> np.ndarray:
    """Advantages of a flat reward vector laid out group after group (G consecutive entries each)."""
    rewards = np.asarray(rewards, dtype=float)
    grouped = rewards.reshape(-1, num_generations)
    centred = (grouped - grouped.mean(axis=1, keepdims=True)).reshape(-1)
    if scale_rewards == "none":
        return centred
    if scale_rewards == "group":
        std = grouped.std(axis=1, ddof=1) if num_generations > 1 else np.zeros(len(grouped))
        return centred / (np.repeat(std, num_generations) + STD_EPS)
    if scale_rewards == "batch":
        std = rewards.std(ddof=1) if rewards.size > 1 else 0.0
        return centred / (std + STD_EPS)
    raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale_rewards!r}")
