"""GRPO's group-relative advantages as TRL computes them: the one implementation (the R features,
the GRPO loss and the report read it). Pure numpy.

    A_j = r_j − mean(group of j)                           (scale_rewards = "none")
    A_j = (r_j − mean(group)) / (std(group) + 1e-4)        ("group", std unbiased)
    A_j = (r_j − mean(group)) / (std(all rewards) + 1e-4)  ("batch")
"""

from __future__ import annotations

from dataclasses import dataclass

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


LOSS_TYPES = ("dapo", "bnpo", "grpo", "dr_grpo")  # the token averaging the feature code (and tap.grpo) implements


@dataclass(frozen=True)
class Objective:
    """What a label run's GRPO loss weighs, as the G and head_align features must read it: how
    advantages are scaled, how tokens are averaged (loss_type) and the temperature of the log-probs."""

    scale_rewards: str = "group"
    loss_type: str = "dapo"
    temperature: float = 1.0
    max_completion_length: int = 8

    @classmethod
    def of(cls, label) -> Objective:
        """The objective of a [label] config section, or of a label-settings dict (the label hash's)."""
        get = label.get if isinstance(label, dict) else lambda key: getattr(label, key)
        return cls(get("scale_rewards"), get("loss_type"), float(get("temperature")), int(get("max_completion_length")))

    def __post_init__(self):
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type {self.loss_type!r}: the features implement {', '.join(LOSS_TYPES)}")

    def token_weights(self, rewards, num_generations: int, lengths) -> list[np.ndarray]:
        """Per completion, the weight of each of its tokens' log-prob in the objective (to ascend):
        advantage / the loss's normalizer ("dapo"/"bnpo": all completion tokens of the batch; "grpo":
        the completion's length times the number of completions; "dr_grpo": max_completion_length
        times the number of completions)."""
        adv = group_advantages(rewards, num_generations, self.scale_rewards)
        lengths = [int(n) for n in lengths]
        count = max(1, len(lengths))
        if self.loss_type in ("dapo", "bnpo"):
            norms = [max(1, sum(lengths))] * len(lengths)
        elif self.loss_type == "grpo":
            norms = [max(1, n) * count for n in lengths]
        else:
            norms = [self.max_completion_length * count] * len(lengths)
        return [np.full(n, a / d, dtype=np.float64) for a, n, d in zip(adv, lengths, norms)]
