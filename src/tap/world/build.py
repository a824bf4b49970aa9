"""Build the tiny world (items, probe, cohorts, pretrained policy) or reuse it from the cache.

Cache layout under the TAP home, each entry keyed by a hash of the config it depends on:
    policies/<policy_key>/   HF model + tokenizer folder, pretrain.json, weights.sha256
    worlds/<world_key>/      items.parquet, cohorts.parquet, world.json, config.toml
A changed vendor section reuses the policy and builds new cohorts; a changed model, pretraining
or seed builds a new policy too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tap.config import TapConfig, config_to_toml, policy_key, world_key
from tap.store import atomic_dir, file_sha256, tap_home, write_json

ProgressFn = Callable[[int, int, dict | None], None]


@dataclass(frozen=True)
class World:
    """A built world: where it lives and what it holds."""

    root: Path
    policy_dir: Path
    items: pd.DataFrame
    cohorts: pd.DataFrame
    pretrain: dict
    reused: bool
    policy_reused: bool  # the pretrained policy came from the cache (a vendor-only change reuses it)

    @property
    def probe(self) -> pd.DataFrame:
        return self.items[self.items.split == "probe"].reset_index(drop=True)

    @property
    def probe_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.pretrain["probe_table"])


def _build_policy(config: TapConfig, probe: pd.DataFrame, target: Path, progress: ProgressFn | None) -> None:
    import torch
    from transformers.utils import logging as hf_logging

    from tap.policy.hf import HFPolicy
    from tap.world.tiny_policy import behaviour_table, build_model, build_tokenizer, pretrain

    hf_logging.disable_progress_bar()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.pretrain.threads)
    try:
        with atomic_dir(target) as tmp:
            tokenizer = build_tokenizer()
            model = build_model(config, tokenizer)
            total = config.pretrain.max_steps
            result = pretrain(
                config, model, tokenizer, probe, (lambda s, r: progress(s, total, r)) if progress else None
            )
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            info = {
                "policy_key": policy_key(config),
                "parameters": sum(p.numel() for p in model.parameters()),
                "steps": result.steps,
                "seconds": round(result.seconds, 2),
                "in_band": result.in_band,
                "band": list(config.pretrain.band),
                "probe_table": result.table.to_dict(orient="records"),
                "behaviour_table": behaviour_table(HFPolicy(model, tokenizer, batch_size=512), probe,
                                                   max_new_tokens=config.rollout.max_new_tokens).to_dict(orient="records"),
                "history": result.history,
                "threads": config.pretrain.threads,
            }
            (tmp / "weights.sha256").write_text(file_sha256(tmp / "model.safetensors") + "\n")
            write_json(info, tmp / "pretrain.json")
    finally:
        torch.set_num_threads(previous_threads)


def policy_dir(config: TapConfig, home: Path | None = None) -> Path:
    """Where the tiny policy this config describes lives (or will live) in the cache."""
    return (Path(home) if home else tap_home()) / "policies" / policy_key(config)


def build_world(config: TapConfig, home: Path | None = None, progress: ProgressFn | None = None) -> World:
    """Build (or reuse from the cache) the world and the tiny policy that this config describes."""
    from tap.world.pool import build_items
    from tap.world.vendor import make_cohorts

    home = Path(home) if home else tap_home()
    policy_folder = policy_dir(config, home)
    world_dir = home / "worlds" / world_key(config)
    reused = world_dir.exists() and policy_folder.exists()
    policy_reused = policy_folder.exists()
    if not world_dir.exists():
        items = build_items(config)
        cohorts = make_cohorts(config, items)
        with atomic_dir(world_dir) as tmp:
            items.to_parquet(tmp / "items.parquet", index=False)
            cohorts.to_parquet(tmp / "cohorts.parquet", index=False)
            (tmp / "config.toml").write_text(config_to_toml(config))
            write_json({"world_key": world_key(config), "policy_key": policy_key(config)}, tmp / "world.json")
    items = pd.read_parquet(world_dir / "items.parquet")
    if not policy_folder.exists():
        _build_policy(config, items[items.split == "probe"].reset_index(drop=True), policy_folder, progress)
    pretrain_info = json.loads((policy_folder / "pretrain.json").read_text())
    return World(
        root=world_dir,
        policy_dir=policy_folder,
        items=items,
        cohorts=pd.read_parquet(world_dir / "cohorts.parquet"),
        pretrain=pretrain_info,
        reused=reused,
        policy_reused=policy_reused,
    )
