"""TAP as a verl curriculum sampler: point verl's data sampler at this file.

    data:
      train_files: cohorts.verl.parquet  # written by `tap cohorts ... --verl` (or verl_dataset below)
      sampler:
        class_path: pkg://tap.integrations.verl_sampler   # or the file's path
        class_name: TAPCurriculumSampler
      dataloader_num_workers: 0          # verl requires it for curriculum samplers
      +tap:                              # optional (`+`: the key is not in verl's schema); the defaults are shown
        cohort_key: cohort_id            # a dataset column (or extra_info field) naming each row's cohort
        cohort_size: 8                   # else consecutive chunks of this many rows
        candidates: 8                    # cohorts scored per choice
        score: adv_spread                # or "module:function" taking an R-features table, returning scores
        row_key: tap_key                 # the extra_info field that names each row (unique)
        seed: 0

verl's curriculum samplers are those of verl up to 0.7.1: verl 0.8 removed `data.sampler` and the
`update(batch)` call (verl PR #6302), so later versions never call this class.

verl's trainer calls `update(batch)` after every step with the trained batch (`DataProto`). The
sampler reads each sample's sequence reward (token_level_scores summed over the response), groups
the samples of one prompt by their `uid`, and finds each prompt's dataset row through
`extra_info[row_key]`: the one field of a row that reaches `update` whatever the trainer does to the
batch. Neither verl's `index` (it is the row's `extra_info.index`, 0 when absent, and it leaves the
batch before the rollout) nor the order of the batch (`trainer.balance_batch`, on by default,
reorders it) names a row (verl 0.7.1: utils/dataset/rl_dataset.py `RLHFDataset.__getitem__`,
trainer/ppo/ray_trainer.py `_get_gen_batch` and `_balance_batch`). The key is matched to a position
of the dataset as verl loaded it, after it filtered overlong prompts. Every update is checked: each
prompt's samples name one known row, and each row is one the sampler yielded since the last update;
anything else fails with one line rather than filing rewards under the wrong rows.

To fill a training batch the sampler draws `candidates` cohorts, ranks them by the score of the R
features of their rows' latest groups (cohorts never trained on first: nothing is known about
them), and yields the rows of the best ones. verl's sampler does not see the live model, so the
features are as recent as each row's last training step; for scores against the current model, run
an extra rollout of the candidates (`tap rollout` / `tap score` with the checkpoint).

Without verl installed the module still imports (its base class is then torch's Sampler).
"""

from __future__ import annotations

import importlib
import random
from collections import Counter
from collections.abc import Callable, Sized

import numpy as np
import pandas as pd
from torch.utils.data import Sampler

try:
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler as _Base
except ImportError:  # verl is not a dependency, and verl >= 0.8 has no curriculum samplers
    _Base = Sampler

DEFAULTS = {
    "cohort_key": "cohort_id",
    "cohort_size": 8,
    "candidates": 8,
    "score": "adv_spread",
    "row_key": "tap_key",
    "seed": 0,
}


def verl_dataset(cohorts: pd.DataFrame, data_source: str = "tap") -> pd.DataFrame:
    """verl's RL dataset rows for a TAP cohorts table (one row per item): the prompt as one user
    message, `reward_model.ground_truth` the gold, `ability` the subject, the cohort in `cohort_id`,
    and `extra_info` with the cohort, the item's position, its verifier and `tap_key`
    ("<cohort_id>/<position>", unique: what the sampler finds a row by). Write it with
    `.to_parquet(path)` and give verl that file."""
    missing = [c for c in ("cohort_id", "prompt", "gold") if c not in cohorts]
    if missing:
        raise ValueError(f"a cohorts table needs column {missing[0]!r} to become a verl dataset")
    table = cohorts.copy()
    if "position" not in table:
        table["position"] = table.groupby("cohort_id", sort=False).cumcount()
    keys = table.cohort_id.astype(str) + "/" + table.position.astype(int).astype(str)
    if keys.duplicated().any():
        raise ValueError(f"cohort {keys[keys.duplicated()].iloc[0]!r}: two items share one position")
    subjects = table["subject"].astype(str) if "subject" in table else pd.Series("", index=table.index)
    verifiers = table["verifier"] if "verifier" in table else pd.Series("", index=table.index)
    return pd.DataFrame({
        "data_source": data_source,
        "prompt": [[{"role": "user", "content": str(p)}] for p in table.prompt],
        "ability": subjects.to_numpy(),
        "reward_model": [{"style": "rule", "ground_truth": str(g)} for g in table.gold],
        "extra_info": [
            {"tap_key": k, "cohort_id": str(c), "position": int(p), "verifier": "" if pd.isna(v) else str(v),
             "index": i}
            for i, (k, c, p, v) in enumerate(zip(keys, table.cohort_id, table.position, verifiers))
        ],
        "cohort_id": table.cohort_id.astype(str).to_numpy(),
    })


def _option(config, key: str):
    tap = config.get("tap", None) if hasattr(config, "get") else None
    if tap is not None and tap.get("index_key", None) is not None:
        raise ValueError(
            "data.tap.index_key is no longer read: verl's `index` is a row's extra_info.index (0 when absent) and "
            "names no dataset row; rows are found by extra_info.<data.tap.row_key> (default tap_key)"
        )
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


