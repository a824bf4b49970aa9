"""Which base policy a config means, above both the policy loaders and the tiny world: the model a
command names, else the [policy] model, else the tiny world's policy (built when missing)."""

from __future__ import annotations

from pathlib import Path

from tap.config import TapConfig
from tap.policy.hf import hf_policy
from tap.policy.load import stop_strings


def policy_path(config: TapConfig, *, home: Path | None = None, model: str | Path | None = None) -> str:
    """Where the base weights are: `model`, else the [policy] model, else the tiny world's policy
    (built when missing from the cache)."""
    name = str(model) if model else config.policy.model
    if name:
        return name
    from tap.world.build import build_world

    return str(build_world(config, home=home).policy_dir)


def policy_source(config: TapConfig, *, home: Path | None = None, model: str | Path | None = None,
                  build: bool = True) -> tuple[str, str | None]:
    """(where the base weights are, an id of those weights for the label hash).

    The tiny world's policy is identified by its weights' sha256, a local folder by its files'
    contents (policy/identity.py), a hub id by its name. With `build=False` the tiny policy is not
    built when it is missing from the cache: its id is then None."""
    name = str(model) if model else config.policy.model
    if not name:
        from tap.world.build import policy_dir

        folder = Path(policy_path(config, home=home)) if build else policy_dir(config, home)
        sha = folder / "weights.sha256"
        return str(folder), (sha.read_text().strip() if sha.exists() else None)
    if Path(name).exists():
        from tap.policy.identity import folder_id

        return name, folder_id(name)
    return name, f"hub:{name}"


def make_policy(
    config: TapConfig, *, home: Path | None = None, model: str | Path | None = None, batch_size: int | None = None
):
    """The Policy a config names (backend hf or vllm), ready to sample and score."""
    path = policy_path(config, home=home, model=model)
    batch = batch_size or config.rollout.batch_size
    if config.policy.backend == "vllm":
        from tap.policy.vllm import VLLMPolicy

        return VLLMPolicy.from_config(path, config, batch_size=batch)
    return hf_policy(path, config.policy.model_dump(mode="json"), stop_strings(config), batch_size=batch)
