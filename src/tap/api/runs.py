"""A run folder's config: what every command on that folder starts from, and what a change left stale.

A command given a run folder starts from the folder's `config.toml` (a run built from a Qwen
recipe stays a Qwen run), then applies `--set`; only an explicit `--config` file replaces it. The
folder's config.toml is rewritten to what ran, so it always tells the truth; when the change
touches a section that earlier stages used, the command says which of the folder's outputs were
made with the old settings (and `tap study` reruns them: same stage table, tap/stages.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tap.config import TapConfig, config_to_toml, load_config
from tap.stages import changed_stages, stage_outputs
from tap.store import RunPaths, write_text


@dataclass(frozen=True)
class RunConfig:
    config: TapConfig
    stale: list[str] = field(default_factory=list)  # outputs made with settings this config changes
    changed: list[str] = field(default_factory=list)  # dotted keys whose value differs from the folder's config.toml

    def notes(self, command: str, run_dir: Path) -> list[str]:
        if not self.stale:
            return []
        shown = ", ".join(self.changed[:4]) + (f" and {len(self.changed) - 4} more" if len(self.changed) > 4 else "")
        return [f"{command}: changed {shown}; made with the old settings and now stale: {', '.join(self.stale)} "
                f"(`tap study --out {run_dir}` reruns them)"]


def folder_config(run_dir: str | Path) -> TapConfig | None:
    """The run folder's config.toml, or None when it has none."""
    path = RunPaths(Path(run_dir)).config
    return load_config(path) if path.exists() else None


def run_config(run_dir: str | Path, config_file: str | Path | None = None, overrides: list[str] | None = None,
               *, produces: tuple[str, ...] = ()) -> RunConfig:
    """The config a command on `run_dir` runs with: `config_file` if given, else the folder's
    config.toml, else the defaults; then `overrides`. `produces` names the stages the command
    itself (re)makes, which are not reported as stale."""
    base = (
        config_file if config_file is not None else (RunPaths(Path(run_dir)).config if folder_config(run_dir) else None)
    )
    config = load_config(base, overrides)
    return RunConfig(config, *stale_outputs(run_dir, config, produces=produces))


def stale_outputs(
    run_dir: str | Path, config: TapConfig, *, produces: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """(existing outputs of the folder that `config` would make differently, the dotted keys it changes)
    against the folder's current config.toml."""
    old = folder_config(run_dir)
    if old is None:
        return [], []
    stages = changed_stages(old, config)
    if not stages:
        return [], []
    outputs = stage_outputs(RunPaths(Path(run_dir)))
    stale = [p.name for s in stages if s not in produces for p in outputs[s] if p.exists() and p.name != "config.toml"]
    return stale, _changed_keys(old, config)


def _changed_keys(old: TapConfig, new: TapConfig) -> list[str]:
    def flat(tree: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in tree.items():
            name = f"{prefix}{key}"
            out.update(flat(value, name + ".") if isinstance(value, dict) else {name: value})
        return out

    before, after = flat(old.model_dump(mode="json")), flat(new.model_dump(mode="json"))
    return [k for k in after if before.get(k) != after[k]]


def save_run_config(run_dir: str | Path, config: TapConfig) -> None:
    """Write the config that ran into the folder's config.toml (only when it changed)."""
    paths = RunPaths(Path(run_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    text = config_to_toml(config)
    if not paths.config.exists() or paths.config.read_text() != text:
        write_text(text, paths.config)
