"""The public Python API. The CLI only parses arguments and calls these functions."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tap.config import TapConfig, config_to_toml, load_config
from tap.errors import TapInputError
from tap.store import RunPaths, write_parquet, write_text
from tap.world.build import World, build_world


def world(
    config: TapConfig | None = None,
    *,
    home: Path | None = None,
    out: Path | None = None,
    progress: Callable[[int, int, dict | None], None] | None = None,
) -> World:
    """Build or reuse the tiny world; with `out`, also lay its files into a run folder."""
    config = config or load_config()
    built = build_world(config, home=home, progress=progress)
    if out is not None:
        paths = RunPaths(Path(out))
        paths.root.mkdir(parents=True, exist_ok=True)
        write_text(config_to_toml(config), paths.config)
        for name in ("items.parquet", "cohorts.parquet"):
            shutil.copyfile(built.root / name, paths.root / f".{name}.tmp")
            (paths.root / f".{name}.tmp").replace(paths.root / name)
    return built


def load_policy(model: str | Path | None = None, config: TapConfig | None = None, *, home: Path | None = None, batch_size: int | None = None):
    """A policy from a model folder (or hub id), or the tiny world's policy for `config`."""
    from tap.policy.hf import HFPolicy

    config = config or load_config()
    batch = batch_size or config.rollout.batch_size
    if model is None:
        return HFPolicy.from_pretrained(build_world(config, home=home).policy_dir, batch_size=batch)
    if Path(model).exists() and not (Path(model) / "config.json").exists():
        raise TapInputError(f"{model}: not a model folder (no config.json)")
    return HFPolicy.from_pretrained(model, batch_size=batch)


def read_cohorts(path: str | Path, max_cohorts: int | None = None) -> pd.DataFrame:
    """Read and check a cohorts file (parquet, JSONL or CSV); optionally keep the first N cohorts."""
    from tap.rollouts import load_cohorts

    cohorts = load_cohorts(path)
    if max_cohorts is not None:
        keep = list(dict.fromkeys(cohorts.cohort_id))[:max_cohorts]
        cohorts = cohorts[cohorts.cohort_id.isin(keep)].reset_index(drop=True)
    return cohorts


def rollout(
    cohorts: str | Path | pd.DataFrame,
    out: str | Path,
    *,
    config: TapConfig | None = None,
    model: str | Path | None = None,
    home: Path | None = None,
    max_cohorts: int | None = None,
    verifier: str = "exact",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Sample G completions per item of each cohort (a file or a checked table); write rollouts.parquet."""
    from tap.rollouts import rollout_cohorts

    config = config or load_config()
    if not isinstance(cohorts, pd.DataFrame):
        cohorts = read_cohorts(cohorts, max_cohorts)
    elif max_cohorts is not None:
        cohorts = cohorts[cohorts.cohort_id.isin(list(dict.fromkeys(cohorts.cohort_id))[:max_cohorts])]
    policy = load_policy(model, config, home=home)
    r = config.rollout
    table = rollout_cohorts(
        policy, cohorts,
        num_generations=r.num_generations, max_new_tokens=r.max_new_tokens, temperature=r.temperature,
        seed=r.seed, prompts_per_batch=max(1, r.batch_size // r.num_generations), verifier=verifier,
        progress=progress,
    )
    write_parquet(table, Path(out))
    return table
