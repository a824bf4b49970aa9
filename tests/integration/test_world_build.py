"""The world cache: same config -> same files and weights; changed config -> a new entry."""

import json
import shutil

import pytest

from tap.config import load_config
from tap.errors import TapInputError
from tap.world.build import build_world, file_sha256
from tests.conftest import MICRO, run_tap


def _digest(world) -> dict:
    return {
        "items": file_sha256(world.root / "items.parquet"),
        "cohorts": file_sha256(world.root / "cohorts.parquet"),
        "weights": file_sha256(world.policy_dir / "model.safetensors"),
    }


def test_same_config_builds_identical_files_and_weights(tmp_path):
    config = load_config(None, MICRO)
    first = build_world(config, home=tmp_path / "a")
    second = build_world(config, home=tmp_path / "b")
    assert not first.reused and not second.reused
    assert _digest(first) == _digest(second)
    assert (first.policy_dir / "weights.sha256").read_text().strip() == _digest(first)["weights"]
    again = build_world(config, home=tmp_path / "a")
    assert again.reused and _digest(again) == _digest(first)


def test_changed_config_builds_a_new_entry_and_vendor_changes_reuse_the_policy(micro_world, tap_home):
    vendors_changed = build_world(load_config(None, MICRO + ["world.cohorts.count=5"]), home=tap_home)
    assert vendors_changed.root != micro_world.root
    assert vendors_changed.policy_dir == micro_world.policy_dir
    seed_changed = build_world(load_config(None, MICRO + ["world.seed=7"]), home=tap_home)
    assert seed_changed.policy_dir != micro_world.policy_dir
    assert _digest(seed_changed)["weights"] != _digest(micro_world)["weights"]


def test_policy_loads_through_auto_classes(micro_world):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(micro_world.policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(micro_world.policy_dir)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert tokenizer.padding_side == "left"
    assert tokenizer.decode(tokenizer("x=3;x+=4;x?")["input_ids"]) == "x=3;x+=4;x?"
    info = json.loads((micro_world.policy_dir / "pretrain.json").read_text())
    assert info["parameters"] == sum(p.numel() for p in model.parameters())


def test_cli_world_build_prints_the_probe_table_and_fills_a_run_folder(micro_world, tap_home, tmp_path):
    sets = [arg for pair in (("--set", s) for s in MICRO) for arg in pair]
    result = run_tap("world", "build", *sets, "--out", str(tmp_path / "run"), env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr
    assert "reused from cache" in result.stdout
    for subject in ("math", "code", "science", "knowledge"):
        assert subject in result.stdout
    assert "Behaviours on the probe" in result.stdout and "pass@8" in result.stdout
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"config.toml", "items.parquet", "cohorts.parquet"}
    assert load_config(tmp_path / "run" / "config.toml") == load_config(None, MICRO)


@pytest.mark.slow  # pretrains a micro policy again
def test_a_shipped_policy_is_copied_into_the_cache_and_rebuild_pretrains(micro_world, tmp_path, monkeypatch):
    import tap.world.build as build

    shipped = tmp_path / "shipped"
    shutil.copytree(micro_world.policy_dir, shipped / micro_world.policy_dir.name)
    monkeypatch.setattr(build, "SHIPPED", shipped)
    pretrained = []
    real_build_policy = build._build_policy
    monkeypatch.setattr(build, "_build_policy", lambda *a, **k: (pretrained.append(a[2]), real_build_policy(*a, **k)))
    config = load_config(None, MICRO)

    first = build_world(config, home=tmp_path / "home")
    assert first.policy_source == "shipped" and not first.reused and not pretrained
    assert _digest(first)["weights"] == file_sha256(shipped / micro_world.policy_dir.name / "model.safetensors")
    assert build_world(config, home=tmp_path / "home").policy_source == "cache"

    rebuilt = build_world(config, home=tmp_path / "home", rebuild=True)
    assert rebuilt.policy_source == "pretrained" and len(pretrained) == 1 and not rebuilt.policy_reused
    assert rebuilt.policy_dir == first.policy_dir
    assert (rebuilt.policy_dir / "weights.sha256").read_text().strip() == _digest(rebuilt)["weights"]
    assert not [p for p in rebuilt.policy_dir.parent.iterdir() if p.name.startswith(".")], "rebuild leaves no debris"


def test_a_damaged_shipped_policy_fails_with_one_line(micro_world, tmp_path, monkeypatch):
    import tap.world.build as build

    shipped = tmp_path / "shipped" / micro_world.policy_dir.name
    shutil.copytree(micro_world.policy_dir, shipped)
    (shipped / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n")
    monkeypatch.setattr(build, "SHIPPED", tmp_path / "shipped")
    with pytest.raises(TapInputError, match="sha256 .* is not the shipped"):
        build_world(load_config(None, MICRO), home=tmp_path / "home")
    assert not (tmp_path / "home" / "policies" / micro_world.policy_dir.name).exists()


@pytest.mark.slow  # pretrains a micro policy again
def test_cli_world_build_rebuild_pretrains_and_says_where_the_policy_came_from(tmp_path):
    sets = [arg for pair in (("--set", s) for s in MICRO) for arg in pair]
    result = run_tap("world", "build", *sets, "--rebuild", env={"TAP_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "policy pretrained here" in result.stdout
    again = run_tap("world", "build", *sets, env={"TAP_HOME": str(tmp_path)})
    assert again.returncode == 0 and "policy from the cache" in again.stdout
