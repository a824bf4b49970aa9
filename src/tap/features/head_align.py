"""head_align [F]: alignment of the cohort's GRPO update with the probe-NLL descent direction,
restricted to the LM-head weight W (V x d), from forward-pass quantities alone.

With h the final hidden state, p the next-token distribution (temperature 1), A the GRPO advantage
(group-std scaled, as TRL's default) and one-hot rows e:
    G_c = (1/N) Σ_t A_t (e_{y_t} − p_t) h_tᵀ            ascent direction of the GRPO objective
                                                          (dapo: mean over the N completion tokens)
    G_p = (1/M) Σ_items (1/n_i) Σ_s (e_{g_s} − p_s) h_sᵀ  descent direction of mean probe gold NLL
    head_align_dot = ⟨G_c, G_p⟩ = Σ_{t,s} a_t b_s (u_t·v_s)(h_t·h_s);  head_align_cos = dot / (|G_c| |G_p|)
Positive = a small step along the cohort's update lowers probe NLL (first order). Only the output
path of W is counted: with tied embeddings the input-embedding path of the same matrix is left out.
Exact mode materializes G (V x d); sketch mode replaces the V-dim factors u = e − p by S u with a
seeded Gaussian S (k x V, entries N(0, 1/k)), so ⟨S u, S v⟩ ≈ u·v and G becomes k x d.
The Adam-aware variant (exact mode only) is Σ sign(G_c) ⊙ G_p: AdamW's first update is ≈ lr·sign(g).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tap.grpo import group_advantages


HEAD_ALIGN_FEATURES = {
    "head_align_dot": "⟨G_c, G_p⟩: first-order probe-NLL reduction of the cohort's GRPO update, LM head only (forward pass).",
    "head_align_cos": "cosine of G_c and G_p (LM head, forward pass).",
    "head_align_adam": "Σ sign(G_c) ⊙ G_p, the Adam-aware variant (exact mode, small vocabularies only).",
}


def _sketch(vocab: int, k: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(k, vocab, generator=gen) / k**0.5


LOGITS_BUDGET = 2**27  # logit elements per forward pass (256 MB in bf16): sets the batch for large vocabularies


@torch.no_grad()
def head_gradient(
    policy, prompts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]], token_weights: Sequence[np.ndarray],
    sketch: torch.Tensor | None = None,
) -> torch.Tensor:
    """Σ over continuation tokens of w_t (e_{y_t} − p_t) h_tᵀ: (V x d), or (k x d) with a sketch."""
    total = None
    vocab = policy.model.get_output_embeddings().weight.shape[0]
    start = 0
    while start < len(prompts):
        window = range(start, min(len(prompts), start + policy.batch_size))
        longest_seq = max(len(prompts[i]) + len(continuations[i]) for i in window)
        size = max(1, min(policy.batch_size, LOGITS_BUDGET // max(1, longest_seq * vocab)))
        part = slice(start, start + size)
        start += size
        conts = continuations[part]
        longest = max(len(c) for c in conts)
        if not longest:
            continue
        ids, mask = policy._left_pad([list(p) + list(c) for p, c in zip(prompts[part], conts)])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = policy.model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True,
                           logits_to_keep=longest + 1)
        width, device = ids.shape[1], ids.device
        # every continuation token at once: the row, and the position whose next token it is
        rows = torch.tensor([r for r, c in enumerate(conts) for _ in c], dtype=torch.long, device=device)
        cols = torch.tensor([width - 1 - len(c) + i for c in conts for i in range(len(c))], dtype=torch.long, device=device)
        h = out.hidden_states[-1][rows, cols].float()
        p = torch.softmax(out.logits[rows, cols - (width - longest - 1)].float(), -1)  # logits keep the last longest + 1 positions
        y = torch.tensor([t for c in conts for t in c], dtype=torch.long, device=device)
        w = torch.as_tensor(np.concatenate([np.asarray(x, dtype=np.float32) for x in token_weights[part]])).unsqueeze(1).to(device)
        if sketch is None:
            u = -p
            u[torch.arange(len(y), device=device), y] += 1.0
        else:
            sketch = sketch.to(device)
            u = sketch[:, y].T - p @ sketch.T
        term = (w * u).T @ h
        total = term if total is None else total + term
    if total is None:
        raise ValueError("no tokens to take a gradient over")
    return total


def cohort_head_gradient(policy, group_rows: Sequence[dict], num_generations: int, scale_rewards: str = "group", sketch=None) -> torch.Tensor:
    """G_c for one cohort. `group_rows` are its rollouts (prompt, token_ids, reward), G per prompt in order."""
    rewards = torch.tensor([r["reward"] for r in group_rows], dtype=torch.float32)
    adv = group_advantages(rewards, num_generations, scale_rewards).numpy()
    n_tokens = max(1, sum(len(r["token_ids"]) for r in group_rows))
    prompts = policy.encode_prompts([r["prompt"] for r in group_rows])
    conts = [list(r["token_ids"]) for r in group_rows]
    weights = [np.full(len(c), a / n_tokens) for c, a in zip(conts, adv)]
    return head_gradient(policy, prompts, conts, weights, sketch)


def probe_head_gradient(policy, prompts: Sequence[str], golds: Sequence[str], sketch=None) -> torch.Tensor:
    """G_p: descent direction of the probe's mean (over items) per-token gold NLL."""
    tok = policy.tokenizer
    conts = [tok(g, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for g in golds]
    weights = [np.full(len(c), 1.0 / (len(c) * len(conts))) for c in conts]
    return head_gradient(policy, policy.encode_prompts(prompts), conts, weights, sketch)


def alignment(g_c: torch.Tensor, g_p: torch.Tensor, *, adam: bool = True, eps: float = 1e-12) -> dict:
    """dot, cos and (when adam) the Adam-aware score Σ sign(G_c) ⊙ G_p."""
    dot = float((g_c * g_p).sum())
    cos = dot / (float(g_c.norm()) * float(g_p.norm()) + eps)
    out = {"head_align_dot": dot, "head_align_cos": cos}
    if adam:
        out["head_align_adam"] = float((g_c / (g_c.abs() + 1e-8) * g_p).sum())
    return out
