"""One label run: GRPO-train the base policy on one cohort with one seed (TRL), measure the probe.

This is the only module that imports `trl`. A unit carries plain data only, so it can travel to a
worker process or a Ray task. The lift is probe mean gold-answer NLL before minus after
(positive = better) and the change of probe greedy accuracy, overall and per subject.
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
    policy_dir: str
    probe: tuple[tuple[str, str, str], ...]  # (prompt, gold, subject)
    before: dict  # probe metrics of the base policy: {subject: {"accuracy": ., "gold_nll": .}}
    settings: dict  # LabelConfig as a dict
    config_hash: str
    threads: int = 1
    fail_times: int = field(default=0, compare=False)  # test hook: raise on the first N attempts

    @property
    def key(self) -> tuple[str, int]:
        return (self.cohort_id, self.seed)


def probe_frame(probe: tuple[tuple[str, str, str], ...]) -> pd.DataFrame:
    return pd.DataFrame(list(probe), columns=["prompt", "gold", "subject"])


def metrics_dict(table: pd.DataFrame) -> dict:
    return {row.subject: {"accuracy": float(row.accuracy), "gold_nll": float(row.gold_nll)} for row in table.itertuples()}


def grpo_config(settings: dict, seed: int, cohort_size: int, output_dir: str):
    """TRL's GRPOConfig from our typed label settings (CPU-safe, nothing saved, nothing reported)."""
    import torch
    from trl import GRPOConfig

    g = settings["num_generations"]
    with warnings.catch_warnings():  # transformers renamed gradient_checkpointing; TRL still sets it
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
        return _grpo_config(GRPOConfig, settings, seed, cohort_size, output_dir, g, torch.cuda.is_available())


def _grpo_config(GRPOConfig, settings: dict, seed: int, cohort_size: int, output_dir: str, g: int, cuda: bool):
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=settings["steps"],
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler_type"],
        warmup_steps=0,
        num_generations=g,
        per_device_train_batch_size=settings["per_device_train_batch_size"] or cohort_size * g,
        gradient_accumulation_steps=1,
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
        bf16=False,
        report_to="none",
        gradient_checkpointing=False,
        save_strategy="no",
        logging_steps=max(1, settings["steps"]),
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def train_cohort(unit: LabelUnit, model, tokenizer, optimizer=None) -> dict:
    """GRPO-train `model` in place on the unit's cohort with TRL; return token counts.

    With `optimizer` (a torch optimizer over `model`'s parameters), training continues with its state
    (the closed loop keeps AdamW's moments across steps); otherwise TRL creates a fresh one."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    from tap.verify.registry import judge

    verifier = unit.settings["verifier"]
    counts = {"generated": 0, "prompt": 0}

    def verifier_reward(prompts, completions, completion_ids, gold, **_):
        counts["generated"] += sum(len(ids) for ids in completion_ids)
        counts["prompt"] += sum(len(tokenizer(p)["input_ids"]) for p in prompts)
        return [judge(verifier, c, g, where=f"cohort {unit.cohort_id}").reward for c, g in zip(completions, gold)]

    dataset = Dataset.from_dict({"prompt": list(unit.prompts), "gold": list(unit.golds)})
    with tempfile.TemporaryDirectory(prefix="tap-grpo-") as out, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
        trainer = GRPOTrainer(
            model=model, reward_funcs=verifier_reward, args=grpo_config(unit.settings, unit.seed, len(unit.prompts), out),
            train_dataset=dataset, processing_class=tokenizer, optimizers=(optimizer, None),
        )
        for callback in (PrinterCallback, ProgressCallback):  # TRL prints every log dict otherwise
            trainer.remove_callback(callback)
        trainer.train()
    return counts


def run_label(unit: LabelUnit, attempt: int = 1) -> dict:
    """Train on the cohort from the base policy, measure the probe, return one ledger row."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from tap.policy.hf import HFPolicy
    from tap.probe import probe_metrics

    if attempt <= unit.fail_times:
        raise RuntimeError(f"injected failure {attempt} of {unit.fail_times} (test hook)")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(max(1, unit.threads))
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(unit.policy_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(unit.policy_dir, dtype=torch.float32)
    parameters = sum(p.numel() for p in model.parameters())
    counts = train_cohort(unit, model, tokenizer)
    settings = unit.settings
    policy = HFPolicy(model.float(), tokenizer, batch_size=512)
    probe = probe_frame(unit.probe)
    after = metrics_dict(probe_metrics(policy, probe, max_new_tokens=settings["probe_max_new_tokens"], verifier=settings["verifier"]))
    trained = settings["num_iterations"] * (counts["generated"] + counts["prompt"])
    scored = int(sum(len(tokenizer(p)["input_ids"]) + len(tokenizer(g)["input_ids"]) + 1 for p, g, _ in unit.probe))
    scored += len(unit.probe) * settings["probe_max_new_tokens"]  # greedy decoding, an upper bound
    before = unit.before
    return {
        "cohort_id": unit.cohort_id,
        "seed": unit.seed,
        "config_hash": unit.config_hash,
        "status": "ok",
        "lift_nll": before["all"]["gold_nll"] - after["all"]["gold_nll"],
        "delta_accuracy": after["all"]["accuracy"] - before["all"]["accuracy"],
        "nll_before": before["all"]["gold_nll"],
        "nll_after": after["all"]["gold_nll"],
        "accuracy_before": before["all"]["accuracy"],
        "accuracy_after": after["all"]["accuracy"],
        "subject_deltas": {
            s: {"lift_nll": before[s]["gold_nll"] - m["gold_nll"], "delta_accuracy": m["accuracy"] - before[s]["accuracy"]}
            for s, m in after.items() if s != "all"
        },
        "attempts": attempt,
        "wall_seconds": time.perf_counter() - start,
        "generated_tokens": counts["generated"],
        "trained_tokens": trained,
        "scored_tokens": scored,
        "parameters": parameters,
        "flops": 6.0 * parameters * trained + 2.0 * parameters * (counts["generated"] + scored),
    }
