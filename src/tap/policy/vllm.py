"""vLLM backend of the Policy protocol (`[policy] backend = "vllm"`): fast sampling on a GPU.

Imported only when chosen; vLLM itself needs a CUDA GPU and its own torch build, so it is not a
dependency of TAP and cannot run on the CPU machines TAP is tested on (see docs/gpu.md).
Prompts go in as token ids built by the same `PromptFormat` as the transformers backend and the
TRL label runs.

What it gives, and how it differs from the transformers backend:
- log-probs are those of the sampling distribution (the engine runs with
  `logprobs_mode="processed_logprobs"`, i.e. after temperature), as the hf backend stores;
- entropies are computed from the top `entropy_top_k` log-probs vLLM returns per step (renormalized),
  so they are an approximation of the full-vocabulary entropy, slightly low for flat distributions;
- gold NLL uses vLLM's prompt log-probs (temperature 1), as the hf backend's teacher forcing;
- the forward-pass and gradient features need hidden states and gradients, which vLLM does not give:
  TAP loads the same model with the transformers backend for them (`api.forward_policy`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tap.errors import TapInputError
from tap.policy.prompting import PromptFormat, answer_ids, cut_at_stop
from tap.types import Completion


def import_vllm():
    try:
        import vllm
    except ImportError:
        raise TapInputError("policy.backend = 'vllm' needs vLLM, which runs on CUDA GPUs only: pip install vllm "
                            "(or use policy.backend = 'hf')") from None
    return vllm


class VLLMPolicy:
    entropy_top_k = 20

    def __init__(
        self,
        llm,
        tokenizer,
        *,
        prompt_format: PromptFormat | None = None,
        stop: Sequence[str] = (),
        batch_size: int = 512,
        num_parameters: int = 0,
    ):
        self.llm = llm
        self.num_parameters = num_parameters
        self.tokenizer = tokenizer
        self.prompt_format = prompt_format or PromptFormat()
        self.stop = tuple(s for s in stop if s)
        self.batch_size = batch_size
        self.eos_id = tokenizer.eos_token_id

    @classmethod
    def from_config(cls, path: str, config, *, batch_size: int = 512) -> "VLLMPolicy":
        from tap.policy.load import count_parameters, prompt_format, stop_strings

        vllm = import_vllm()
        p = config.policy
        llm = vllm.LLM(model=str(path), dtype=p.dtype, gpu_memory_utilization=p.gpu_memory_utilization,
                       seed=config.rollout.seed, logprobs_mode="processed_logprobs")
        tokenizer = llm.get_tokenizer()
        return cls(
            llm,
            tokenizer,
            prompt_format=prompt_format(config, tokenizer),
            stop=stop_strings(config),
            batch_size=batch_size,
            num_parameters=count_parameters(path),
        )

    def encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        return self.prompt_format.encode(self.tokenizer, prompts)

    def encode_answers(self, answers: Sequence[str]) -> list[list[int]]:
        """Each answer's token ids and the end token (a gold answer as the policy would emit it)."""
        return answer_ids(self.tokenizer, answers, self.eos_id)

    def _inputs(self, ids: list[list[int]]) -> list[dict]:
        return [{"prompt_token_ids": list(x)} for x in ids]

    def sample(
        self,
        prompts: Sequence[str],
        num_generations: int,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> list[list[Completion]]:
        vllm = import_vllm()
        params = vllm.SamplingParams(
            n=num_generations, temperature=temperature, top_p=1.0, top_k=-1, min_p=0.0, max_tokens=max_new_tokens,
            seed=seed, logprobs=self.entropy_top_k, stop=list(self.stop) or None, include_stop_str_in_output=False,
        )
        outputs = self.llm.generate(self._inputs(self.encode_prompts(prompts)), params, use_tqdm=False)
        return [[self._completion(o) for o in request.outputs] for request in outputs]

    def _completion(self, out) -> Completion:
        ids = list(out.token_ids)
        logprobs, entropies = [], []
        for token, step in zip(ids, out.logprobs or []):
            logprobs.append(float(step[token].logprob))
            top = np.array([lp.logprob for lp in step.values()], dtype=np.float64)
            p = np.exp(top - np.logaddexp.reduce(top))  # renormalized over the top-k returned
            entropies.append(float(-(p * np.log(np.clip(p, 1e-300, None))).sum()))
        if out.finish_reason == "length":
            reason = "length"
        elif isinstance(out.stop_reason, str):
            reason = "stop"
        else:
            reason = "eos"
        text, _ = cut_at_stop(out.text, self.stop)
        return Completion(
            text=text, token_ids=tuple(ids), logprobs=tuple(logprobs), entropies=tuple(entropies), finish_reason=reason
        )

    def greedy(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[str]:
        vllm = import_vllm()
        params = vllm.SamplingParams(n=1, temperature=0.0, max_tokens=max_new_tokens, stop=list(self.stop) or None)
        outputs = self.llm.generate(self._inputs(self.encode_prompts(prompts)), params, use_tqdm=False)
        return [cut_at_stop(request.outputs[0].text, self.stop)[0] for request in outputs]

    def score_gold(self, prompts: Sequence[str], golds: Sequence[str]) -> np.ndarray:
        """Mean NLL of the gold answer's tokens and the end token, from vLLM's prompt log-probs."""
        vllm = import_vllm()
        prompt_ids = self.encode_prompts(prompts)
        gold_ids = self.encode_answers(golds)
        params = vllm.SamplingParams(n=1, temperature=1.0, max_tokens=1, prompt_logprobs=0)
        outputs = self.llm.generate(self._inputs([p + g for p, g in zip(prompt_ids, gold_ids)]), params, use_tqdm=False)
        nll = []
        for request, p, g in zip(outputs, prompt_ids, gold_ids):
            steps = request.prompt_logprobs[len(p):len(p) + len(g)]
            values = [-step[token].logprob for step, token in zip(steps, g)]
            nll.append(float(np.mean(values)) if values else math.nan)
        return np.array(nll, dtype=np.float64)
