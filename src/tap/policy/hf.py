"""Transformers backend of the Policy protocol: one code path for the tiny model and Qwen3-1.7B."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from tap.types import Completion


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


class HFPolicy:
    """Samples and scores with a `transformers` causal LM.

    Sampling is plain ancestral sampling from softmax(logits / temperature): top-k and top-p are
    switched off explicitly (a model's generation config may set them), so the stored log-probs
    are exactly those of the distribution the tokens were drawn from.
    """

    def __init__(self, model, tokenizer, *, batch_size: int = 512, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = torch.device(device)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id

    @classmethod
    def from_pretrained(cls, path: str | Path, *, batch_size: int = 512, device: str = "cpu", dtype=None) -> "HFPolicy":
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # TAP shows its own progress
        tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or torch.float32)
        return cls(model, tokenizer, batch_size=batch_size, device=device)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # ------------------------------------------------------------------ encoding
    def encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]

    def _left_pad(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if len(seq):
                ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
                mask[row, width - len(seq):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _completion_ids(self, generated: torch.Tensor) -> list[tuple[list[int], str]]:
        """Cut each generated row after its first end token; say why it stopped."""
        out = []
        for row in generated.tolist():
            if self.eos_id in row:
                out.append((row[: row.index(self.eos_id) + 1], "eos"))
            else:
                out.append((row, "length"))
        return out

    # ------------------------------------------------------------------ protocol
    @torch.no_grad()
    def sample(
        self, prompts: Sequence[str], num_generations: int, *, max_new_tokens: int, temperature: float = 1.0, seed: int = 0
    ) -> list[list[Completion]]:
        encoded = self.encode_prompts(prompts)
        flat = [ids for ids in encoded for _ in range(num_generations)]
        completions: list[Completion] = []
        per_batch = max(num_generations, self.batch_size - self.batch_size % num_generations)
        for index, part in enumerate(_batches(len(flat), per_batch)):
            completions += self._sample_batch(flat[part], max_new_tokens, temperature, seed * 1_000_003 + index)
        return [completions[i * num_generations:(i + 1) * num_generations] for i in range(len(prompts))]

    def _sample_batch(self, prompt_ids: list[list[int]], max_new_tokens: int, temperature: float, seed: int) -> list[Completion]:
        input_ids, mask = self._left_pad(prompt_ids)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                min_p=None,
                max_new_tokens=max_new_tokens,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
                output_logits=True,
                return_dict_in_generate=True,
            )
        generated = out.sequences[:, input_ids.shape[1]:]
        logits = torch.stack(out.logits, dim=1).float() / temperature  # (B, T, V)
        logp = torch.log_softmax(logits, dim=-1)
        token_logp = logp.gather(-1, generated.unsqueeze(-1)).squeeze(-1)
        entropy = -(logp.exp() * logp).sum(-1)
        token_logp, entropy = token_logp.cpu().numpy(), entropy.cpu().numpy()
        result = []
        for row, (ids, reason) in enumerate(self._completion_ids(generated.cpu())):
            n = len(ids)
            result.append(
                Completion(
                    text=self.tokenizer.decode(ids, skip_special_tokens=True),
                    token_ids=tuple(ids),
                    logprobs=tuple(float(x) for x in token_logp[row, :n]),
                    entropies=tuple(float(x) for x in entropy[row, :n]),
                    finish_reason=reason,
                )
            )
        return result

    def continuation_logps(self, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """log p of each continuation token given its prompt (temperature 1), one forward pass per
        batch; differentiable when gradients are enabled (the gradient features use that)."""
        out: list[torch.Tensor] = []
        for part in _batches(len(prompt_ids), self.batch_size):
            seqs = [list(p) + list(c) for p, c in zip(prompt_ids[part], continuation_ids[part])]
            ids, mask = self._left_pad(seqs)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            width = ids.shape[1]
            out += [logp[row, width - 1 - len(cont):] for row, cont in enumerate(continuation_ids[part])]
        return out

    @torch.no_grad()
    def token_logprobs(self, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Teacher-forced log p of each continuation token given the prompt (temperature 1)."""
        return [lp.cpu().numpy() for lp in self.continuation_logps(prompt_ids, continuation_ids)]

    def score_gold(self, prompts: Sequence[str], golds: Sequence[str]) -> np.ndarray:
        prompt_ids = self.encode_prompts(prompts)
        gold_ids = [self.tokenizer(g, add_special_tokens=False)["input_ids"] + [self.eos_id] for g in golds]
        return np.array([-lp.mean() for lp in self.token_logprobs(prompt_ids, gold_ids)], dtype=np.float64)

    @torch.no_grad()
    def prompt_representations(self, prompts: Sequence[str]) -> np.ndarray:
        """Mean over each prompt's tokens of the final (normed) hidden state: (n_prompts, hidden)."""
        encoded = self.encode_prompts(prompts)
        out = []
        for part in _batches(len(encoded), self.batch_size):
            ids, mask = self._left_pad(encoded[part])
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            hidden = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True).hidden_states[-1]
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * weights).sum(1) / weights.sum(1)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))

    @torch.no_grad()
    def greedy(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[str]:
        encoded = self.encode_prompts(prompts)
        texts: list[str] = []
        for part in _batches(len(encoded), self.batch_size):
            input_ids, mask = self._left_pad(encoded[part])
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
            )
            for ids, _ in self._completion_ids(out[:, input_ids.shape[1]:].cpu()):
                texts.append(self.tokenizer.decode(ids, skip_special_tokens=True))
        return texts
