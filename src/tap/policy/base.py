"""The Policy protocol: what every rollout backend (transformers, later vLLM) provides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from tap.types import Completion


class Policy(Protocol):
    """A causal LM that TAP samples from and scores with."""

    def sample(
        self, prompts: Sequence[str], num_generations: int, *, max_new_tokens: int, temperature: float, seed: int
    ) -> list[list[Completion]]:
        """G sampled completions per prompt, with per-token log-probs and entropies."""
        ...

    def score_gold(self, prompts: Sequence[str], golds: Sequence[str]) -> np.ndarray:
        """Teacher-forced gold-answer NLL per item: mean over the answer's tokens and the end
        token of -log p(token | prompt, earlier answer tokens), in nats."""
        ...

    def greedy(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[str]:
        """The greedy completion text of each prompt."""
        ...
