"""TAP's verl curriculum sampler driven by verl itself (CPU, offline): `make test-verl` runs this file in
.venv-verl (`pip install -e '.[verl]'`), where verl 0.7 is installed; the main suite skips it.

verl's own code does every step between the dataset and `update(batch)`: RLHFDataset loads the parquet
`tap cohorts --verl` writes and filters its overlong prompts (positions shift), the trainer's
create_rl_sampler loads TAP's class from `data.sampler.class_path`, a StatefulDataLoader with
verl's collate_fn fills batches, DataProto carries them, `_get_gen_batch` keeps only what the
reward needs, `repeat(interleave=True)` makes the groups and `_balance_batch` (trainer.balance_batch,
on by default) reorders them across two data-parallel ranks. The rewards a stand-in rollout gives
name their true row, so a group filed under another row shows."""

import os
import types

import numpy as np
import pandas as pd
import pytest
import torch

verl = pytest.importorskip("verl")
sampler_module = pytest.importorskip(
    "verl.experimental.dataset.sampler", reason="verl >= 0.8 has no curriculum samplers (verl PR #6302)"
)

from omegaconf import OmegaConf  # noqa: E402  (verl's dependencies)
from tensordict import TensorDict  # noqa: E402
from tokenizers import Tokenizer, models  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.main_ppo import create_rl_sampler  # noqa: E402
from verl.trainer.ppo.ray_trainer import RayPPOTrainer  # noqa: E402
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn  # noqa: E402

from tap.integrations.verl_sampler import TAPCurriculumSampler, verl_dataset  # noqa: E402

N, RESPONSE, PROMPT, RANKS = 3, 6, 48, 2
MIXED = {"c3", "c4", "c5"}  # cohorts whose groups disagree; c0-c2 are always solved


def _tokenizer() -> PreTrainedTokenizerFast:
    """A character tokenizer with a chat template, built locally."""
    specials = ["<pad>", "<unk>", "<eos>", "<|user|>", "<|assistant|>"]
    vocab = {token: i for i, token in enumerate(specials + [chr(c) for c in range(32, 127)] + ["\n"])}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.add_special_tokens(specials)
    template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
                                   chat_template=template)


@pytest.fixture
def loaded(tmp_path):
    """verl's dataset, sampler and loader over six 4-item cohorts, with two overlong prompts (a cohort
    of their own, after c0) that verl filters out: from c1 on, positions are 2 less than parquet rows."""
    ids = ["c0"] * 4 + ["long"] * 2 + [f"c{i}" for i in range(1, 6) for _ in range(4)]
    prompts = [f"{i}+1=" + ("x" * 80 if c == "long" else "") for i, c in enumerate(ids)]
    cohorts = pd.DataFrame({"cohort_id": ids, "prompt": prompts, "gold": "1", "subject": "math"})
    path = tmp_path / "train.parquet"
    verl_dataset(cohorts).to_parquet(path)
    defaults = OmegaConf.load(os.path.join(os.path.dirname(verl.__file__), "trainer/config/data/legacy_data.yaml"))
    config = OmegaConf.merge(defaults, {
        "train_files": str(path), "val_files": str(path), "max_prompt_length": PROMPT,
        "filter_overlong_prompts": True, "filter_overlong_prompts_workers": 1, "dataloader_num_workers": 0,
        "shuffle": False, "train_batch_size": 4, "cache_dir": str(tmp_path / "cache"), "tool_config_path": None,
        "function_tool_path": None, "tap": {"candidates": 6, "seed": 0},
        "sampler": {"class_path": "pkg://tap.integrations.verl_sampler", "class_name": "TAPCurriculumSampler"},
    })
    dataset = RLHFDataset(data_files=str(path), tokenizer=_tokenizer(), config=config, processor=None)
    sampler = create_rl_sampler(config, dataset)
    loader = StatefulDataLoader(dataset=dataset, batch_size=4, num_workers=0, drop_last=True, collate_fn=collate_fn,
                                sampler=sampler)
    return dataset, sampler, loader


