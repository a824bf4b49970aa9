"""Pure GRPO math: group advantages and the clipped policy-gradient loss, as TRL computes them.

    A_j = r_j − mean(group of j)                           (scale_rewards = "none")
    A_j = (r_j − mean(group)) / (std(group) + 1e-4)        ("group", std unbiased)
    A_j = (r_j − mean(group)) / (std(all rewards) + 1e-4)  ("batch")
    ρ_t = exp(log π(y_t) − log π_old(y_t))
    ℓ_t = −min(ρ_t A, clip(ρ_t, 1 − ε, 1 + ε) A)
    loss = Σ_t m_t ℓ_t / N,  with N = number of completion tokens in the batch ("dapo", "bnpo"),
           per-sequence means then a mean over sequences ("grpo"),
           or B · max_completion_length ("dr_grpo").
No KL term (beta = 0) and no entropy bonus: the settings TAP's label runs use by default.
"""

from __future__ import annotations

import torch

STD_EPS = 1e-4


def group_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: str = "group") -> torch.Tensor:
    """Advantages of a flat reward vector laid out group after group (G consecutive entries each)."""
    grouped = rewards.view(-1, num_generations)
    centred = (grouped - grouped.mean(dim=1, keepdim=True)).reshape(-1)
    if scale_rewards == "none":
        return centred
    if scale_rewards == "group":
        std = grouped.std(dim=1) if num_generations > 1 else torch.zeros(grouped.shape[0])
        return centred / (std.repeat_interleave(num_generations) + STD_EPS)
    if scale_rewards == "batch":
        std = rewards.std() if rewards.numel() > 1 else torch.zeros(())
        return centred / (std + STD_EPS)
    raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale_rewards!r}")


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    max_completion_length: int | None = None,
) -> torch.Tensor:
    """The clipped surrogate loss over completion tokens (logps, old_logps, mask: (B, T); advantages: (B,))."""
    ratio = torch.exp(logps - old_logps)
    a = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * a, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * a)
    mask = mask.to(per_token.dtype)
    if loss_type in ("dapo", "bnpo"):
        return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "dr_grpo":
        if max_completion_length is None:
            raise ValueError("dr_grpo needs max_completion_length")
        return (per_token * mask).sum() / (per_token.shape[0] * max_completion_length)
    raise ValueError(f"unsupported loss_type {loss_type!r} (dapo, bnpo, grpo, dr_grpo)")
