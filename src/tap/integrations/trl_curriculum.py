"""TAP inside your own TRL GRPO script: choose which cohort each generation batch trains on.

    curriculum = TAPCurriculum(pool, tokenizer, score=adv_spread)        # pool: long-form cohorts table
    trainer = TAPGRPOTrainer(model=model, reward_funcs=reward, args=grpo_args, processing_class=tokenizer,
                             curriculum=curriculum)
    trainer.train()                                                       # curriculum.history: what was chosen

Before each generation batch the sampler draws `candidates` cohorts from the pool, samples
rollouts of them with the trainer's *current* model, reads their R features and trains on the
best-scoring one (its items, each repeated num_generations times, exactly as TRL's RepeatSampler
lays them out). One caveat, from accelerate: its data loader fetches one batch ahead, so the choice
for step t + 1 is made while step t's batch is handed over, i.e. with the model as it was before
step t's update (a one-step lag).

Requires per_device_train_batch_size x gradient_accumulation_steps = cohort size x num_generations
(one cohort per generation batch). This module adapts TRL, so it imports `trl` (as labels/trl_run.py does).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pandas as pd
from torch.utils.data import Sampler
from trl import GRPOTrainer


def adv_spread(features: pd.DataFrame) -> np.ndarray:
    """The advantage-spread heuristic: mean within-group std of the rewards (higher = more to learn)."""
    return features["adv_std"].to_numpy(float)


class TAPCurriculum:
    """A pool of cohorts, a scorer, and the record of what was chosen when."""

    def __init__(self, pool: pd.DataFrame, tokenizer, *, score: Callable[[pd.DataFrame], np.ndarray] = adv_spread,
                 candidates: int = 8, num_generations: int = 8, max_new_tokens: int = 8, temperature: float = 1.0,
                 verifier: str = "exact", seed: int = 0):
        sizes = pool.groupby("cohort_id").size()
        if sizes.nunique() != 1:
            raise ValueError(f"every cohort needs the same number of items (got sizes {sorted(set(sizes))})")
        self.pool = pool.reset_index(drop=True)
        self.cohort_size = int(sizes.iloc[0])
        self.tokenizer = tokenizer
        self.score = score
        self.candidates = candidates
        self.num_generations = num_generations
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.verifier = verifier
        self.rng = random.Random(seed)
        self.history: list[dict] = []

    def dataset(self):
        """The pool as the trainer's dataset: one row per item (prompt, gold, cohort_id)."""
        from datasets import Dataset

        return Dataset.from_pandas(self.pool[["prompt", "gold", "cohort_id"]], preserve_index=False)

    def choose(self, model) -> list[int]:
        """Score fresh candidates against `model` as it is now; return the dataset rows of the best."""
        from tap.features.compute import build_features
        from tap.policy.hf import HFPolicy
        from tap.rollouts import rollout_cohorts

        ids = list(dict.fromkeys(self.pool.cohort_id))
        picked = self.rng.sample(ids, min(self.candidates, len(ids)))
        items = self.pool[self.pool.cohort_id.isin(picked)]
        was_training = model.training
        model.eval()
        try:
            policy = HFPolicy(model, self.tokenizer, batch_size=512, device=next(model.parameters()).device)
            rollouts = rollout_cohorts(policy, items, num_generations=self.num_generations, max_new_tokens=self.max_new_tokens,
                                       temperature=self.temperature, seed=len(self.history), verifier=self.verifier)
        finally:
            model.train(was_training)
        features = build_features(rollouts, {"R"}).set_index("cohort_id").loc[picked]
        scores = np.nan_to_num(np.asarray(self.score(features), float), nan=-np.inf)
        chosen = picked[int(np.argmax(scores))]
        self.history.append({"batch": len(self.history), "chosen": chosen, "candidates": picked,
                             "scores": [float(s) for s in scores]})
        return list(self.pool.index[self.pool.cohort_id == chosen])


class TAPCohortSampler(Sampler):
    """TRL's RepeatSampler layout, with each generation batch's prompts chosen by the curriculum."""

    def __init__(self, curriculum: TAPCurriculum, model_of: Callable[[], object], batches: int, repeat_count: int):
        self.curriculum = curriculum
        self.model_of = model_of
        self.batches = batches
        self.repeat_count = repeat_count

    def __iter__(self):
        for _ in range(self.batches):
            chunk = self.curriculum.choose(self.model_of())
            for _ in range(self.repeat_count):
                for index in chunk:
                    for _ in range(self.curriculum.num_generations):
                        yield index

    def __len__(self) -> int:
        return self.batches * self.curriculum.cohort_size * self.curriculum.num_generations * self.repeat_count


class TAPGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose generation batches are the cohorts a TAPCurriculum chooses."""

    def __init__(self, *args, curriculum: TAPCurriculum, **kwargs):
        self.curriculum = curriculum
        super().__init__(*args, train_dataset=curriculum.dataset(), **kwargs)
        per_batch = self.args.generation_batch_size // self.num_generations
        if per_batch != curriculum.cohort_size or self.num_generations != curriculum.num_generations:
            raise ValueError(f"one cohort per generation batch needs generation_batch_size = cohort size x num_generations "
                             f"= {curriculum.cohort_size} x {curriculum.num_generations}; got {self.args.generation_batch_size} "
                             f"with num_generations {self.num_generations}")

    def _get_train_sampler(self, dataset=None) -> Sampler:
        batches = max(1, len(self.curriculum.pool) // self.curriculum.cohort_size)
        return TAPCohortSampler(self.curriculum, lambda: self.accelerator.unwrap_model(self.model), batches,
                                self.num_iterations * self.args.steps_per_generation)
