"""Reading and writing configs: TOML files plus `--set key.path=value` overrides, validation with
one-line errors, the TOML dump of a resolved config, and the cache keys derived from it."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tap.config.sections import WORLD_CODE_VERSION, TapConfig
from tap.errors import TapInputError


def _set_path(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise TapInputError(f"--set {dotted}: {key!r} is not a section")
    node[keys[-1]] = value


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise TapInputError(f"--set {text!r}: expected KEY.PATH=VALUE")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    return key.strip(), value


def _format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    got = first.get("input")
    got_text = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
    extra = f" and {len(err.errors()) - 1} more" if len(err.errors()) > 1 else ""
    return f"{source}: {where}: {first['msg']}{got_text}{extra}"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TapConfig:
    """Read a TOML config (or the defaults), apply `KEY.PATH=VALUE` overrides, validate, and fill in
    the data preset's completion budget (`with_data_budget`)."""
    tree: dict = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            tree = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise TapInputError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise TapInputError(f"{path}: not valid TOML: {exc}") from None
    for text in overrides or []:
        key, value = _parse_override(text)
        _set_path(tree, key, value)
        source = f"{source} (with --set)"
    try:
        return with_data_budget(TapConfig.model_validate(tree))
    except ValidationError as exc:
        raise TapInputError(_format_validation_error(source, exc)) from None


def config_to_toml(config: BaseModel) -> str:
    """The resolved config as TOML text (what a run folder's config.toml holds). TOML has no null:
    a field at None is left out, which reads back as its default (None)."""
    import tomli_w

    return tomli_w.dumps(_without_none(config.model_dump(mode="json")))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def stable_hash(payload: Any, length: int = 12) -> str:
    """A short hash of JSON-able data that does not depend on key order."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def policy_key(config: TapConfig) -> str:
    """Cache key of the tiny policy: everything its weights depend on (not the vendors)."""
    world = config.world
    payload = {
        "code": WORLD_CODE_VERSION,
        "seed": world.seed,
        "knowledge": world.knowledge.model_dump(mode="json"),
        "probe": world.probe.model_dump(mode="json"),
        "model": config.model.model_dump(mode="json"),
        "pretrain": config.pretrain.model_dump(mode="json"),
    }
    if world.suite != "tiny":  # the tiny suite's keys stay what they were before suites existed
        payload.update(suite=world.suite, tasks=[t.model_dump(mode="json") for t in world.tasks])
    return stable_hash(payload)


def world_key(config: TapConfig) -> str:
    """Cache key of the world (items, probe, cohorts) together with its policy."""
    world = config.world.model_dump(mode="json", exclude={"suite", "tasks"} if config.world.suite == "tiny" else None)
    return stable_hash({"policy": policy_key(config), "world": world})


def with_data_budget(config: TapConfig) -> TapConfig:
    """The config with the data section's completion budget (its own, else its preset's) written into
    rollout.max_new_tokens, label.max_completion_length and label.probe_max_new_tokens: what runs."""
    budget = config.data.max_new_tokens
    if budget is None and config.data.presets:
        from tap.presets import PRESETS

        budget = max(PRESETS[name].max_new_tokens for name in config.data.presets)
    if budget is None:
        return config
    return config.model_copy(update={
        "rollout": config.rollout.model_copy(update={"max_new_tokens": budget}),
        "label": config.label.model_copy(update={"max_completion_length": budget, "probe_max_new_tokens": budget}),
    })
