"""TAP inside your own TRL GRPO script: choose which cohort each generation batch trains on.

    curriculum = TAPCurriculum(pool, tokenizer, score=adv_spread)        # pool: long-form cohorts table
    trainer = TAPGRPOTrainer(model=model, reward_funcs=reward, args=grpo_args, processing_class=tokenizer,
                             curriculum=curriculum, dynamic_sampling=True)
    trainer.train()                                                       # curriculum.history: what was chosen

When a generation batch is due, the trainer draws `candidates` cohorts from the pool, samples
rollouts of them with its *current* model (after the previous step's update: the choice is made
where TRL generates, not where accelerate's data loader prefetches), reads their R features and
trains on the best-scoring one (its items, each repeated num_generations times, as TRL's
RepeatSampler lays them out). `score=None` keeps the candidates' random order (no TAP ranking).

The cascade (issue 31): with `short_run=short_run_scorer(tokenizer, probe, settings)` the best
`cascade_top` candidates by score each get a short GRPO run on a copy of the current model (a fresh
optimizer; the trainer's model is left as it is), and the best short run's lift on the probe is
trained on. `tap choice` measures what that buys over TAP alone and what it costs.

Dynamic sampling (DAPO): groups whose rewards are all equal carry no advantage; they are dropped
and the batch is refilled with the items of the next-ranked candidates (then fresh candidates)
until it holds a cohort's worth of groups, or `max_extra_prompts` more prompts were generated. A
batch still short at the cap is filled with dropped groups whose completion mask is zeroed, so they
add nothing to the loss or its token count. The counts go to the history and to the trainer's logs
(tap/dropped_groups, tap/extra_prompts).

Requires per_device_train_batch_size x gradient_accumulation_steps = cohort size x num_generations
(one cohort per generation batch) and one process. This module adapts TRL, so it imports `trl`
(as labels/trl_run.py does).
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
                 verifier: str = "exact", seed: int = 0,
                 short_run: Callable[[object, list[pd.DataFrame]], list[float]] | None = None, cascade_top: int = 2):
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
        if short_run is not None and (score is None or cascade_top < 1):
            raise ValueError("the cascade needs a score to rank by and cascade_top >= 1")
        self.short_run = short_run
        self.cascade_top = cascade_top
        self.rng = random.Random(seed)
        self.history: list[dict] = []

    def dataset(self):
        """The pool as the trainer's dataset: one row per item (prompt, gold, cohort_id)."""
        from datasets import Dataset

        return Dataset.from_pandas(self.pool[["prompt", "gold", "cohort_id"]], preserve_index=False)

    def rank(self, model) -> list[str]:
        """Score fresh candidates against `model` as it is now; record the choice; return the
        candidates best first (random order when `score` is None)."""
        from tap.features.compute import build_features
        from tap.policy.hf import HFPolicy
        from tap.rollouts import rollout_cohorts

        ids = list(dict.fromkeys(self.pool.cohort_id))
        picked = self.rng.sample(ids, min(self.candidates, len(ids)))
        shorts: dict[str, float] = {}
        if self.score is None:
            scores = np.zeros(len(picked))
            order = list(range(len(picked)))
        else:
            items = self.pool[self.pool.cohort_id.isin(picked)]
            was_training = model.training
            model.eval()
            try:
                policy = HFPolicy(model, self.tokenizer, batch_size=512, device=next(model.parameters()).device)
                rollouts = rollout_cohorts(
                    policy,
                    items,
                    num_generations=self.num_generations,
                    max_new_tokens=self.max_new_tokens,
                    temperature=self.temperature,
                    seed=len(self.history),
                    verifier=self.verifier,
                )
                features = build_features(rollouts, {"R"}).set_index("cohort_id").loc[picked]
                scores = np.nan_to_num(np.asarray(self.score(features), float), nan=-np.inf)
                order = sorted(range(len(picked)), key=lambda i: -scores[i])  # stable: ties keep the random order
                if self.short_run is not None:
                    top = order[:self.cascade_top]
                    values = self.short_run(model, [self.pool[self.pool.cohort_id == picked[i]] for i in top])
                    shorts = {picked[i]: float(v) for i, v in zip(top, values)}
                    top = sorted(top, key=lambda i: -np.nan_to_num(shorts[picked[i]], nan=-np.inf))  # stable
                    order = top + order[self.cascade_top:]
            finally:
                model.train(was_training)
        self.history.append({"batch": len(self.history), "chosen": picked[order[0]], "candidates": picked,
                             "scores": [float(s) for s in scores], "short_runs": shorts})
        return [picked[i] for i in order]

    def choose(self, model) -> list[int]:
        """The dataset rows of the best of fresh candidates scored against `model`."""
        return self.rows(self.rank(model)[0])

    def rows(self, cohort_id: str) -> list[int]:
        return list(self.pool.index[self.pool.cohort_id == cohort_id])


