"""The policy a config names: the tiny world's, or a real model (HF id or folder) with its dtype,
attention implementation, device, prompt format, stop strings and rollout backend."""

from __future__ import annotations

from pathlib import Path

from tap.config import TapConfig
from tap.errors import TapInputError

DTYPES = ("float32", "bfloat16", "float16")


def resolve_device(name: str = "auto") -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TapInputError(f"policy.device = {name!r} but no CUDA device is visible (use auto or cpu)")
    return name


def torch_dtype(name: str | None):
    import torch

    if name is None or not isinstance(name, str):
        return name or torch.float32
    if name not in DTYPES:
        raise TapInputError(f"dtype {name!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def load_model_and_tokenizer(path: str | Path, *, dtype=None, attn_implementation: str = ""):
    """`AutoModelForCausalLM` + a left-padding tokenizer; an unreadable model is one clear error."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # TAP shows its own progress
    if Path(path).exists() and not (Path(path) / "config.json").exists():
        raise TapInputError(f"{path}: not a model folder (no config.json)")
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype(dtype), **extra)
    except (OSError, ValueError, ImportError) as exc:  # offline hub id, gated repo, unknown attention kernel
        raise TapInputError(f"{path}: could not load the model ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    return model, tokenizer


def count_parameters(path: str | Path) -> int:
    """Parameters of the model at `path` (folder or hub id), built on the meta device: no weights read."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(path)))
    return sum(p.numel() for p in model.parameters())


def stop_strings(config: TapConfig) -> tuple[str, ...]:
    """The data section's stop strings, else those of its presets (all of them, for a mix), else none."""
    if config.data.stop is not None:
        return tuple(config.data.stop)
    from tap.data.presets import PRESETS

    return tuple(dict.fromkeys(stop for name in config.data.presets for stop in PRESETS[name].stop))


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


def prompt_format(config: TapConfig, tokenizer):
    return format_from(config.policy.model_dump(mode="json"), tokenizer)


def format_from(policy: dict, tokenizer):
    """The PromptFormat a [policy] section (as a dict: label units carry plain data) gives this tokenizer."""
    from tap.policy.prompting import PromptFormat

    return PromptFormat.for_tokenizer(tokenizer, policy.get("chat_template", "auto"), policy.get("system_prompt", ""),
                                      policy.get("chat_template_kwargs"))


def hf_policy(path: str | Path, policy: dict, stop=(), *, batch_size: int = 512, model=None, tokenizer=None):
    """An HFPolicy for a [policy] section given as a dict, over `model` or the weights at `path`."""
    from tap.policy.hf import HFPolicy

    if model is None:
        model, tokenizer = load_model_and_tokenizer(path, dtype=policy.get("dtype", "float32"),
                                                    attn_implementation=policy.get("attn_implementation", ""))
    return HFPolicy(model, tokenizer, batch_size=batch_size, device=resolve_device(policy.get("device", "auto")),
                    prompt_format=format_from(policy, tokenizer), stop=stop)


def make_policy(config: TapConfig, *, home: Path | None = None, model: str | Path | None = None, batch_size: int | None = None):
    """The Policy a config names (backend hf or vllm), ready to sample and score."""
    path = policy_path(config, home=home, model=model)
    batch = batch_size or config.rollout.batch_size
    if config.policy.backend == "vllm":
        from tap.policy.vllm import VLLMPolicy

        return VLLMPolicy.from_config(path, config, batch_size=batch)
    return hf_policy(path, config.policy.model_dump(mode="json"), stop_strings(config), batch_size=batch)
