"""The policies TAP ships are the ones its embedded worlds' configs describe, byte for byte."""

import json
from pathlib import Path

import pytest

from tap.config import load_config, policy_key
from tap.store import file_sha256
from tap.world.build import SHIPPED, shipped_policy

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Configs of the embedded tiny-model worlds whose policies the package ships (the others pretrain).
SHIPPED_CONFIGS = [None, "tiny.toml", "demo.toml", "tiny-large.toml", "reasoning-gym-tiny.toml",
                   "tiny-interference.toml"]


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_each_embedded_world_config_finds_its_shipped_policy(name):
    config = load_config(CONFIGS / name if name else None)
    folder = shipped_policy(config)
    assert folder is not None, f"{name or 'the default config'}: no shipped policy {policy_key(config)}"
    assert folder.name == policy_key(config) == json.loads((folder / "pretrain.json").read_text())["policy_key"]


def test_every_shipped_policy_is_whole_and_belongs_to_a_config():
    keys = {policy_key(load_config(CONFIGS / name if name else None)) for name in SHIPPED_CONFIGS}
    keys |= {policy_key(load_config(path)) for path in CONFIGS.glob("*.toml")}
    folders = [p for p in SHIPPED.iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        assert folder.name in keys, f"{folder.name} ships but no config under configs/ describes it"
        names = {p.name for p in folder.iterdir()}
        assert names >= {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                         "pretrain.json", "weights.sha256"}
        assert file_sha256(folder / "model.safetensors") == (folder / "weights.sha256").read_text().strip()
        info = json.loads((folder / "pretrain.json").read_text())
        assert info["in_band"], f"{folder.name} ships outside its accuracy band"
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size < 16 * 2**20, f"shipped policies weigh {size / 2**20:.1f} MiB"
