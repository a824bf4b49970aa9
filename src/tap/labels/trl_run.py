"""One label run: GRPO-train the base policy on one cohort with one seed (TRL), measure the probe.

This is the only module that imports `trl`. A unit carries plain data only, so it can travel to a
worker process or a Ray task. The probe is recorded item by item (tap.probe) after the last step and
after each step in `label.probe_steps` (an observation only: the records are taken in eval mode with
no gradient and sampling on a forked random stream, so they never change the run); the lifts
(lift_nll, delta_accuracy, lift_pass; overall and per subject) are computed from those records. The
completions TRL sampled for the first step are kept too, with their rewards (the linearization check
computes the first step's gradient from them).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class LabelUnit:
    """Everything one cohort x seed label run needs, as plain data."""

    cohort_id: str
    seed: int
    prompts: tuple[str, ...]
    golds: tuple[str, ...]
    policy_dir: str  # a model folder or hub id
    probe: tuple[tuple[str, str, str, str], ...]  # (prompt, gold, subject, verifier)
    before: dict  # probe summary of the base policy: {subject: {"accuracy": ., "gold_nll": ., "pass": .}}
    settings: dict  # LabelConfig as a dict, plus "policy" (PolicyConfig as a dict) and "stop" (stop strings)
    config_hash: str
    threads: int = 1
    fail_times: int = field(default=0, compare=False)  # test hook: raise on the first N attempts
    verifiers: tuple[str, ...] = ()  # per item (presets set them); empty = settings["verifier"] for all

    @property
    def cohort_hash(self) -> str:
        """The content of what this unit trains on (labels/identity.py)."""
        from tap.labels.identity import cohort_hash

        verifiers = self.verifiers or (self.settings.get("verifier", "exact"),) * len(self.prompts)
        return cohort_hash(self.prompts, self.golds, verifiers)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.cohort_id, self.cohort_hash, self.seed)


def probe_frame(probe: tuple[tuple[str, str, str, str], ...]) -> pd.DataFrame:
    return pd.DataFrame(list(probe), columns=["prompt", "gold", "subject", "verifier"])


PROBE_SAMPLE_SEED = 0  # every probe measurement samples with this stream, the base policy's included


def record_probe(policy, unit: LabelUnit) -> pd.DataFrame:
    """The unit's probe, item by item, for `policy` as it is now (tap.probe.probe_records). Sampled
    items draw with the same random stream as the base measurement (battery.base_probe_metrics), whatever
    the run's seed: common random numbers, so a lift measures the change of the policy rather than the
    luck of two independent draws (the base draw's luck would otherwise shift every label alike)."""
    from tap.probe import probe_records

    settings = unit.settings
    return probe_records(policy, probe_frame(unit.probe), max_new_tokens=settings["probe_max_new_tokens"],
                         verifier=settings["verifier"], samples=settings.get("probe_samples", 0),
                         temperature=settings["temperature"], seed=PROBE_SAMPLE_SEED)


def grpo_config(settings: dict, seed: int, cohort_size: int, output_dir: str, chat_template_kwargs: dict | None = None):
    """TRL's GRPOConfig from our typed label settings (CPU-safe, nothing saved, nothing reported)."""
    import torch
    from trl import GRPOConfig

    g = settings["num_generations"]
    device = (settings.get("policy") or {}).get("device", "auto")
    cuda = torch.cuda.is_available() and device != "cpu"
    with warnings.catch_warnings():  # transformers renamed gradient_checkpointing; TRL still sets it
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
        return _grpo_config(GRPOConfig, settings, seed, cohort_size, output_dir, g, cuda, chat_template_kwargs or {})


def _grpo_config(
    GRPOConfig, settings: dict, seed: int, cohort_size: int, output_dir: str, g: int, cuda: bool, chat_kwargs: dict
):
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=settings["steps"],
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler_type"],
        warmup_steps=0,
        num_generations=g,
        per_device_train_batch_size=settings["per_device_train_batch_size"] or cohort_size * g,
        gradient_accumulation_steps=settings.get("gradient_accumulation_steps", 1),
        max_completion_length=settings["max_completion_length"],
        temperature=settings["temperature"],
        top_p=1.0,
        top_k=0,
        loss_type=settings["loss_type"],
        scale_rewards=settings["scale_rewards"],
        beta=settings["beta"],
        epsilon=settings["epsilon"],
        num_iterations=settings["num_iterations"],
        seed=seed,
        data_seed=seed,
        use_cpu=not cuda,
        bf16=bool(settings.get("bf16")) and cuda,
        report_to="none",
        gradient_checkpointing=bool(settings.get("gradient_checkpointing")),
        chat_template_kwargs=chat_kwargs or None,
        save_strategy="no",
        logging_steps=max(1, settings["steps"]),
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def lora_config(settings: dict):
    """peft's LoraConfig when settings ask for LoRA (lora_r > 0), else None."""
    if not settings.get("lora_r"):
        return None
    try:
        from peft import LoraConfig
    except ImportError:
        from tap.errors import TapInputError

        raise TapInputError("label.lora_r > 0 needs peft: pip install 'tap[lora]'") from None
    return LoraConfig(r=settings["lora_r"], lora_alpha=settings["lora_alpha"], lora_dropout=0.0,
                      target_modules=settings["lora_target_modules"], task_type="CAUSAL_LM")


def train_cohort(unit: LabelUnit, model, tokenizer, optimizer=None, prompt_format=None, callbacks=()) -> dict:
    """GRPO-train `model` on the unit's cohort with TRL; return token counts and the trained model
    (`model` itself, or its peft wrapper when the settings ask for LoRA).

    With `optimizer` (a torch optimizer over `model`'s parameters), training continues with its state
    (the closed loop keeps AdamW's moments across steps); otherwise TRL creates a fresh one. The
    prompts reach TRL in `prompt_format` (chat messages or plain text), as rollouts send them; a
    completion is judged on its text before the first stop string, as in rollouts (TRL itself has
    no stop strings, so it still trains on the tokens after one). `counts["first_step"]` holds the
    completions TRL sampled for the first step, in its order (G per prompt), with their rewards."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    from tap.policy.prompting import PromptFormat, completion_text, cut_at_stop
    from tap.verify.registry import judge

    prompt_format = prompt_format or PromptFormat()
    default = unit.settings["verifier"]
    stop = tuple(unit.settings.get("stop") or ())
    counts = {"generated": 0, "prompt": 0, "first_step": []}

    def verifier_reward(prompts, completions, completion_ids, gold, verifier, **_):
        counts["generated"] += sum(len(ids) for ids in completion_ids)
        counts["prompt"] += sum(len(ids) for ids in prompt_format.encode(tokenizer, [_user_text(p) for p in prompts]))
        texts = [cut_at_stop(completion_text(c), stop)[0] for c in completions]
        rewards = [judge(v, t, g, where=f"cohort {unit.cohort_id}").reward for t, g, v in zip(texts, gold, verifier)]
        if not counts["first_step"]:
            counts["first_step"] = [
                {"order": j, "prompt": _user_text(p), "token_ids": [int(t) for t in ids], "reward": float(r)}
                for j, (p, ids, r) in enumerate(zip(prompts, completion_ids, rewards))
            ]
        return rewards

    verifiers = list(unit.verifiers) or [default] * len(unit.prompts)
    dataset = Dataset.from_dict({"prompt": [prompt_format.trl_prompt(p) for p in unit.prompts],
                                 "gold": list(unit.golds), "verifier": verifiers})
    chat_kwargs = prompt_format.template_kwargs if prompt_format.chat else None
    with tempfile.TemporaryDirectory(prefix="tap-grpo-") as out, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
        args = grpo_config(unit.settings, unit.seed, len(unit.prompts), out, chat_kwargs)
        trainer = GRPOTrainer(
            model=model, reward_funcs=verifier_reward, args=args, train_dataset=dataset, processing_class=tokenizer,
            optimizers=(optimizer, None), peft_config=lora_config(unit.settings),
        )
        for callback in (PrinterCallback, ProgressCallback):  # TRL prints every log dict otherwise
            trainer.remove_callback(callback)
        for callback in callbacks:
            trainer.add_callback(callback)
        trainer.train()
    return {**counts, "model": trainer.model}


def _user_text(prompt) -> str:
    """The user's text of a TRL prompt row (a string, or messages ending with the user turn)."""
    return prompt if isinstance(prompt, str) else str(prompt[-1]["content"])


def settings_policy(policy_dir: str, settings: dict, model=None, tokenizer=None):
    """The HFPolicy that label settings describe (their policy section and stop strings), over
    `model` or the weights at `policy_dir`."""
    from tap.policy.hf import hf_policy

    return hf_policy(
        policy_dir, settings.get("policy") or {}, settings.get("stop") or (), model=model, tokenizer=tokenizer
    )


def _probe_callback(unit: LabelUnit, tokenizer, steps: set[int], taken: dict, start: float):
    """A TrainerCallback that records the probe after each step in `steps` into `taken`
    ({step: (records, probe seconds, seconds of the run so far without earlier looks)}), then puts
    the model back in the mode it was in."""
    import torch
    from transformers import TrainerCallback

    class RecordProbe(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step not in steps or model is None:
                return
            now, training = time.perf_counter(), model.training
            elapsed = now - start - sum(seconds for _, seconds, _ in taken.values())
            with torch.no_grad():
                records = record_probe(settings_policy(unit.policy_dir, unit.settings, model, tokenizer), unit)
            model.train(training)
            taken[state.global_step] = (records, time.perf_counter() - now, elapsed)

    return RecordProbe()


def _ledger_records(records: pd.DataFrame, step: int) -> list[dict]:
    return [{"step": step, **{k: v for k, v in row.items() if k not in ("subject", "verifier")}}
            for row in records.to_dict(orient="records")]


def run_label(unit: LabelUnit, attempt: int = 1) -> dict:
    """Train on the cohort from the base policy, record the probe, return one ledger row (with its
    per-item `records`, per-step `steps` timings and `first_step` completions)."""
    import torch
    from transformers.utils import logging as hf_logging

    from tap.probe import lifts, summarize

    if attempt <= unit.fail_times:
        raise RuntimeError(f"injected failure {attempt} of {unit.fail_times} (test hook)")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(max(1, unit.threads))
    start = time.perf_counter()
    settings = unit.settings
    base = settings_policy(unit.policy_dir, settings)  # the base weights, on the policy's device
    tokenizer, prompt_format = base.tokenizer, base.prompt_format
    parameters = sum(x.numel() for x in base.model.parameters())
    steps = {int(s) for s in settings.get("probe_steps", ()) if 0 < int(s) < settings["steps"]}
    taken: dict[int, tuple[pd.DataFrame, float, float]] = {}
    looks = [_probe_callback(unit, tokenizer, steps, taken, start)]
    counts = train_cohort(unit, base.model, tokenizer, prompt_format=prompt_format, callbacks=looks)
    trained_at = time.perf_counter()
    record_seconds = sum(seconds for _, seconds, _ in taken.values())
    policy = settings_policy(unit.policy_dir, settings, counts.pop("model"), tokenizer)
    final = record_probe(policy, unit)
    after, before = summarize(final), unit.before
    trained = settings["num_iterations"] * (counts["generated"] + counts["prompt"])
    scored = _scored_tokens(unit, tokenizer, prompt_format)
    records = [r for step, (table, _, _) in sorted(taken.items()) for r in _ledger_records(table, step)]
    records += _ledger_records(final, settings["steps"])
    return {
        "cohort_id": unit.cohort_id,
        "cohort_hash": unit.cohort_hash,
        "seed": unit.seed,
        "config_hash": unit.config_hash,
        "status": "ok",
        **lifts(before, after),
        "nll_before": before["all"]["gold_nll"],
        "nll_after": after["all"]["gold_nll"],
        "accuracy_before": before["all"]["accuracy"],
        "accuracy_after": after["all"]["accuracy"],
        "pass_before": before["all"]["pass"],
        "pass_after": after["all"]["pass"],
        "subject_deltas": {s: lifts({"all": before[s]}, {"all": m}) for s, m in after.items() if s != "all"},
        "attempts": attempt,
        "wall_seconds": time.perf_counter() - start - record_seconds,  # the label run's own cost: looking is extra
        "generated_tokens": counts["generated"],
        "trained_tokens": trained,
        "scored_tokens": scored,
        "parameters": parameters,
        "flops": 6.0 * parameters * trained + 2.0 * parameters * (counts["generated"] + scored),
        "records": records,
        "steps": [
            {"step": step, "train_seconds": elapsed, "probe_seconds": seconds}
            for step, (_, seconds, elapsed) in sorted(taken.items())
        ]
        + [{"step": settings["steps"], "train_seconds": trained_at - start - record_seconds,
            "probe_seconds": time.perf_counter() - trained_at}],
        "first_step": counts["first_step"],
    }


def _scored_tokens(unit: LabelUnit, tokenizer, prompt_format) -> int:
    """Tokens one probe recording reads: the prompts, the golds with the end token, and greedy
    decoding (at most probe_max_new_tokens per item: an upper bound)."""
    scored = int(sum(len(ids) for ids in prompt_format.encode(tokenizer, [prompt for prompt, *_ in unit.probe])))
    scored += int(sum(len(tokenizer(g)["input_ids"]) + 1 for _, g, *_ in unit.probe))
    return scored + len(unit.probe) * unit.settings["probe_max_new_tokens"]
