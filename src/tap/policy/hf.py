"""Transformers backend of the Policy protocol: one code path for the tiny model and Qwen3-1.7B."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from tap.policy.prompting import PromptFormat, answer_ids, cut_at_stop
from tap.types import Completion


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


class HFPolicy:
    """Samples and scores with a `transformers` causal LM.

    Sampling is plain ancestral sampling from softmax(logits / temperature): top-k and top-p are
    switched off explicitly (a model's generation config may set them), so the stored log-probs
    are exactly those of the distribution the tokens were drawn from.

    `prompt_format` decides plain text or the chat template (shared with the TRL label runs);
    `stop` strings end a completion early (its text is cut before the stop string, its tokens keep
    the stop string's, and its finish_reason is "stop").
    """

    def __init__(
        self, model, tokenizer, *, batch_size: int = 512, device: str | torch.device = "cpu",
        prompt_format: PromptFormat | None = None, stop: Sequence[str] = (),
    ):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.prompt_format = prompt_format or PromptFormat()
        self.stop = tuple(s for s in stop if s)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, batch_size: int = 512, device: str = "cpu", dtype=None, attn_implementation: str = "",
        prompt_format: PromptFormat | None = None, stop: Sequence[str] = (),
    ) -> "HFPolicy":
        from tap.policy.load import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(path, dtype=dtype, attn_implementation=attn_implementation)
        return cls(model, tokenizer, batch_size=batch_size, device=device, prompt_format=prompt_format, stop=stop)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # ------------------------------------------------------------------ encoding
    def encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        return self.prompt_format.encode(self.tokenizer, prompts)

    def encode_answers(self, answers: Sequence[str]) -> list[list[int]]:
        """Each answer's token ids and the end token (a gold answer as the policy would emit it)."""
        return answer_ids(self.tokenizer, answers, self.eos_id)

    def _left_pad(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if len(seq):
                ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
                mask[row, width - len(seq):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _completion_ids(self, generated: torch.Tensor) -> list[tuple[list[int], str, str]]:
        """Cut each generated row after its first end token or stop string: (ids, why, text)."""
        out = []
        for row in generated.tolist():
            ids, reason = (row[: row.index(self.eos_id) + 1], "eos") if self.eos_id in row else (row, "length")
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if self.stop:
                text, stopped = cut_at_stop(text, self.stop)
                if stopped:
                    ids, reason = self._through_stop(ids), "stop"
            out.append((ids, reason, text))
        return out

    def _through_stop(self, ids: list[int]) -> list[int]:
        """The shortest prefix of `ids` whose text holds a stop string (binary search on decode)."""
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if cut_at_stop(self.tokenizer.decode(ids[:mid], skip_special_tokens=True), self.stop)[1]:
                hi = mid
            else:
                lo = mid + 1
        return ids[:lo]

    def _stop_kwargs(self) -> dict:
        return {"stop_strings": list(self.stop), "tokenizer": self.tokenizer} if self.stop else {}

    # ------------------------------------------------------------------ protocol
    @torch.no_grad()
    def sample(
        self,
        prompts: Sequence[str],
        num_generations: int,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[list[Completion]]:
        encoded = self.encode_prompts(prompts)
        flat = [ids for ids in encoded for _ in range(num_generations)]
        completions: list[Completion] = []
        per_batch = max(num_generations, self.batch_size - self.batch_size % num_generations)
        for index, part in enumerate(_batches(len(flat), per_batch)):
            completions += self._sample_batch(flat[part], max_new_tokens, temperature, seed * 1_000_003 + index)
        return [completions[i * num_generations:(i + 1) * num_generations] for i in range(len(prompts))]

    def _sample_batch(
        self, prompt_ids: list[list[int]], max_new_tokens: int, temperature: float, seed: int
    ) -> list[Completion]:
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
                **self._stop_kwargs(),
            )
        generated = out.sequences[:, input_ids.shape[1]:]
        token_logp = torch.empty(generated.shape, dtype=torch.float32, device=generated.device)
        entropy = torch.empty_like(token_logp)
        for t, step in enumerate(
            out.logits
        ):  # one step at a time: (B, T, V) in float32 would not fit a 150k vocabulary
            logp = torch.log_softmax(step.float() / temperature, dim=-1)
            token_logp[:, t] = logp.gather(-1, generated[:, t:t + 1]).squeeze(-1)
            entropy[:, t] = -(logp.exp() * logp).sum(-1)
        token_logp, entropy = token_logp.cpu().numpy(), entropy.cpu().numpy()
        result = []
        for row, (ids, reason, text) in enumerate(self._completion_ids(generated.cpu())):
            n = len(ids)
            result.append(
                Completion(
                    text=text,
                    token_ids=tuple(ids),
                    logprobs=tuple(float(x) for x in token_logp[row, :n]),
                    entropies=tuple(float(x) for x in entropy[row, :n]),
                    finish_reason=reason,
                )
            )
        return result

    def continuation_logps(self, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]], *,
                           temperature: float = 1.0) -> list[torch.Tensor]:
        """log p of each continuation token given its prompt (logits / `temperature`, as TRL's loss
        reads them), one forward pass per batch; differentiable when gradients are enabled (the
        gradient features use that)."""
        out: list[torch.Tensor] = []
        for part in _batches(len(prompt_ids), self.batch_size):
            seqs = [list(p) + list(c) for p, c in zip(prompt_ids[part], continuation_ids[part])]
            ids, mask = self._left_pad(seqs)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            longest = max(len(c) for c in continuation_ids[part])  # continuations sit at the right end
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=longest + 1
            ).logits.float()
            if temperature != 1.0:
                logits = logits / temperature
            targets = ids[:, ids.shape[1] - longest:]
            logp = (
                torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            )  # (B, longest)
            out += [logp[row, longest - len(cont):] for row, cont in enumerate(continuation_ids[part])]
        return out

    @torch.no_grad()
    def token_logprobs(
        self, prompt_ids: Sequence[Sequence[int]], continuation_ids: Sequence[Sequence[int]]
    ) -> list[np.ndarray]:
        """Teacher-forced log p of each continuation token given the prompt (temperature 1)."""
        return [lp.cpu().numpy() for lp in self.continuation_logps(prompt_ids, continuation_ids)]

    def score_gold(self, prompts: Sequence[str], golds: Sequence[str]) -> np.ndarray:
        prompt_ids = self.encode_prompts(prompts)
        gold_ids = self.encode_answers(golds)
        return np.array([-lp.mean() for lp in self.token_logprobs(prompt_ids, gold_ids)], dtype=np.float64)

    @torch.no_grad()
    def prompt_representations(self, prompts: Sequence[str]) -> np.ndarray:
        """Mean over each prompt's tokens of the final (normed) hidden state: (n_prompts, hidden)."""
        encoded = self.encode_prompts(prompts)
        out = []
        for part in _batches(len(encoded), self.batch_size):
            ids, mask = self._left_pad(encoded[part])
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            hidden = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True,
                                logits_to_keep=1).hidden_states[-1]
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
                **self._stop_kwargs(),
            )
            texts += [text for _, _, text in self._completion_ids(out[:, input_ids.shape[1]:].cpu())]
        return texts


def hf_policy(path: str | Path, policy: dict, stop=(), *, batch_size: int = 512, model=None, tokenizer=None):
    """An HFPolicy for a [policy] section given as a dict, over `model` or the weights at `path`."""
    from tap.policy.load import format_from, load_model_and_tokenizer, resolve_device

    if model is None:
        model, tokenizer = load_model_and_tokenizer(path, dtype=policy.get("dtype", "float32"),
                                                    attn_implementation=policy.get("attn_implementation", ""))
    return HFPolicy(model, tokenizer, batch_size=batch_size, device=resolve_device(policy.get("device", "auto")),
                    prompt_format=format_from(policy, tokenizer), stop=stop)
