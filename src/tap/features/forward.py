"""One batched forward pass of the policy over (prompt, continuation) pairs, read three ways.

The F family needs, from the same kind of pass: the log-probs of continuation tokens (gold NLL), the
mean final hidden state over each prompt's tokens (prompt representations), and per segment the
LM-head gradient Σ_t w_t (e_{y_t} − p_t) h_tᵀ / T (head_align; see head_align.py). Reading them from
one pass instead of one pass each halves the forward tokens of the items and of the probe, and
batching every cohort's rollouts together (a segment per cohort) replaces one small forward per
cohort by a few full batches.

Each distinct prompt is read once: its key/value cache is shared by every continuation after it (a
GRPO group's G rollouts share one prompt), so a pass reads Σ distinct prompts' tokens plus
Σ continuations' tokens but the last. In a causal model the prompt's hidden states do not depend on
what follows it, so this equals one pass per sequence, and the prompt representation read here
equals that of a prompt-only pass (up to float rounding).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

LOGITS_BUDGET = 2**27  # logit elements per forward pass (256 MB in bf16): sets the batch for large vocabularies
TOKENS_PER_BATCH = 8192  # padded tokens per forward pass, after sorting by length
CALL_TOKENS = 256  # a forward call costs about as much as this many padded tokens (tiny model, CPU)


@dataclass
class ForwardPass:
    logps: list[np.ndarray]  # per sequence: log p of each continuation token (the model's own, temperature 1)
    prompt_means: np.ndarray | None  # (n, d): mean final hidden state over each prompt's tokens
    head: dict[Hashable, torch.Tensor] = field(default_factory=dict)  # per segment: V x d (k x d with a sketch)
    tokens: int = 0  # forward tokens: each distinct prompt once, each continuation but its last token


def _windows(policy, groups: list[tuple[list[int], list[int]]], continuations, vocab: int):
    """Lists of group indices (a group = one distinct prompt and the rows that continue it), shortest
    prompts first: at most policy.batch_size rows, at most TOKENS_PER_BATCH padded tokens in either
    pass, fewer when the logits would pass LOGITS_BUDGET, and a new window where widening this one
    would pad its prompts by more than a call costs (sorting by length keeps left padding small)."""
    order = sorted(range(len(groups)), key=lambda g: len(groups[g][0]))
    start = 0
    while start < len(order):
        size, rows, longest = 0, 0, 1
        while start + size < len(order):
            prompt, members = groups[order[start + size]]
            n = rows + len(members)
            c = max([longest] + [len(continuations[i]) for i in members])
            fits = (size + 1) * len(prompt) <= TOKENS_PER_BATCH and n * c <= TOKENS_PER_BATCH
            widest = len(groups[order[start + size - 1]][0]) if size else len(prompt)
            wasteful = size * (len(prompt) - widest) > CALL_TOKENS
            if size and (n > policy.batch_size or not fits or n * c * vocab > LOGITS_BUDGET or wasteful):
                break
            size, rows, longest = size + 1, n, c
        yield order[start:start + size]
        start += size


def _chunks(widths: list[int]) -> list[tuple[int, int]]:
    """Cut ascending `widths` into runs [a, b) (one forward call each, padded to the run's last
    width) that minimise padded tokens + CALL_TOKENS per call: a shortest path over the places where
    the width changes."""
    if not widths:
        return []
    cuts = [0] + [i for i in range(1, len(widths)) if widths[i] != widths[i - 1]] + [len(widths)]
    best, back = [0] + [math.inf] * (len(cuts) - 1), [0] * len(cuts)
    for j in range(1, len(cuts)):
        for i in range(j):
            cost = best[i] + (cuts[j] - cuts[i]) * widths[cuts[j] - 1] + CALL_TOKENS
            if cost < best[j]:
                best[j], back[j] = cost, i
    runs, j = [], len(cuts) - 1
    while j:
        runs.append((cuts[back[j]], cuts[j]))
        j = back[j]
    return runs[::-1]


@torch.inference_mode()  # a few % faster than no_grad; nothing here is differentiated
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
    sequence, one weight per continuation token), also sum the LM-head gradient terms, with p at
    `temperature`, per segment (`segments`, one label per sequence; default all in one; a sequence
    whose segment is None is only read)."""
    vocab = policy.model.get_output_embeddings().weight.shape[0]
    segments = list(segments) if segments is not None else [0] * len(prompts)
    by_prompt: dict[tuple, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_prompt.setdefault(tuple(prompt), []).append(i)
    groups = [(list(prompt), members) for prompt, members in by_prompt.items()]
    result = ForwardPass([np.zeros(0, dtype=np.float32)] * len(prompts), None)
    means: list[np.ndarray | None] = [None] * len(prompts)
    for window in _windows(policy, groups, continuations, vocab):
        members = [i for g in window for i in groups[g][1]]
        hidden, logits, prompt_mean = _read(policy, [groups[g][0] for g in window],
                                            [len(groups[g][1]) for g in window],
                                            [list(continuations[i]) for i in members], prompt_means)
        result.tokens += sum(len(groups[g][0]) for g in window) + sum(max(len(continuations[i]) - 1, 0)
                                                                     for i in members)
        if prompt_mean is not None:
            for i, mean in zip(members, prompt_mean):
                means[i] = mean
        if hidden is None:
            continue
        conts = [list(continuations[i]) for i in members]
        y = torch.tensor([t for c in conts for t in c], dtype=torch.long, device=logits.device)
        logp_all = torch.log_softmax(logits.float(), -1)
        token_logp = logp_all.gather(-1, y.unsqueeze(1)).squeeze(1).cpu().numpy()
        offsets = np.cumsum([0] + [len(c) for c in conts])
        for r, i in enumerate(members):
            result.logps[i] = token_logp[offsets[r]:offsets[r + 1]]
        if weights is not None:
            p = (logp_all if temperature == 1.0 else torch.log_softmax(logits.float() / temperature, -1)).exp()
            _add_head_terms(result.head, hidden.float(), p, y, members, conts, weights, segments, sketch, temperature)
    if prompt_means:
        result.prompt_means = np.stack(means) if means else np.zeros((0, 0))
    return result


def _read(policy, prompts: list[list[int]], repeats: list[int], conts: list[list[int]], prompt_means: bool):
    """Distinct prompts once (keeping their key/value cache), then every continuation after its
    prompt's cache, in runs of similar length. Returns, for every continuation token in order, the
    final hidden state and the logits of the position that predicts it (None when there are none),
    and per row the mean hidden state over its prompt's tokens (None unless asked)."""
    model, device = policy.model, policy.device
    ids, mask = policy._left_pad(prompts)
    out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=True,
                output_hidden_states=True, logits_to_keep=1)
    row_prompt = torch.repeat_interleave(torch.arange(len(prompts), device=device),
                                         torch.tensor(repeats, device=device))
    final = out.hidden_states[-1]
    means = None
    if prompt_means:
        inside = mask.unsqueeze(-1).to(final.dtype)
        means = ((final * inside).sum(1) / inside.sum(1).clamp(min=1)).float().cpu().numpy()[row_prompt.cpu().numpy()]
    lengths = [len(c) for c in conts]
    offsets = np.cumsum([0] + lengths)
    if not offsets[-1]:
        return None, None, means
    hidden = final.new_empty((int(offsets[-1]), final.shape[-1]))
    logits = out.logits.new_empty((int(offsets[-1]), out.logits.shape[-1]))
    started = [r for r, n in enumerate(lengths) if n]  # a continuation's first token: read off the prompt
    first = torch.from_numpy(offsets[started]).to(device)
    hidden[first] = final[row_prompt[started], -1]
    logits[first] = out.logits[row_prompt[started], -1]
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    longer = sorted((r for r, n in enumerate(lengths) if n > 1), key=lambda r: lengths[r])
    runs = _chunks([lengths[r] - 1 for r in longer])
    for k, (a, b) in enumerate(runs):  # every later token but the last is read after the cache
        rows = longer[a:b]
        later = np.array([lengths[r] - 1 for r in rows])  # tokens read after the cache, per row
        row_of = np.repeat(np.arange(len(rows)), later)
        col_of = np.arange(later.sum()) - np.repeat(np.cumsum(later) - later, later)
        cont_ids = np.full((len(rows), int(later.max())), policy.pad_id, dtype=np.int64)
        cont_ids[row_of, col_of] = np.concatenate([conts[r][:-1] for r in rows])
        cont_mask = np.zeros(cont_ids.shape, dtype=np.int64)
        cont_mask[row_of, col_of] = 1
        run_cache = cache if k == len(runs) - 1 else copy.deepcopy(cache)
        run_cache.batch_select_indices(row_prompt[rows])
        after = model(input_ids=torch.from_numpy(cont_ids).to(device), **{_cache_keyword(model): run_cache},
                      attention_mask=torch.cat([mask[row_prompt[rows]], torch.from_numpy(cont_mask).to(device)], 1),
                      position_ids=mask.sum(1)[row_prompt[rows]][:, None]
                      + torch.arange(cont_ids.shape[1], device=device)[None, :],
                      use_cache=False, output_hidden_states=True)
        target = torch.from_numpy(np.repeat(offsets[rows] + 1, later) + col_of).to(device)
        source = (torch.from_numpy(row_of).to(device), torch.from_numpy(col_of).to(device))
        hidden[target] = after.hidden_states[-1][source]
        logits[target] = after.logits[source]
    return hidden, logits, means


def _cache_keyword(model) -> str:
    """transformers 5 names the key/value cache argument `cache`; 4.x names it `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


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
    lengths = [len(c) for c in conts]
    w = torch.as_tensor(
        np.concatenate([
            np.zeros(n, dtype=np.float32) if segments[i] is None else np.asarray(weights[i], dtype=np.float32)
            for i, n in zip(window, lengths)
        ])
    ).unsqueeze(1).to(device)
    if sketch is None:
        u = -p
        u[torch.arange(len(y), device=device), y] += 1.0
    else:
        sketch = sketch.to(device)
        u = sketch[:, y].T - p @ sketch.T
    token_segment = np.repeat(np.array([segments[i] for i in window], dtype=object), lengths)
    for segment in dict.fromkeys(token_segment.tolist()):
        if segment is None:
            continue
        chosen = torch.as_tensor(np.flatnonzero(token_segment == segment), device=device)
        term = (w[chosen] * u[chosen]).T @ h[chosen] / temperature
        head[segment] = term if segment not in head else head[segment] + term
