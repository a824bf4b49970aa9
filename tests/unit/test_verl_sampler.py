"""The verl curriculum sampler against a stand-in of verl 0.7.1's data path (verl itself, where it is
installed, is driven by tests/integration/test_verl_real.py). The stand-in does what verl does to a
batch between the sampler and `update(batch)`:
- `index` is the row's extra_info.index, 0 when absent (verl/utils/dataset/rl_dataset.py,
  RLHFDataset.__getitem__), and the dataset's positions are those after overlong prompts were
  filtered out;
- the trainer keeps only data_source, reward_model, extra_info and uid in the batch before the
  rollout (verl/trainer/ppo/ray_trainer.py, _get_gen_batch), repeats each prompt n times
  interleaved, and with trainer.balance_batch (the default) reorders the samples
  (_balance_batch -> batch.reorder) before calling update(batch)."""

import importlib
import sys
import types
from abc import abstractmethod

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tap.integrations.verl_sampler import verl_dataset


class StandInCurriculumSampler(Sampler):
    """verl.experimental.dataset.sampler.AbstractCurriculumSampler, as verl 0.7.1 defines it."""

    @abstractmethod
    def __init__(self, data_source, data_config):
        pass

    @abstractmethod
    def update(self, batch) -> None:
        pass


class StandInBatch:
    """verl's DataProto: tensors in `batch`, numpy object arrays in `non_tensor_batch`."""

    def __init__(self, tensors: dict, non_tensors: dict):
        self.batch, self.non_tensor_batch = tensors, non_tensors


class Rows(Dataset):
    """RLHFDataset after filtering: `dataframe` keeps every column; an item carries its row's fields
    and `index` = extra_info.index (0 when absent)."""

    def __init__(self, frame: pd.DataFrame):
        self.dataframe = frame.reset_index(drop=True)

    def __len__(self):
        return len(self.dataframe)

    def __getitem__(self, i):
        return {"position": i}

    def fields(self, position: int) -> dict:
        row = self.dataframe.iloc[position].to_dict()
        return {**row, "index": (row.get("extra_info") or {}).get("index", 0)}


