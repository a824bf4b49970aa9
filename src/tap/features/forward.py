"""One batched forward pass of the policy over (prompt, continuation) pairs, read three ways.

The F family needs, from the same kind of pass: the log-probs of continuation tokens (gold NLL), the
mean final hidden state over each prompt's tokens (prompt representations), and per segment the
LM-head gradient Σ_t w_t (e_{y_t} − p_t) h_tᵀ / T (head_align; see head_align.py). Reading them from
one pass instead of one pass each halves the forward tokens of the items and of the probe, and
batching every cohort's rollouts together (a segment per cohort) replaces one small forward per
cohort by a few full batches.

In a causal model the prompt's hidden states do not depend on what follows it, so the prompt
representation read here equals that of a prompt-only pass (up to float rounding).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

LOGITS_BUDGET = 2**27  # logit elements per forward pass (256 MB in bf16): sets the batch for large vocabularies


@dataclass
class ForwardPass:
    logps: list[np.ndarray]  # per sequence: log p of each continuation token, at `temperature`
    prompt_means: np.ndarray | None  # (n, d): mean final hidden state over each prompt's tokens
    head: dict[Hashable, torch.Tensor] = field(default_factory=dict)  # per segment: V x d (k x d with a sketch)
    tokens: int = 0  # forward tokens


TOKENS_PER_BATCH = 8192  # padded tokens per forward pass, after sorting by length


def _windows(policy, prompts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]], vocab: int):
    """Lists of row indices, shortest sequences first: at most policy.batch_size rows, at most
    TOKENS_PER_BATCH padded tokens, fewer when the logits would pass LOGITS_BUDGET. Sorting by
    length keeps left padding small (in arbitrary order it can double the tokens)."""
    lengths = np.array([len(p) + len(c) for p, c in zip(prompts, continuations)])
    order = np.argsort(lengths, kind="stable").tolist()
    start = 0
    while start < len(order):
        size = 1
        while start + size < len(order) and size < policy.batch_size:
            width = int(lengths[order[start + size]])  # the longest so far: sorted
            if (size + 1) * width > TOKENS_PER_BATCH or (size + 1) * width * vocab > LOGITS_BUDGET:
                break
            size += 1
        yield order[start:start + size]
        start += size


@torch.no_grad()
def forward_pass(
    policy,
    prompts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[int]],
    *,
    weights: Sequence[np.ndarray] | None = None,
    segments: Sequence[Hashable] | None = None,
    sketch: torch.Tensor | None = None,
    prompt_means: bool = False,
    temperature: float = 1.0,
) -> ForwardPass:
    """Read `continuations` (token ids) after `prompts` (token ids). With `weights` (one array per
    sequence, one weight per continuation token), also sum the LM-head gradient terms per segment
    (`segments`, one label per sequence; default all in one)."""
    vocab = policy.model.get_output_embeddings().weight.shape[0]
    segments = list(segments) if segments is not None else [0] * len(prompts)
    logps: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(prompts)
    means: list[np.ndarray | None] = [None] * len(prompts)
    result = ForwardPass(logps, None)
    for window in _windows(policy, prompts, continuations, vocab):
        conts = [list(continuations[i]) for i in window]
        ids, mask = policy._left_pad([list(prompts[i]) + c for i, c in zip(window, conts)])
        result.tokens += int(mask.sum())
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        longest = max(len(c) for c in conts)
        out = policy.model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True,
                           logits_to_keep=longest + 1)
        hidden, width, device = out.hidden_states[-1], ids.shape[1], ids.device
        if prompt_means:
            ends = torch.tensor([width - len(c) for c in conts], device=device)
            inside = (
                (mask.bool() & (torch.arange(width, device=device)[None, :] < ends[:, None]))
                .unsqueeze(-1)
                .to(hidden.dtype)
            )
            for i, mean in zip(window, ((hidden * inside).sum(1) / inside.sum(1).clamp(min=1)).float().cpu().numpy()):
                means[i] = mean
        if not longest:
            continue
        # every continuation token at once: the row, and the position whose next token it is
        rows = torch.tensor([r for r, c in enumerate(conts) for _ in c], dtype=torch.long, device=device)
        cols = torch.tensor(
            [width - 1 - len(c) + i for c in conts for i in range(len(c))], dtype=torch.long, device=device
        )
        y = torch.tensor([t for c in conts for t in c], dtype=torch.long, device=device)
        logp_all = torch.log_softmax(out.logits[rows, cols - (width - longest - 1)].float() / temperature, -1)
        token_logp = logp_all.gather(-1, y.unsqueeze(1)).squeeze(1).cpu().numpy()
        offsets = np.cumsum([0] + [len(c) for c in conts])
        for r, i in enumerate(window):
            logps[i] = token_logp[offsets[r]:offsets[r + 1]]
        if weights is not None:
            _add_head_terms(
                result.head,
                hidden[rows, cols].float(),
                logp_all.exp(),
                y,
                window,
                conts,
                weights,
                segments,
                sketch,
                temperature,
            )
    if prompt_means:
        result.prompt_means = np.stack(means) if means else np.zeros((0, 0))
    return result


def _add_head_terms(
    head: dict,
    h: torch.Tensor,
    p: torch.Tensor,
    y: torch.Tensor,
    window: list[int],
    conts: list,
    weights,
    segments,
    sketch: torch.Tensor | None,
    temperature: float,
) -> None:
    """head[segment] += Σ_t w_t (e_{y_t} − p_t) h_tᵀ / T over this window's tokens of that segment."""
    device = h.device
    w = (
        torch.as_tensor(np.concatenate([np.asarray(weights[i], dtype=np.float32) for i in window]))
        .unsqueeze(1)
        .to(device)
    )
    if sketch is None:
        u = -p
        u[torch.arange(len(y), device=device), y] += 1.0
    else:
        sketch = sketch.to(device)
        u = sketch[:, y].T - p @ sketch.T
    token_segment = np.repeat([segments[i] for i in window], [len(c) for c in conts])
    for segment in dict.fromkeys(token_segment.tolist()):
        chosen = torch.as_tensor(np.flatnonzero(token_segment == segment), device=device)
        term = (w[chosen] * u[chosen]).T @ h[chosen] / temperature
        head[segment] = term if segment not in head else head[segment] + term
