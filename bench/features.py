"""Feature cost per family as a ratio to generating the rollouts they are read from, one command.

On the same cohorts of the default tiny world: time to sample G completions per prompt (the
baseline), then each feature family on those rollouts. Prints a table and writes
bench/results/features.json. Goal: R and token-level F features <= 10% over generation.

    python bench/features.py [--cohorts 16] [--config configs/tiny.toml]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from tap.config import load_config
from tap.features.compute import _gradient_features, _head_align_features, _model_features
from tap.features.groups import cohorts_from_rollouts
from tap.features.registry import compute_rollout_features
from tap.policy.hf import HFPolicy
from tap.rollouts import rollout_cohorts
from tap.world.build import build_world


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--cohorts", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "features.json")
    args = parser.parse_args()

    config = load_config(args.config)
    world = build_world(config)
    policy = HFPolicy.from_pretrained(world.policy_dir, batch_size=config.rollout.batch_size)
    items = world.cohorts[world.cohorts.cohort_id.isin(sorted(world.cohorts.cohort_id.unique())[: args.cohorts])]
    r = config.rollout
    holder = {}
    generation = timed(lambda: holder.update(rollouts=rollout_cohorts(
        policy, items, num_generations=r.num_generations, max_new_tokens=r.max_new_tokens, seed=r.seed,
        prompts_per_batch=max(1, r.batch_size // r.num_generations))))
    rollouts = holder["rollouts"]
    groups = cohorts_from_rollouts(rollouts)
    seconds = {
        "R (rewards only)": timed(lambda: compute_rollout_features(groups, {"R"})),
        "F token-level (sampler log-probs)": timed(lambda: compute_rollout_features(groups, {"F"})),
        "F forward (gold_nll, representations)": timed(lambda: _model_features(policy, items, world.probe)),
        "F head_align (forward, LM head)": timed(lambda: _head_align_features(policy, rollouts, world.probe)),
        "G gradients (all parameters + head)": timed(lambda: _gradient_features(policy, rollouts, world.probe)),
    }
    ratios = {name: s / generation for name, s in seconds.items()}
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "cohorts": args.cohorts, "num_generations": r.num_generations,
        "generation_seconds": generation, "family_seconds": seconds, "ratio_to_generation": ratios,
        "goal": "R + token-level F <= 0.10 of generation",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'family':<40}{'s per cohort':>14}{'x generation':>14}")
    print(f"{'rollout generation (baseline)':<40}{generation / args.cohorts:>14.4f}{1.0:>14.3f}")
    for name, s in seconds.items():
        print(f"{name:<40}{s / args.cohorts:>14.4f}{ratios[name]:>14.3f}")
    cheap = ratios["R (rewards only)"] + ratios["F token-level (sampler log-probs)"]
    print(f"R + token-level F: {cheap:.3f} x generation (goal <= 0.10: {'met' if cheap <= 0.10 else 'NOT met'}); "
          f"gradient baseline: {ratios['G gradients (all parameters + head)']:.2f} x generation")


if __name__ == "__main__":
    main()