def _train_step(batch_dict: dict, step: int, rng: np.random.Generator) -> DataProto:
    """The trainer's step as verl's RayPPOTrainer.fit runs it, with a stand-in rollout and reward:
    each sample's reward is 100 x its row's position + 0/1 (always 1 in c0-c2)."""
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([f"{step}-{i}" for i in range(len(batch.batch))], dtype=object)
    positions = {uid: int(p) for uid, p in zip(batch.non_tensor_batch["uid"], batch_dict["position"])}
    cohorts = {uid: c for uid, c in zip(batch.non_tensor_batch["uid"], batch_dict["cohort_id"])}
    generation = RayPPOTrainer._get_gen_batch(None, batch).repeat(repeat_times=N, interleave=True)
    size = len(generation)
    lengths = torch.as_tensor(rng.integers(1, RESPONSE + 1, size))
    mask = (torch.arange(RESPONSE)[None, :] < lengths[:, None]).long()
    rollout = DataProto(batch=TensorDict({
        "prompts": torch.zeros(size, 8, dtype=torch.long), "responses": torch.zeros(size, RESPONSE, dtype=torch.long),
        "response_mask": mask, "input_ids": torch.zeros(size, 8 + RESPONSE, dtype=torch.long),
        "attention_mask": torch.cat([torch.ones(size, 8, dtype=torch.long), mask], 1),
        "position_ids": torch.arange(8 + RESPONSE).expand(size, -1).clone()}, batch_size=size),
        non_tensor_batch={"__num_turns__": np.full(size, 2, dtype=np.int32)})
    batch = batch.repeat(repeat_times=N, interleave=True).union(rollout)
    trainer = types.SimpleNamespace(_get_dp_size=lambda group, role: RANKS, actor_rollout_wg=None,
                                    use_prefix_grouper=False, config=None)
    RayPPOTrainer._balance_batch(trainer, batch, metrics={})
    uids = batch.non_tensor_batch["uid"]
    rewards = [100.0 * positions[u] + (float(rng.random() < 0.5) if cohorts[u] in MIXED else 1.0) for u in uids]
    scores = torch.zeros(len(uids), RESPONSE)
    scores[torch.arange(len(uids)), batch.batch["response_mask"].sum(-1) - 1] = torch.tensor(rewards)
    batch.batch["token_level_scores"] = scores
    return batch


def test_verl_loads_tap_and_every_group_lands_on_its_row(loaded):
    dataset, sampler, loader = loaded
    assert isinstance(sampler, TAPCurriculumSampler) and isinstance(sampler, sampler_module.AbstractCurriculumSampler)
    assert len(dataset) == 24 and sampler.position_of["c1/0"] == 4  # parquet row 6: filtered rows shift positions
    dataset.dataframe = dataset.dataframe.add_column("position", list(range(len(dataset))))  # the truth, for the test
    rng = np.random.default_rng(0)
    chosen, reordered = [], 0
    for epoch in range(3):
        for step, batch_dict in enumerate(loader):
            assert "index" in batch_dict and set(batch_dict["index"]) <= set(range(26))  # parquet rows, not positions
            batch = _train_step(batch_dict, 100 * epoch + step, rng)
            assert "index" not in batch.non_tensor_batch  # gone before the rollout: only extra_info reaches update
            uids = list(batch.non_tensor_batch["uid"])
            reordered += uids != sorted(uids, key=lambda u: int(u.split("-")[1]))
            chosen.append(str(batch_dict["cohort_id"][0]))
            sampler.update(batch=batch)
    assert reordered > 0  # balance_batch really moved samples
    assert set(sampler.groups) == set(range(len(dataset)))
    for position, rewards in sampler.groups.items():
        assert len(rewards) == N and (rewards // 100 == position).all()  # each group under its own row
    assert set(chosen[:6]) == {f"c{i}" for i in range(6)} and set(chosen[6:]) <= MIXED


def test_an_update_of_rows_the_sampler_did_not_yield_fails(loaded):
    dataset, sampler, loader = loaded
    dataset.dataframe = dataset.dataframe.add_column("position", list(range(len(dataset))))
    batches = iter(loader)
    first = _train_step(next(batches), 0, np.random.default_rng(0))
    sampler.update(batch=first)
    with pytest.raises(ValueError, match="has not yielded it since its last update"):
        sampler.update(batch=first)  # the same rows again: not in flight any more
