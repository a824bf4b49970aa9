"""TAP choosing what TRL's GRPOTrainer trains on next, in an ordinary training script.

Runs on the embedded tiny world (built or reused from $TAP_HOME): the pool is the world's vendor
cohorts; before each GRPO step, TAP scores a few candidate cohorts against the current model and
the trainer trains on the best. Prints what was chosen and the probe before and after.

    python examples/trl_tap_curriculum.py [--steps 8] [--candidates 8] [--lr 3e-5] [--dynamic]
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig

from tap.config import load_config
from tap.integrations.trl_curriculum import TAPCurriculum, TAPGRPOTrainer, adv_spread
from tap.policy.hf import HFPolicy
from tap.probe import probe_metrics
from tap.verify.registry import judge
from tap.world.build import build_world


def reward(completions, gold, **_):
    """The verifier as a TRL reward function: 1 for a correct answer, else 0."""
    return [judge("exact", c, g).reward for c, g in zip(completions, gold)]


def probe_nll(model, tokenizer, probe) -> float:
    table = probe_metrics(HFPolicy(model, tokenizer), probe).set_index("subject")
    model.train()
    return float(table.loc["all", "gold_nll"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument(
        "--dynamic", action="store_true", help="dynamic sampling: drop all-equal groups and refill the batch"
    )
    args = parser.parse_args()

    world = build_world(load_config())
    tokenizer = AutoTokenizer.from_pretrained(world.policy_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(world.policy_dir, dtype=torch.float32)
    before = probe_nll(model, tokenizer, world.probe)
    curriculum = TAPCurriculum(world.cohorts, tokenizer, score=adv_spread, candidates=args.candidates)
    with tempfile.TemporaryDirectory() as out:
        grpo = GRPOConfig(
            output_dir=out,
            max_steps=args.steps,
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            num_generations=8,
            per_device_train_batch_size=curriculum.cohort_size * 8,
            max_completion_length=8,
            top_k=0,
            top_p=1.0,
            use_cpu=not torch.cuda.is_available(),
            report_to="none",
            gradient_checkpointing=False,
            save_strategy="no",
            disable_tqdm=True,
            logging_steps=args.steps,
        )
        trainer = TAPGRPOTrainer(
            model=model,
            reward_funcs=reward,
            args=grpo,
            processing_class=tokenizer,
            curriculum=curriculum,
            dynamic_sampling=args.dynamic,
        )
        trainer.train()
    after = probe_nll(model, tokenizer, world.probe)
    for record in curriculum.history:  # one choice per step, made with the weights after the previous update
        dropped = (
            f", {record['dropped_groups']} all-equal groups dropped, {record['extra_prompts']} extra prompts"
            if args.dynamic
            else ""
        )
        print(
            f"batch {record['batch']}: trained on {record['chosen']}{dropped} (adv_std {max(record['scores']):.3f}; "
            "candidates "
            f"{', '.join(record['candidates'])})"
        )
    print(
        f"probe gold NLL: {before:.4f} -> {after:.4f} (drop {before - after:+.4f} nats/token after {args.steps} GRPO "
        "steps)"
    )


if __name__ == "__main__":
    main()
