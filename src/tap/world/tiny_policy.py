"""The tiny policy: a character tokenizer, a small Qwen3 model, and its SFT pretraining.

Pretraining is plain next-token cross-entropy on the answer tokens (and the end token) of clean
canonical items; it stops at the first evaluation where every subject's greedy probe accuracy
lies inside the configured band and their mean reaches `min_mean_accuracy`, so that GRPO has room
both to improve the policy and to make it worse.
"""

from __future__ import annotations

import math
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from tap.config import TapConfig
from tap.policy.hf import HFPolicy
from tap.probe import probe_metrics
from tap.types import SUBJECTS
from tap.world.pool import pretraining_stream

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
CHARS = [c for c in string.printable if c not in "\t\r\x0b\x0c"]


def build_tokenizer():
    """A character tokenizer (one token per printable ASCII character, newline included)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK] + CHARS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, padding_side="left"
    )


def build_model(config: TapConfig, tokenizer):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    m = config.model
    qwen = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=m.hidden_size,
        intermediate_size=m.intermediate_size,
        num_hidden_layers=m.num_hidden_layers,
        num_attention_heads=m.num_attention_heads,
        num_key_value_heads=m.num_key_value_heads,
        head_dim=m.head_dim,
        max_position_embeddings=m.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(config.world.seed)
    model = Qwen3ForCausalLM(qwen)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def probe_table(policy: HFPolicy, probe: pd.DataFrame, max_new_tokens: int = 8) -> pd.DataFrame:
    """Per-subject greedy accuracy and gold-answer NLL on the probe, subjects in canonical order."""
    table = probe_metrics(policy, probe, max_new_tokens=max_new_tokens)
    seen = [s for s in table.subject if s != "all"]
    order = [s for s in SUBJECTS if s in seen] + [s for s in seen if s not in SUBJECTS] + ["all"]
    return table.set_index("subject").loc[order].reset_index()


def behaviour_table(policy: HFPolicy, probe: pd.DataFrame, *, k: int = 8, max_new_tokens: int = 8) -> pd.DataFrame:
    """Per subject, which behaviour the policy follows on the probe. `divergent` is the share of items
    where the wrong procedure's answer differs from the gold; on those items `p_correct` and
    `p_wrong` are the mean sampling probabilities (temperature 1) of the gold and of the wrong
    answer (each with the end token), `greedy_correct` / `greedy_wrong` the shares of greedy answers
    that are each; over all items, `pass_1` is the expected accuracy and `pass_k` the chance that
    one of k samples is correct (both exact: an exact-match answer's probability is its sequence
    probability)."""
    prompts = policy.encode_prompts(list(probe.prompt))

    def probabilities(answers: list[str]) -> np.ndarray:
        return np.exp([float(lp.sum()) for lp in policy.token_logprobs(prompts, policy.encode_answers(answers))])

    p_gold = probabilities([str(g) for g in probe.gold])
    p_wrong = probabilities([str(w) for w in probe.wrong_answer])
    texts = [t.strip() for t in policy.greedy(list(probe.prompt), max_new_tokens=max_new_tokens)]
    table = pd.DataFrame({
        "subject": list(probe.subject), "divergent": (probe.wrong_answer != probe.gold).to_numpy(),
        "p_correct": p_gold, "p_wrong": p_wrong, "pass_k": 1 - (1 - p_gold) ** k,
        "greedy_correct": [t == str(g) for t, g in zip(texts, probe.gold)],
        "greedy_wrong": [t == str(w) for t, w in zip(texts, probe.wrong_answer)],
    })
    rows = []
    for subject, g in table.groupby("subject", sort=False):
        d = g[g.divergent]
        rows.append({"subject": subject, "items": len(g), "divergent": float(g.divergent.mean()),
                     "greedy_accuracy": float(g.greedy_correct.mean()), "pass_1": float(g.p_correct.mean()),
                     f"pass_{k}": float(g.pass_k.mean()),
                     "p_correct_divergent": float(d.p_correct.mean()) if len(d) else float("nan"),
                     "p_wrong_divergent": float(d.p_wrong.mean()) if len(d) else float("nan"),
                     "greedy_correct_divergent": float(d.greedy_correct.mean()) if len(d) else float("nan"),
                     "greedy_wrong_divergent": float(d.greedy_wrong.mean()) if len(d) else float("nan")})
    return pd.DataFrame(rows)


@dataclass
class PretrainResult:
    steps: int
    seconds: float
    in_band: bool
    table: pd.DataFrame
    history: list[dict] = field(default_factory=list)


def _batch(tokenizer, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded SFT batch; labels only on the answer and the end token."""
    seqs, labels = [], []
    for prompt, gold in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(gold, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        seqs.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id)
    lab = torch.full((len(seqs), width), -100)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (s, target) in enumerate(zip(seqs, labels)):
        ids[i, : len(s)] = torch.tensor(s)
        lab[i, : len(target)] = torch.tensor(target)
        mask[i, : len(s)] = 1
    return ids, mask, lab


def _lr_factor(step: int, warmup: int, total: int, final: float) -> float:
    """Linear warm-up to 1, then cosine decay to `final` at `total` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))


def _in_band(table: pd.DataFrame, band: tuple[float, float], min_mean: float) -> bool:
    subjects = table[table.subject != "all"]
    inside = subjects.accuracy.between(band[0], band[1]).all()
    return bool(inside and subjects.accuracy.mean() >= min_mean)


def pretrain(
    config: TapConfig,
    model,
    tokenizer,
    probe: pd.DataFrame,
    on_step: Callable[[int, dict | None], None] | None = None,
) -> PretrainResult:
    """SFT the model in place until the probe accuracy is inside the band (or max_steps)."""
    pre = config.pretrain
    torch.manual_seed(config.world.seed + 1)
    stream = pretraining_stream(config, set(probe.prompt))
    optim = torch.optim.AdamW(model.parameters(), lr=pre.lr, weight_decay=pre.weight_decay, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: _lr_factor(s, pre.warmup_steps, pre.max_steps, pre.final_lr_fraction)
    )
    policy = HFPolicy(model, tokenizer, batch_size=512)
    history: list[dict] = []
    start = time.perf_counter()
    table = None
    for step in range(1, pre.max_steps + 1):
        model.train()
        ids, mask, labels = _batch(tokenizer, [next(stream) for _ in range(pre.batch_size)])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        record = None
        if step % pre.eval_every == 0 or step == pre.max_steps:
            table = probe_table(policy, probe, max_new_tokens=config.rollout.max_new_tokens)
            record = {"step": step, "loss": loss.item(), **{f"acc_{r.subject}": r.accuracy for r in table.itertuples()}}
            history.append(record)
            if _in_band(table, pre.band, pre.min_mean_accuracy):
                if on_step:
                    on_step(step, record)
                return PretrainResult(step, time.perf_counter() - start, True, table, history)
        if on_step:
            on_step(step, record)
    model.eval()
    assert table is not None
    return PretrainResult(pre.max_steps, time.perf_counter() - start, False, table, history)