def short_run_scorer(tokenizer, probe: pd.DataFrame, settings: dict, *, target: str = "lift_pass", seed: int = 0,
                     prompt_format=None) -> Callable[[object, list[pd.DataFrame]], list[float]]:
    """TAPCurriculum's `short_run`: the probe measured once on the current model, then each cohort
    GRPO-trained for settings["steps"] steps on a copy of it and scored by the probe's `target` lift
    (tap.experiments.cascade.short_run_lifts). `probe`: prompt, gold, subject (and verifier) columns;
    `settings`: label settings, e.g. `{**tap.config.LabelConfig().model_dump(), "steps": 1}`."""
    from tap.experiments.cascade import probe_summary, short_run_lifts
    from tap.policy.hf import HFPolicy

    def short_run(model, cohorts: list[pd.DataFrame]) -> list[float]:
        policy = HFPolicy(model, tokenizer, device=next(model.parameters()).device, prompt_format=prompt_format)
        before = probe_summary(policy, probe, settings)
        return [short_run_lifts(policy, cohort, settings, seed, probe, before)[target] for cohort in cohorts]

    return short_run


class TAPCohortSampler(Sampler):
    """The generation batches' slots in TRL's RepeatSampler layout. Their rows are placeholders: the
    trainer replaces them with the chosen cohort when it generates (so the choice sees the model
    after the previous update, whatever the data loader fetched ahead)."""

    def __init__(self, cohort_size: int, num_generations: int, batches: int, repeat_count: int):
        self.cohort_size = cohort_size
        self.num_generations = num_generations
        self.batches = batches
        self.repeat_count = repeat_count

    def __iter__(self):
        for _ in range(self.batches):
            for _ in range(self.repeat_count):
                for index in range(self.cohort_size):
                    for _ in range(self.num_generations):
                        yield index

    def __len__(self) -> int:
        return self.batches * self.cohort_size * self.num_generations * self.repeat_count


_LEFT_PADDED = ("prompt_ids", "prompt_mask")


def _merge(parts: list[dict], groups: list[tuple[int, int]], g: int, pad_id: int) -> dict:
    """One generation batch from the groups (part, group index) of several TRL outputs: per-completion
    tensors concatenated (prompts left-padded, completions right-padded to the longest)."""
    import torch

    merged = {}
    for key, value in parts[0].items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0:
            continue
        pieces = [parts[p][key][k * g:(k + 1) * g] for p, k in groups]
        if value.dim() == 2:
            width = max(x.shape[1] for x in pieces)
            fill = pad_id if key.endswith("_ids") else 0
            pieces = [
                torch.nn.functional.pad(
                    x, (width - x.shape[1], 0) if key in _LEFT_PADDED else (0, width - x.shape[1]), value=fill
                )
                for x in pieces
            ]
        merged[key] = torch.cat(pieces)
    return merged


class TAPGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose generation batches are the cohorts a TAPCurriculum chooses, optionally with
    dynamic sampling (all-equal groups dropped and refilled, at most `max_extra_prompts` extra
    prompts generated per batch; default: one more cohort's worth)."""

    def __init__(
        self,
        *args,
        curriculum: TAPCurriculum,
        dynamic_sampling: bool = False,
        max_extra_prompts: int | None = None,
        **kwargs,
    ):
        self.curriculum = curriculum
        self.dynamic_sampling = dynamic_sampling
        self.max_extra_prompts = curriculum.cohort_size if max_extra_prompts is None else max_extra_prompts
        if self.max_extra_prompts < 0:
            raise ValueError(f"max_extra_prompts must be >= 0, got {max_extra_prompts}")
        self._last_rewards = None
        super().__init__(*args, train_dataset=curriculum.dataset(), **kwargs)
        per_batch = self.args.generation_batch_size // self.num_generations
        if per_batch != curriculum.cohort_size or self.num_generations != curriculum.num_generations:
            raise ValueError(
                f"one cohort per generation batch needs generation_batch_size = cohort size x num_generations "
                f"= {curriculum.cohort_size} x {curriculum.num_generations}; got {self.args.generation_batch_size} "
                f"with num_generations {self.num_generations}"
            )
        if self.accelerator.num_processes != 1:
            raise ValueError("TAPGRPOTrainer runs on one process (the chosen cohort is the whole generation batch)")

    def _get_train_sampler(self, dataset=None) -> Sampler:
        batches = max(1, len(self.curriculum.pool) // self.curriculum.cohort_size)
        return TAPCohortSampler(self.curriculum.cohort_size, self.num_generations, batches,
                                self.num_iterations * self.args.steps_per_generation)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards = (rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)).nansum(
            dim=1
        )
        return rewards_per_func

    def _tap_generate(self, cohort_ids: list[str], limit: int | None = None) -> tuple[dict, list[bool], list[str]]:
        """TRL's generation and scoring of the items of `cohort_ids` (at most `limit` items): its
        output, whether each group's rewards vary, and each group's cohort."""
        rows, owners = [], []
        for cohort_id in cohort_ids:
            for index in self.curriculum.rows(cohort_id):
                rows.append(index)
                owners.append(cohort_id)
        rows, owners = rows[:limit], owners[:limit]
        inputs = [self.train_dataset[i] for i in rows for _ in range(self.num_generations)]
        output = super()._generate_and_score_completions(inputs)
        rewards = self._last_rewards.view(-1, self.num_generations)
        varies = _varies(rewards)
        return output, varies, owners

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:  # evaluation batches are the eval dataset's own
            return super()._generate_and_score_completions(inputs)
        ranked = self.curriculum.rank(self.accelerator.unwrap_model(self.model))
        record = self.curriculum.history[-1]
        output, varies, owners = self._tap_generate(ranked[:1])
        need = self.curriculum.cohort_size
        if not self.dynamic_sampling:
            record.update(trained=sorted(set(owners)))
            return output
        parts, kept, dropped = (
            [output],
            [(0, k) for k, v in enumerate(varies) if v],
            [(0, k) for k, v in enumerate(varies) if not v],
        )
        trained = [owners[k] for k, v in enumerate(varies) if v]
        extra, queue = 0, ranked[1:]
        while len(kept) < need and extra < self.max_extra_prompts:
            if not queue:
                queue = self.curriculum.rank(self.accelerator.unwrap_model(self.model))
                self.curriculum.history.pop()  # a refill draw, not a batch's choice
            output, varies, owners = self._tap_generate([queue.pop(0)], limit=self.max_extra_prompts - extra)
            extra += len(varies)
            parts.append(output)
            kept += [(len(parts) - 1, k) for k, v in enumerate(varies) if v]
            dropped += [(len(parts) - 1, k) for k, v in enumerate(varies) if not v]
            trained += [owners[k] for k, v in enumerate(varies) if v]
        masked = max(0, need - len(kept))
        groups = kept[:need] + dropped[:masked]
        batch = _merge(parts, groups, self.num_generations, self.processing_class.pad_token_id)
        if masked:  # short at the cap: dropped groups fill the slots with no gradient and no tokens counted
            batch["completion_mask"][-masked * self.num_generations:] = 0
            batch["advantages"][-masked * self.num_generations:] = 0
        batch["num_items_in_batch"] = batch["completion_mask"].sum()
        record.update(trained=trained[:need], dropped_groups=len(dropped), extra_prompts=extra, masked_groups=masked,
                      cap_reached=len(kept) < need)
        self._metrics["train"]["tap/dropped_groups"].append(float(len(dropped)))
        self._metrics["train"]["tap/extra_prompts"].append(float(extra))
        return batch


def _varies(rewards) -> list[bool]:
    """Per group (a row of rewards): do its scored completions' rewards differ? (NaN: unscorable)"""
    import torch

    high = torch.nan_to_num(rewards, nan=-float("inf")).max(dim=1).values
    low = torch.nan_to_num(rewards, nan=float("inf")).min(dim=1).values
    return [bool(h - lo > 1e-9) for h, lo in zip(high, low)]
