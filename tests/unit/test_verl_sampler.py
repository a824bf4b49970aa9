"""The verl curriculum sampler against a stand-in of verl's interface (verl is not installed): it
subclasses AbstractCurriculumSampler, serves whole cohorts through a DataLoader as verl's trainer
does, learns each row's reward group from update(batch), and then prefers the cohorts whose groups
disagree."""

import importlib
import sys
import types
from abc import abstractmethod

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class StandInCurriculumSampler(Sampler):
    """verl.experimental.dataset.sampler.AbstractCurriculumSampler, as verl defines it."""

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
    def __init__(self, frame: pd.DataFrame):
        self.dataframe = frame

    def __len__(self):
        return len(self.dataframe)

    def __getitem__(self, i):
        return {"row": i}


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


def _pool(cohorts: int = 6, size: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cohort_id": [f"c{i}" for i in range(cohorts) for _ in range(size)],
            "prompt": [f"p{i}" for i in range(cohorts * size)],
        }
    )


def _step(sampler, rows: list[int], frame: pd.DataFrame, n: int, rng: np.random.Generator, with_index: bool) -> None:
    """What verl does after a step: each prompt repeated n times (interleaved), a uid per prompt,
    rewards on the last response token; cohorts c0-c2 always solved (all-equal groups), c3-c5 mixed."""
    uids, index, scores = [], [], []
    for k, row in enumerate(rows):
        mixed = frame.cohort_id[row] in ("c3", "c4", "c5")
        for _ in range(n):
            uids.append(f"uid-{len(sampler.history)}-{k}")
            index.append(row)
            scores.append(float(rng.random() < 0.5) if mixed else 1.0)
    token_scores = torch.zeros(len(scores), 5)
    token_scores[:, -1] = torch.tensor(scores)
    non_tensors = {"uid": np.array(uids, dtype=object)}
    if with_index:
        non_tensors["index"] = np.array(index, dtype=object)
    sampler.update(StandInBatch({"token_level_scores": token_scores}, non_tensors))


@pytest.mark.parametrize("with_index", [True, False])
def test_sampler_learns_groups_from_updates_and_prefers_disagreement(sampler_module, with_index):
    frame = _pool()
    config = {"train_batch_size": 4, "tap": {"candidates": 6, "seed": 0}}
    sampler = sampler_module.TAPCurriculumSampler(Rows(frame), config)
    assert isinstance(sampler, StandInCurriculumSampler) and len(sampler) == len(frame)
    loader = DataLoader(Rows(frame), batch_size=4, sampler=sampler, num_workers=0)
    rng = np.random.default_rng(0)
    batches = []
    for epoch in range(3):
        for batch in loader:
            rows = batch["row"].tolist()
            assert len({frame.cohort_id[r] for r in rows}) == 1  # one whole cohort per batch of its size
            batches.append(frame.cohort_id[rows[0]])
            _step(sampler, rows, frame, n=4, rng=rng, with_index=with_index)
    assert set(sampler.groups) == set(range(len(frame)))  # every row's group came back through update
    assert all(len(g) == 4 for g in sampler.groups.values()) and not sampler.yielded
    assert set(batches[:6]) == {f"c{i}" for i in range(6)}  # unseen cohorts first
    assert set(batches[6:]) <= {"c3", "c4", "c5"}  # then only cohorts whose groups disagree


def test_sampler_without_a_cohort_column_uses_chunks_and_rejects_a_bad_score(sampler_module):
    frame = pd.DataFrame({"prompt": [f"p{i}" for i in range(10)]})
    sampler = sampler_module.TAPCurriculumSampler(Rows(frame), {"tap": {"cohort_size": 5}})
    assert sorted(sampler.rows_of) == ["chunk000000", "chunk000001"] and sampler.rows_of["chunk000001"] == [
        5,
        6,
        7,
        8,
        9,
    ]
    with pytest.raises(ValueError, match="module:function"):
        sampler_module.TAPCurriculumSampler(Rows(frame), {"tap": {"score": "nonsense"}})


def test_module_imports_without_verl():
    import tap.integrations.verl_sampler as sampler

    sampler = importlib.reload(sampler)
    assert "verl" not in sys.modules or not hasattr(sys.modules["verl"], "__file__")
    assert issubclass(sampler.TAPCurriculumSampler, Sampler) and hasattr(sampler.TAPCurriculumSampler, "update")