@pytest.fixture
def sampler_module(monkeypatch):
    for name in ("verl", "verl.experimental", "verl.experimental.dataset"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    module = types.ModuleType("verl.experimental.dataset.sampler")
    module.AbstractCurriculumSampler = StandInCurriculumSampler
    monkeypatch.setitem(sys.modules, "verl.experimental.dataset.sampler", module)
    import tap.integrations.verl_sampler as sampler

    yield importlib.reload(sampler)
    monkeypatch.undo()
    importlib.reload(sampler)


def _pool(cohorts: int = 6, size: int = 4) -> Rows:
    """Cohorts c0..c5 of `size` items each, as verl loads them: two overlong prompts between c0 and c1
    were filtered out, so from c1 on a row's position is 2 less than its parquet row (extra_info.index)."""
    ids = ["c0"] * size + ["long"] * 2 + [f"c{i}" for i in range(1, cohorts) for _ in range(size)]
    items = pd.DataFrame({"cohort_id": ids, "prompt": [f"p{i}" for i in range(len(ids))], "gold": "1",
                          "subject": "math"})
    rows = verl_dataset(items)
    return Rows(rows[rows.cohort_id != "long"])


def _step(sampler, dataset: Rows, positions: list[int], n: int, rng: np.random.Generator, *, carry_index: bool,
          reorder: bool = True) -> None:
    """What verl does after a step: each prompt repeated n times (interleaved) with a fresh uid; the
    batch reordered; rewards on the last response token: cohorts c0-c2 always solved (all-equal
    groups), c3-c5 mixed. Each reward is marked with its true position (+ 100 * position) so a
    group filed under the wrong row shows."""
    samples = []
    for k, position in enumerate(positions):
        fields = dataset.fields(position)
        mixed = fields["cohort_id"] in ("c3", "c4", "c5")
        for _ in range(n):
            reward = float(rng.random() < 0.5) if mixed else 1.0
            samples.append((f"uid-{len(sampler.history)}-{k}", fields, reward + 100 * position))
    if reorder:
        samples = [samples[i] for i in rng.permutation(len(samples))]
    token_scores = torch.zeros(len(samples), 5)
    token_scores[:, -1] = torch.tensor([s[2] for s in samples])
    non_tensors = {"uid": np.array([s[0] for s in samples], dtype=object),
                   "extra_info": np.array([s[1]["extra_info"] for s in samples], dtype=object),
                   "data_source": np.array([s[1]["data_source"] for s in samples], dtype=object)}
    if carry_index:  # when the agent loop copies its input columns back
        non_tensors["index"] = np.array([s[1]["index"] for s in samples], dtype=object)
    sampler.update(StandInBatch({"token_level_scores": token_scores}, non_tensors))


@pytest.mark.parametrize("carry_index", [True, False])
def test_groups_land_on_their_rows_under_verls_reordering_and_the_curriculum_prefers_disagreement(
    sampler_module, carry_index
):
    dataset = _pool()
    config = {"train_batch_size": 4, "tap": {"candidates": 6, "seed": 0}}
    sampler = sampler_module.TAPCurriculumSampler(dataset, config)
    assert isinstance(sampler, StandInCurriculumSampler) and len(sampler) == len(dataset)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=0, drop_last=True)
    rng = np.random.default_rng(0)
    batches = []
    for epoch in range(3):
        for batch in loader:
            positions = batch["position"].tolist()
            assert len({dataset.fields(p)["cohort_id"] for p in positions}) == 1  # one whole cohort per batch
            batches.append(dataset.fields(positions[0])["cohort_id"])
            _step(sampler, dataset, positions, n=4, rng=rng, carry_index=carry_index)
    assert set(sampler.groups) == set(range(len(dataset)))  # every row's group came back through update
    for position, rewards in sampler.groups.items():
        assert len(rewards) == 4 and (rewards // 100 == position).all()  # and under its own row
    assert not sampler.yielded
    assert set(batches[:6]) == {f"c{i}" for i in range(6)}  # unseen cohorts first
    assert set(batches[6:]) <= {"c3", "c4", "c5"}  # then only cohorts whose groups disagree


def test_an_update_that_does_not_match_what_was_yielded_fails_with_one_line(sampler_module):
    dataset = _pool()
    sampler = sampler_module.TAPCurriculumSampler(dataset, {"tap": {"seed": 0}})
    positions = [next(iter(sampler)) for _ in range(1)]
    rng = np.random.default_rng(0)
    other = next(p for p in range(len(dataset)) if p not in positions)
    with pytest.raises(ValueError, match=f"row {other} .* has not yielded it since its last update"):
        _step(sampler, dataset, [other], n=2, rng=rng, carry_index=False)
    batch = StandInBatch({"token_level_scores": torch.ones(2, 3)},
                         {"uid": np.array(["a", "a"], dtype=object),
                          "extra_info": np.array([{"tap_key": "nope/0"}, {"tap_key": "nope/0"}], dtype=object)})
    with pytest.raises(ValueError, match="tap_key = 'nope/0', which names no row"):
        sampler.update(batch)
    two = np.array([dataset.fields(0)["extra_info"], dataset.fields(1)["extra_info"]], dtype=object)
    with pytest.raises(ValueError, match="the samples of prompt a name rows 0 and 1"):
        sampler.update(StandInBatch({"token_level_scores": torch.ones(2, 3)},
                                    {"uid": np.array(["a", "a"], dtype=object), "extra_info": two}))
    with pytest.raises(ValueError, match="no extra_info"):
        sampler.update(StandInBatch({"token_level_scores": torch.ones(2, 3)}, {"uid": np.array(["a", "a"])}))
    assert not sampler.groups and sum(sampler.yielded.values()) == 1  # a failed update records nothing


def test_a_dataset_without_unique_row_keys_is_refused(sampler_module):
    rows = _pool().dataframe
    with pytest.raises(ValueError, match="has no extra_info column"):
        sampler_module.TAPCurriculumSampler(Rows(rows.drop(columns="extra_info")), {})
    rows.at[3, "extra_info"] = {"index": 3}
    with pytest.raises(ValueError, match="row 3: extra_info has no 'tap_key'"):
        sampler_module.TAPCurriculumSampler(Rows(rows), {})
    rows.at[3, "extra_info"] = dict(rows.extra_info[0])
    with pytest.raises(ValueError, match="rows 0 and 3 share extra_info.tap_key"):
        sampler_module.TAPCurriculumSampler(Rows(rows), {})
    with pytest.raises(ValueError, match="index_key is no longer read"):
        sampler_module.TAPCurriculumSampler(_pool(), {"tap": {"index_key": "index"}})


def test_sampler_without_a_cohort_column_uses_chunks_and_rejects_a_bad_score(sampler_module):
    frame = verl_dataset(pd.DataFrame({"cohort_id": "all", "prompt": [f"p{i}" for i in range(10)], "gold": "1"}))
    frame = frame.drop(columns="cohort_id").assign(
        extra_info=[{k: v for k, v in info.items() if k != "cohort_id"} for info in frame.extra_info])
    sampler = sampler_module.TAPCurriculumSampler(Rows(frame), {"tap": {"cohort_size": 5}})
    assert sorted(sampler.rows_of) == ["chunk000000", "chunk000001"] and sampler.rows_of["chunk000001"] == [5, 6, 7,
                                                                                                           8, 9]
    with pytest.raises(ValueError, match="module:function"):
        sampler_module.TAPCurriculumSampler(Rows(frame), {"tap": {"score": "nonsense"}})


def test_the_verl_dataset_names_each_row_once():
    items = pd.DataFrame({"cohort_id": ["a", "a", "b"], "prompt": ["1+1=", "2+2=", "3+3="], "gold": [2, 4, 6],
                          "subject": "math", "verifier": ["exact", "math", None]})
    rows = verl_dataset(items, data_source="mine")
    assert list(rows.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info", "cohort_id"]
    assert rows.prompt[1] == [{"role": "user", "content": "2+2="}] and rows.reward_model[2]["ground_truth"] == "6"
    assert [e["tap_key"] for e in rows.extra_info] == ["a/0", "a/1", "b/0"] and rows.data_source[0] == "mine"
    assert rows.extra_info[1]["verifier"] == "math" and rows.extra_info[2]["verifier"] == ""
    with pytest.raises(ValueError, match="two items share one position"):
        verl_dataset(items.assign(position=0))


def test_module_imports_without_verl():
    import tap.integrations.verl_sampler as sampler

    sampler = importlib.reload(sampler)
    assert "verl" not in sys.modules or not hasattr(sys.modules["verl"], "__file__")
    assert issubclass(sampler.TAPCurriculumSampler, Sampler) and hasattr(sampler.TAPCurriculumSampler, "update")
