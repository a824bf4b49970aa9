"""The pipeline's stages as data: their order, the config sections each depends on, their outputs.

`tap study` reruns a stage when the config it depends on changed (study.py); the single-stage
commands use the same table to say which outputs a config change left stale (api/runs.py).
"""

from __future__ import annotations

from pathlib import Path

from tap.config import TapConfig, stable_hash
from tap.store import RunPaths

STAGES = ("world", "rollouts", "features", "labels", "loop", "evaluate", "fit", "report")
DEPENDS = {  # the config sections each stage's output depends on (cumulative along the pipeline)
    "world": ("world", "model", "pretrain", "data"),
    "rollouts": ("rollout", "policy"),
    "features": ("study.families",),
    "labels": ("label", "study.active_labels"),
    "loop": ("loop",),
    "evaluate": ("predictor", "evaluate"),
    "fit": (),
    "report": (),
}


# What each stage's output really depends on: the sections it reads, and the stages whose outputs
# it reads. Used to say what a config change left stale (a study reruns more: DEPENDS is cumulative,
# and rerunning a stage whose output did not change is cheap, the label ledger resuming).
READS = {
    "world": ("world", "model", "pretrain", "data"),
    "rollouts": ("rollout", "policy"),
    "features": ("study.families", "policy"),
    "labels": ("label", "policy", "study.active_labels"),
    "loop": ("loop", "label", "rollout", "policy"),
    "evaluate": ("predictor", "evaluate"),
    "fit": ("predictor", "evaluate"),
    "report": (),
}
INPUTS = {
    "world": (),
    "rollouts": ("world",),
    "features": ("rollouts",),
    "labels": ("world",),
    "loop": ("world",),
    "evaluate": ("features", "labels"),
    "fit": ("features", "labels"),
    "report": ("rollouts", "features", "loop", "evaluate", "fit"),
}


# Settings added after run folders existed: part of a stage's key only when not at their default, so
# a study written before them is not rerun.
_ADDED_LATER = {"study.active_labels": 0}


def _section(tree: dict, dotted: str):
    for key in dotted.split("."):
        tree = tree[key]
    return tree


def stage_keys(config: TapConfig) -> dict[str, str]:
    """A key per stage over the config it depends on, including every earlier stage's."""
    tree = config.model_dump(mode="json")
    keys, parts = {}, {}
    for stage in STAGES:
        parts.update({dotted: _section(tree, dotted) for dotted in DEPENDS[stage]
                      if dotted not in _ADDED_LATER or _section(tree, dotted) != _ADDED_LATER[dotted]})
        keys[stage] = stable_hash({"stage": stage, **parts})
    return keys


def stage_outputs(paths: RunPaths) -> dict[str, list[Path]]:
    """The files each stage writes into a run folder."""
    return {
        "world": [paths.config, paths.items, paths.cohorts],
        "rollouts": [paths.rollouts],
        "features": [paths.features],
        "labels": [paths.labels],
        "evaluate": [paths.metrics, paths.predictions],
        "fit": [paths.predictor],
        "loop": [paths.root / "loop.parquet"],
        "report": [paths.root / "report.html"],
    }


def changed_stages(old: TapConfig, new: TapConfig) -> list[str]:
    """The stages whose outputs depend, directly or through another stage's output, on a setting
    that differs between `old` and `new`."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changed: list[str] = []
    for stage in STAGES:
        reads = any(_section(before, dotted) != _section(after, dotted) for dotted in READS[stage])
        if reads or any(upstream in changed for upstream in INPUTS[stage]):
            changed.append(stage)
    return changed
