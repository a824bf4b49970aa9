"""TAP as a verl curriculum sampler: point verl's data sampler at this file.

    data:
      sampler:
        class_path: /path/to/site-packages/tap/integrations/verl_sampler.py   # or: pkg://tap.integrations.verl_sampler
        class_name: TAPCurriculumSampler
      dataloader_num_workers: 0          # verl requires it for curriculum samplers
      tap:                               # optional; the defaults are shown
        cohort_key: cohort_id            # a dataset column naming each row's cohort (else: consecutive chunks)
        cohort_size: 8                   # the chunk size when there is no cohort column
        candidates: 8                    # cohorts scored per choice
        score: adv_spread                # or "module:function" taking an R-features table, returning scores
        index_key: index                 # a non-tensor batch column holding the dataset row, when there is one
        seed: 0

verl's trainer calls `update(batch)` after every step with the trained batch (`DataProto`). The
sampler reads each sample's sequence reward (token_level_scores summed over the response) and groups
the samples of one prompt (their `uid`); it maps a prompt back to its dataset row by `index_key`
when the batch carries it, else by the order in which the sampler yielded the rows (verl keeps the
prompts' order and repeats each n times, interleaved). Each row keeps its latest group of rewards.

To fill a training batch the sampler draws `candidates` cohorts, ranks them by the score of the R
features of their rows' latest groups (cohorts never trained on first: nothing is known about
them), and yields the rows of the best ones. verl's sampler does not see the live model, so the
features are as recent as each row's last training step; for scores against the current model, run
an extra rollout of the candidates (`tap rollout` / `tap score` with the checkpoint).

Without verl installed the module still imports (its base class is then torch's Sampler), so TAP's
tests check it against a stand-in of verl's interface.
"""

from __future__ import annotations

import importlib
import random
from collections import deque
from collections.abc import Callable, Sized

import numpy as np
import pandas as pd
from torch.utils.data import Sampler

try:
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler as _Base
except ImportError:  # verl is not a dependency: the same interface, on torch's Sampler
    _Base = Sampler

DEFAULTS = {
    "cohort_key": "cohort_id",
    "cohort_size": 8,
    "candidates": 8,
    "score": "adv_spread",
    "index_key": "index",
    "seed": 0,
}


def _option(config, key: str):
    tap = config.get("tap", None) if hasattr(config, "get") else None
    value = tap.get(key, None) if tap is not None else None
    return DEFAULTS[key] if value is None else value


def _score_function(spec: str) -> Callable[[pd.DataFrame], np.ndarray]:
    if spec == "adv_spread":
        return lambda features: features["adv_std"].to_numpy(float)
    module, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"data.tap.score must be 'adv_spread' or 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module), name)


def _column(data_source, key: str):
    frame = getattr(data_source, "dataframe", None)
    if frame is not None and key in getattr(frame, "column_names", getattr(frame, "columns", ())):
        return list(frame[key])
    return None


class TAPCurriculumSampler(_Base):
    """verl `AbstractCurriculumSampler`: yields the rows of the best-scoring candidate cohorts."""

    def __init__(self, data_source: Sized, data_config):
        self.data_source = data_source
        self.n = len(data_source)
        cohorts = _column(data_source, _option(data_config, "cohort_key"))
        size = int(_option(data_config, "cohort_size"))
        self.cohort_of = (
            [str(c) for c in cohorts] if cohorts is not None else [f"chunk{i // size:06d}" for i in range(self.n)]
        )
        self.rows_of: dict[str, list[int]] = {}
        for row, cohort in enumerate(self.cohort_of):
            self.rows_of.setdefault(cohort, []).append(row)
        self.candidates = int(_option(data_config, "candidates"))
        self.score = _score_function(str(_option(data_config, "score")))
        self.index_key = str(_option(data_config, "index_key"))
        self.rng = random.Random(int(_option(data_config, "seed")))
        self.groups: dict[int, np.ndarray] = {}  # row -> its latest group's rewards
        self.yielded: deque[int] = deque()  # rows handed out, not yet seen in an update
        self.history: list[dict] = []

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        served = 0
        while served < self.n:
            for row in self.rows_of[self.choose()]:
                self.yielded.append(row)
                served += 1
                yield row
                if served >= self.n:
                    return

    def features(self, cohort_ids: list[str]) -> pd.DataFrame:
        """R features of the cohorts from their rows' latest groups (a cohort with none: NaN)."""
        from tap.features.groups import CohortRollouts, Group
        from tap.features.registry import compute_rollout_features

        cohorts = []
        for cohort_id in cohort_ids:
            groups = [self.groups[r] for r in self.rows_of[cohort_id] if r in self.groups]
            cohorts.append(CohortRollouts(cohort_id, tuple(
                Group(rewards=g, answers=(None,) * len(g), n_tokens=np.zeros(len(g)), truncated=np.zeros(len(g), bool),
                      logprobs=(), entropies=()) for g in groups)))
        seen = [c for c in cohorts if c.groups]
        table = (
            compute_rollout_features(seen, {"R"}).set_index("cohort_id")
            if seen
            else pd.DataFrame(index=pd.Index([], name="cohort_id"))
        )
        return table.reindex(cohort_ids)

    def choose(self) -> str:
        """The next cohort: unseen candidates first (random order), then the best score."""
        ids = list(self.rows_of)
        picked = self.rng.sample(ids, min(self.candidates, len(ids)))
        features = self.features(picked)
        unseen = features["adv_std"].isna().to_numpy() if "adv_std" in features else np.ones(len(picked), bool)
        scores = np.full(len(picked), -np.inf)
        if (~unseen).any():
            scores[~unseen] = np.nan_to_num(np.asarray(self.score(features[~unseen]), float), nan=-np.inf)
        scores[unseen] = np.inf
        best = int(np.argmax(scores))
        self.history.append({"chosen": picked[best], "candidates": picked, "scores": [float(s) for s in scores]})
        return picked[best]

    def update(self, batch) -> None:
        """After a training step: record each prompt's group of sequence rewards under its row."""
        rewards = batch.batch["token_level_scores"].sum(-1).detach().float().cpu().numpy()
        uids = [str(u) for u in batch.non_tensor_batch["uid"]]
        order = list(dict.fromkeys(uids))
        index = batch.non_tensor_batch.get(self.index_key) if self.index_key else None
        rows = {}
        for uid in order:
            if index is not None:
                rows[uid] = int(index[uids.index(uid)])
                if rows[uid] in self.yielded:
                    self.yielded.remove(rows[uid])
            elif self.yielded:
                rows[uid] = self.yielded.popleft()
        for uid, row in rows.items():
            self.groups[row] = np.array([r for u, r in zip(uids, rewards) if u == uid], float)
