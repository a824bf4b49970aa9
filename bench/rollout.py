"""Sampler throughput: TAP's sampler vs plain `model.generate` on the same batch, same process.

TAP's sampler returns text, per-token log-probs and entropies taken from the generation's own
logits; plain generate returns token ids only. Both sample 256 prompts x G completions in the
same batches of sequences, alternating runs so that machine noise hits both alike. Prints a table
and writes bench/results/rollout.json. Goal: ratio >= 0.9.

    python bench/rollout.py [--config configs/tiny.toml] [--prompts 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from tap.config import load_config
from tap.policy.hf import HFPolicy
from tap.world.build import build_world


def plain_generate(policy: HFPolicy, prompts: list[str], g: int, max_new_tokens: int, seed: int) -> int:
    encoded = [ids for ids in policy.encode_prompts(prompts) for _ in range(g)]
    done = 0
    for start in range(0, len(encoded), policy.batch_size):
        input_ids, mask = policy._left_pad(encoded[start:start + policy.batch_size])
        torch.manual_seed(seed + start)
        with torch.no_grad():
            out = policy.model.generate(
                input_ids=input_ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                max_new_tokens=max_new_tokens, eos_token_id=policy.eos_id, pad_token_id=policy.pad_id,
            )
        done += out.shape[0]
    return done


def tap_sample(policy: HFPolicy, prompts: list[str], g: int, max_new_tokens: int, seed: int) -> int:
    groups = policy.sample(prompts, g, max_new_tokens=max_new_tokens, temperature=1.0, seed=seed)
    return sum(len(group) for group in groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rollout.json")
    args = parser.parse_args()

    config = load_config(args.config)
    world = build_world(config)
    policy = HFPolicy.from_pretrained(world.policy_dir, batch_size=config.rollout.batch_size)
    prompts = list(world.cohorts.prompt)[: args.prompts]
    g, max_new = config.rollout.num_generations, config.rollout.max_new_tokens
    tap_sample(policy, prompts[:8], g, max_new, 0)  # warm-up
    times: dict[str, list[float]] = {"plain generate": [], "tap sampler": []}
    for repeat in range(args.repeats):
        for name, fn in (("plain generate", plain_generate), ("tap sampler", tap_sample)):
            start = time.perf_counter()
            n = fn(policy, prompts, g, max_new, repeat)
            times[name].append(n / (time.perf_counter() - start))
    rates = {name: statistics.median(v) for name, v in times.items()}
    ratio = rates["tap sampler"] / rates["plain generate"]
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {torch.get_num_threads()} torch threads",
        "prompts": len(prompts), "num_generations": g, "max_new_tokens": max_new, "batch_size": policy.batch_size,
        "sequences_per_s": rates, "runs": times, "ratio_tap_over_plain": ratio, "goal": 0.9,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'sampler':<16}{'sequences/s (median)':>22}{'ratio':>8}")
    for name, rate in rates.items():
        print(f"{name:<16}{rate:>22.1f}{rate / rates['plain generate']:>8.3f}")
    print(
        f"{len(prompts)} prompts x G={g}, max_new_tokens={max_new}; goal ratio >= 0.9: "
        f"{'met' if ratio >= 0.9 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
