"""Build the tiny world (items, probe, cohorts, pretrained policy) or reuse it from the cache.

Cache layout under the TAP home, each entry keyed by a hash of the config it depends on:
    policies/<policy_key>/   HF model + tokenizer folder, pretrain.json, weights.sha256
    worlds/<world_key>/      items.parquet, cohorts.parquet, world.json, config.toml
A changed vendor section reuses the policy and builds new cohorts; a changed model, pretraining
or seed builds a new policy too.

The package ships the pretrained policies of its embedded worlds (tap/world/shipped/<policy_key>/,
the same folder as the cache holds): a policy missing from the cache is copied from there when the
package has its key, checked against its weights.sha256, and pretrained only otherwise (or when
asked to rebuild). Pretraining is not bit-reproducible across machines, so the shipped weights are
also what makes the committed results reproducible.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tap.config import TapConfig, config_to_toml, policy_key, world_key
from tap.errors import TapInputError
from tap.store import atomic_dir, file_sha256, tap_home, write_json

ProgressFn = Callable[[int, int, dict | None], None]
SHIPPED = Path(__file__).with_name("shipped")


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
    policy_source: str = "cache"  # "cache", "shipped" (copied from the package) or "pretrained" (here, now)

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


def shipped_policy(config: TapConfig) -> Path | None:
    """The package's copy of the policy this config describes, if it ships one."""
    folder = SHIPPED / policy_key(config)
    return folder if (folder / "model.safetensors").is_file() else None


def _install_shipped(source: Path, target: Path) -> None:
    """Copy a shipped policy folder into the cache after checking its weights against weights.sha256."""
    expected = (source / "weights.sha256").read_text().strip()
    actual = file_sha256(source / "model.safetensors")
    if actual != expected:
        raise TapInputError(
            f"{source / 'model.safetensors'}: sha256 {actual[:12]}… is not the shipped {expected[:12]}… "
            "(a damaged install, or a Git LFS pointer); reinstall TAP or run `tap world build --rebuild`"
        )
    with atomic_dir(target) as tmp:
        for path in source.iterdir():
            if path.is_file():
                shutil.copyfile(path, tmp / path.name)


def _replace_dir(target: Path, build: Callable[[Path], None]) -> None:
    """Build into a fresh folder and put it where `target` is, dropping what was there."""
    fresh = target.with_name(f".{target.name}.rebuilt")
    shutil.rmtree(fresh, ignore_errors=True)
    build(fresh)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def policy_dir(config: TapConfig, home: Path | None = None) -> Path:
    """Where the tiny policy this config describes lives (or will live) in the cache."""
    return (Path(home) if home else tap_home()) / "policies" / policy_key(config)


def build_world(
    config: TapConfig, home: Path | None = None, progress: ProgressFn | None = None, rebuild: bool = False
) -> World:
    """Build (or reuse from the cache) the world and the tiny policy that this config describes.

    A policy missing from the cache comes from the package when it ships one (see `shipped_policy`);
    `rebuild=True` pretrains it here instead, replacing any cached copy.
    """
    from tap.world.pool import build_items
    from tap.world.vendor import make_cohorts

    home = Path(home) if home else tap_home()
    policy_folder = policy_dir(config, home)
    world_dir = home / "worlds" / world_key(config)
    policy_reused = policy_folder.exists() and not rebuild
    reused = world_dir.exists() and policy_reused
    if not world_dir.exists():
        items = build_items(config)
        cohorts = make_cohorts(config, items)
        with atomic_dir(world_dir) as tmp:
            items.to_parquet(tmp / "items.parquet", index=False)
            cohorts.to_parquet(tmp / "cohorts.parquet", index=False)
            (tmp / "config.toml").write_text(config_to_toml(config))
            write_json({"world_key": world_key(config), "policy_key": policy_key(config)}, tmp / "world.json")
    items = pd.read_parquet(world_dir / "items.parquet")
    probe = items[items.split == "probe"].reset_index(drop=True)
    source = "cache"
    if rebuild:
        _replace_dir(policy_folder, lambda fresh: _build_policy(config, probe, fresh, progress))
        source = "pretrained"
    elif not policy_folder.exists():
        shipped = shipped_policy(config)
        if shipped is not None:
            _install_shipped(shipped, policy_folder)
            source = "shipped"
        else:
            _build_policy(config, probe, policy_folder, progress)
            source = "pretrained"
    pretrain_info = json.loads((policy_folder / "pretrain.json").read_text())
    return World(
        root=world_dir,
        policy_dir=policy_folder,
        items=items,
        cohorts=pd.read_parquet(world_dir / "cohorts.parquet"),
        pretrain=pretrain_info,
        reused=reused,
        policy_reused=policy_reused,
        policy_source=source,
    )
