"""A local model folder is identified by its files' contents, cached by path, size and mtime."""

import os

import pytest

import tap.policy.identity as identity
from tap.config import load_config
from tap.resolve import policy_source


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_HOME", str(tmp_path / "home"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen3"}')
    (model / "model.safetensors").write_bytes(b"\x00" * 4096)
    (model / "optimizer.pt").write_bytes(b"state")  # beside a checkpoint, not part of the model
    return model


def _retrain(folder, byte: bytes) -> None:
    """Overwrite the weights with others of the same size (what retraining into the folder does)."""
    path = folder / "model.safetensors"
    stat = path.stat()
    path.write_bytes(byte * 4096)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a coarse clock would not move


def test_retraining_into_the_same_folder_changes_its_id(folder):
    config = load_config(None, [f'policy.model="{folder}"'])
    _, before = policy_source(config)
    _retrain(folder, b"\x01")
    _, after = policy_source(config)
    assert before.startswith("folder:") and after != before
    _retrain(folder, b"\x00")  # the same bytes again: the same model, the same id
    assert policy_source(config)[1] == before


def test_a_copy_elsewhere_has_the_same_id_and_the_optimizer_state_does_not_count(folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "optimizer.pt").write_bytes(b"other state")
    assert identity.folder_id(copy) == identity.folder_id(folder)


def test_an_unchanged_folder_is_not_read_twice(folder, monkeypatch):
    identity.folder_id(folder)
    reads = []
    monkeypatch.setattr(identity, "file_sha256", lambda path: reads.append(path) or "x")
    identity.folder_id(folder)
    assert reads == []
    _retrain(folder, b"\x02")
    identity.folder_id(folder)
    assert [p.name for p in reads] == ["model.safetensors"]  # only the changed file is read again