def _field(info, key: str):
    return info.get(key) if isinstance(info, dict) else None


def _row_keys(data_source, row_key: str, n: int) -> dict[str, int]:
    """{extra_info[row_key]: position} over the dataset as verl loaded it; one clear line when a row
    has no key or two rows share one."""
    extra = _column(data_source, "extra_info")
    if extra is None or len(extra) != n:
        raise ValueError(
            f"the training dataset has no extra_info column: write it with `tap cohorts ... --verl` "
            f"(tap.integrations.verl_sampler.verl_dataset), which gives each row a unique extra_info.{row_key}"
        )
    position_of: dict[str, int] = {}
    for position, info in enumerate(extra):
        key = _field(info, row_key)
        if key is None:
            raise ValueError(
                f"training dataset row {position}: extra_info has no {row_key!r} (write the dataset with "
                f"`tap cohorts ... --verl`, or give every row a unique extra_info.{row_key})"
            )
        if str(key) in position_of:
            raise ValueError(
                f"training dataset rows {position_of[str(key)]} and {position} share extra_info.{row_key} = "
                f"{key!r}: it must name one row (several files with the same keys?)"
            )
        position_of[str(key)] = position
    return position_of


class TAPCurriculumSampler(_Base):
    """verl `AbstractCurriculumSampler`: yields the rows of the best-scoring candidate cohorts."""

    def __init__(self, data_source: Sized, data_config):
        self.data_source = data_source
        self.n = len(data_source)
        self.row_key = str(_option(data_config, "row_key"))
        self.position_of = _row_keys(data_source, self.row_key, self.n)
        self.key_of = {position: key for key, position in self.position_of.items()}
        cohort_key = _option(data_config, "cohort_key")
        cohorts = _column(data_source, cohort_key)
        if cohorts is None and all(_field(i, cohort_key) is not None for i in _column(data_source, "extra_info")):
            cohorts = [_field(i, cohort_key) for i in _column(data_source, "extra_info")]
        size = int(_option(data_config, "cohort_size"))
        self.cohort_of = (
            [str(c) for c in cohorts] if cohorts is not None else [f"chunk{i // size:06d}" for i in range(self.n)]
        )
        self.rows_of: dict[str, list[int]] = {}
        for row, cohort in enumerate(self.cohort_of):
            self.rows_of.setdefault(cohort, []).append(row)
        self.candidates = int(_option(data_config, "candidates"))
        self.score = _score_function(str(_option(data_config, "score")))
        self.rng = random.Random(int(_option(data_config, "seed")))
        self.groups: dict[int, np.ndarray] = {}  # row -> its latest group's rewards
        self.yielded: Counter[int] = Counter()  # rows handed out and not yet seen in an update
        self.history: list[dict] = []

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        self.yielded.clear()  # a new pass: rows of the last one that were never trained (drop_last) are not in flight
        served = 0
        while served < self.n:
            for row in self.rows_of[self.choose()]:
                self.yielded[row] += 1
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
        """The next cohort: unseen candidates first (random order), then the best score. Candidates
        are drawn from the cohorts with no row in flight (yielded, not yet seen in an update) while
        there are any, so one batch does not hold a cohort twice."""
        ids = [c for c in self.rows_of if not any(self.yielded[r] for r in self.rows_of[c])] or list(self.rows_of)
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
        """After a training step: record each prompt's group of sequence rewards under its row. The
        whole batch is checked before anything is recorded."""
        groups = self.batch_groups(batch)
        pending = Counter(self.yielded)
        for row, _ in groups:
            if pending[row] == 0:
                raise ValueError(
                    f"verl batch: row {row} (extra_info.{self.row_key} = {self.key_of[row]!r}) was trained on, but "
                    "this sampler has not yielded it since its last update"
                )
            pending[row] -= 1
        self.yielded = +pending
        for row, rewards in groups:
            self.groups[row] = rewards

    def batch_groups(self, batch) -> list[tuple[int, np.ndarray]]:
        """(dataset row, its prompt's rewards) for each prompt of a trained batch, each prompt's
        samples checked to name one known row (`update` checks the rows against what was yielded)."""
        extra = batch.non_tensor_batch.get("extra_info")
        if extra is None:
            raise ValueError("verl batch: no extra_info, so its prompts cannot be matched to dataset rows")
        rewards = batch.batch["token_level_scores"].sum(-1).detach().float().cpu().numpy()
        uids = [str(u) for u in batch.non_tensor_batch["uid"]]
        row_of: dict[str, int] = {}
        for uid, info in zip(uids, extra):
            key = _field(info, self.row_key)
            row = self.position_of.get(str(key)) if key is not None else None
            if row is None:
                raise ValueError(
                    f"verl batch: a sample of prompt {uid} has extra_info.{self.row_key} = {key!r}, which names no "
                    "row of this sampler's dataset"
                )
            if row_of.setdefault(uid, row) != row:
                raise ValueError(f"verl batch: the samples of prompt {uid} name rows {row_of[uid]} and {row}")
        return [(row, np.array([r for u, r in zip(uids, rewards) if u == uid], float)) for uid, row in row_of.items()]
