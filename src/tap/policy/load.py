"""How a policy is loaded: its dtype, attention implementation, device, prompt format and stop
strings. Which weights a config means (the tiny world's policy, or a real model) is decided above
the policy and the world, in tap/resolve.py."""

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
        raise TapInputError(
            f"{path}: could not load the model ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
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
    from tap.presets import PRESETS

    return tuple(dict.fromkeys(stop for name in config.data.presets for stop in PRESETS[name].stop))


def prompt_format(config: TapConfig, tokenizer):
    return format_from(config.policy.model_dump(mode="json"), tokenizer)


def format_from(policy: dict, tokenizer):
    """The PromptFormat a [policy] section (as a dict: label units carry plain data) gives this tokenizer."""
    from tap.policy.prompting import PromptFormat

    return PromptFormat.for_tokenizer(tokenizer, policy.get("chat_template", "auto"), policy.get("system_prompt", ""),
                                      policy.get("chat_template_kwargs"))
