"""Pure GRPO math: group advantages (tap/advantages.py, on tensors) and the clipped policy-gradient
loss, as TRL computes them.

    ρ_t = exp(log π(y_t) − log π_old(y_t))
    ℓ_t = −min(ρ_t A, clip(ρ_t, 1 − ε, 1 + ε) A)
    loss = Σ_t m_t ℓ_t / N,  with N = number of completion tokens in the batch ("dapo", "bnpo"),
           per-sequence means then a mean over sequences ("grpo"),
           or B · max_completion_length ("dr_grpo").
No KL term (beta = 0) and no entropy bonus: the settings TAP's label runs use by default.
"""

from __future__ import annotations

import torch

from tap import advantages

STD_EPS = advantages.STD_EPS


def group_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: str = "group") -> torch.Tensor:
    """tap.advantages.group_advantages on a tensor (same dtype and device back)."""
    values = advantages.group_advantages(rewards.detach().cpu().double().numpy(), num_generations, scale_rewards)
    return torch.as_tensor(
        values, dtype=rewards.dtype if rewards.is_floating_point() else torch.float32, device=rewards.device
    )


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
