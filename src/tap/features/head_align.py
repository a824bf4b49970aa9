"""head_align [F]: alignment of the cohort's GRPO update with the probe-NLL descent direction,
restricted to the LM-head weight W (V x d), from forward-pass quantities alone.

With h the final hidden state, p the next-token distribution at the label temperature T, A the
GRPO advantage (scaled as the label runs scale it) and one-hot rows e:
    G_c = Σ_t w_t (e_{y_t} − p_t) h_tᵀ / T                ascent direction of the GRPO objective, with
                                                          w_t = A_t / the loss's normalizer (dapo: the N
                                                          completion tokens; tap.advantages.Objective)
    G_p = (1/M) Σ_items (1/n_i) Σ_s (e_{g_s} − p_s) h_sᵀ  descent direction of mean probe gold NLL
    head_align_dot = ⟨G_c, G_p⟩ = Σ_{t,s} a_t b_s (u_t·v_s)(h_t·h_s);  head_align_cos = dot / (|G_c| |G_p|)
    G_pass = (1/M) Σ_items exp(S_i) Σ_s (e_{g_s} − p_s) h_sᵀ,  S_i = Σ_s log p(g_s) (temperature 1)
                                                          ascent direction of the probe's expected accuracy
                                                          (the gold string's probability), LM head only
    head_align_pass_* = the same scores with G_pass in place of G_p (the forward-only counterpart of the
                        gradient family's grad_pass_*: items weighted by how likely the policy is to get them)
Positive = a small step along the cohort's update lowers probe NLL / raises its expected accuracy (first order).
Only the output path of W is counted: with tied embeddings the input-embedding path of the same matrix is left out.
Exact mode materializes G (V x d); sketch mode replaces the V-dim factors u = e − p by S u with a
seeded Gaussian S (k x V, entries N(0, 1/k)), so ⟨S u, S v⟩ ≈ u·v and G becomes k x d.
The Adam-aware variant (exact mode only) is Σ sign(G_c) ⊙ G_p: AdamW's first update is ≈ lr·sign(g).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tap.advantages import Objective
from tap.features.forward import forward_pass


HEAD_ALIGN_FEATURES = {
    "head_align_dot": "⟨G_c, G_p⟩: first-order probe-NLL reduction of the cohort's GRPO update, LM head only (forward "
                      "pass).",
    "head_align_cos": "cosine of G_c and G_p (LM head, forward pass).",
    "head_align_adam": "Σ sign(G_c) ⊙ G_p, the Adam-aware variant (exact mode, small vocabularies only).",
    "head_align_pass_dot": "⟨G_c, G_pass⟩: first-order change of the probe's expected accuracy (gold-string "
                           "probability) of the cohort's GRPO update, LM head only (forward pass).",
    "head_align_pass_cos": "cosine of G_c and G_pass (LM head, forward pass).",
    "head_align_pass_adam": "Σ sign(G_c) ⊙ G_pass, the Adam-aware expected-accuracy score (exact mode only).",
}


def _sketch(vocab: int, k: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(k, vocab, generator=gen) / k**0.5


def head_gradient(
    policy,
    prompts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    token_weights: Sequence[np.ndarray],
    sketch: torch.Tensor | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Σ over continuation tokens of w_t (e_{y_t} − p_t) h_tᵀ / T: (V x d), or (k x d) with a sketch."""
    head = forward_pass(
        policy, prompts, continuations, weights=token_weights, sketch=sketch, temperature=temperature
    ).head
    if 0 not in head:
        raise ValueError("no tokens to take a gradient over")
    return head[0]


def cohort_weights(
    group_rows: Sequence[dict], num_generations: int, objective: Objective | None = None
) -> list[np.ndarray]:
    """Each rollout token's weight in the cohort's GRPO objective (advantage over the loss's normalizer)."""
    objective = objective or Objective()
    return objective.token_weights(
        [r["reward"] for r in group_rows], num_generations, [len(r["token_ids"]) for r in group_rows]
    )


def cohort_head_gradient(policy, group_rows: Sequence[dict], num_generations: int, objective: Objective | None = None,
                         sketch=None) -> torch.Tensor:
    """G_c for one cohort. `group_rows` are its rollouts (prompt, token_ids, reward), G per prompt in order."""
    objective = objective or Objective()
    return head_gradient(
        policy,
        policy.encode_prompts([r["prompt"] for r in group_rows]),
        [list(r["token_ids"]) for r in group_rows],
        cohort_weights(group_rows, num_generations, objective),
        sketch,
        objective.temperature,
    )


def probe_continuations(policy, golds: Sequence[str]) -> tuple[list[list[int]], list[np.ndarray]]:
    """The probe's gold token ids (end token included) and their weights in mean (over items)
    per-token gold NLL."""
    conts = policy.encode_answers(golds)
    return conts, [np.full(len(c), 1.0 / (len(c) * len(conts))) for c in conts]


def probe_head_gradient(policy, prompts: Sequence[str], golds: Sequence[str], sketch=None) -> torch.Tensor:
    """G_p: descent direction of the probe's mean (over items) per-token gold NLL."""
    conts, weights = probe_continuations(policy, golds)
    return head_gradient(policy, policy.encode_prompts(prompts), conts, weights, sketch)


def pass_weights(gold_logps: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each probe gold token's weight in the mean (over items) expected accuracy exp(S_i): exp(S_i)/M on every
    token of item i (d exp(S_i) = exp(S_i) dS_i), from the gold tokens' log-probs at temperature 1."""
    return [np.full(len(lp), np.exp(float(np.sum(lp))) / len(gold_logps)) for lp in gold_logps]


def probe_pass_head_gradient(policy, prompts: Sequence[str], golds: Sequence[str], sketch=None) -> torch.Tensor:
    """G_pass: ascent direction of the probe's mean (over items) expected accuracy exp(Σ log p(gold))."""
    conts = policy.encode_answers(golds)
    encoded = policy.encode_prompts(prompts)
    logps = forward_pass(policy, encoded, conts).logps
    return head_gradient(policy, encoded, conts, pass_weights(logps), sketch)


def alignment(g_c: torch.Tensor, g_p: torch.Tensor, *, adam: bool = True, eps: float = 1e-12,
              prefix: str = "head_align") -> dict:
    """dot, cos and (when adam) the Adam-aware score Σ sign(G_c) ⊙ G_p, named `prefix`_dot, _cos, _adam."""
    dot = float((g_c * g_p).sum())
    cos = dot / (float(g_c.norm()) * float(g_p.norm()) + eps)
    out = {f"{prefix}_dot": dot, f"{prefix}_cos": cos}
    if adam:
        out[f"{prefix}_adam"] = float((g_c / (g_c.abs() + 1e-8) * g_p).sum())
    return out
