"""Cost per cohort of TAP scoring vs a 1-seed GRPO label run vs the gradient baseline, one command.

On the same cohorts of the default tiny world, in one process with the same torch threads:
- TAP scoring = sample the rollouts + compute the predictor's features (R+F; also R alone);
- gradient baseline = the same rollouts + the G family (GRPO-loss and probe-loss gradients);
- label run = GRPO-train the cohort for one seed with TRL and measure the probe (what TAP predicts).
The expected-accuracy direction (issue 30, item 2) is priced on its own too: what it adds to a scoring run is one
probe forward pass with the expected-accuracy weights (head_align_pass_*, F) and one probe backward pass
(grad_pass_*, G), once per run whatever the number of cohorts; shown per cohort and as a share of its family.
Prints a table and writes bench/results/cost.json. Goals (issue 19): TAP scoring (R+F) <= 1/20 of
a 1-seed label run and <= 1/2 of the gradient baseline, per cohort, in seconds. The rollouts and
each scoring arm are timed `--repeats` times, interleaved, and the median taken; the label runs once.

    python bench/cost.py [--cohorts 16] [--repeats 5] [--config configs/tiny.toml]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from tap import api
from tap.advantages import Objective
from tap.config import load_config
from tap.features.compute import build_features
from tap.features.forward import forward_pass
from tap.features.gradients import probe_pass_gradient
from tap.features.head_align import pass_weights
from tap.labels.ledger import Ledger
from tap.policy.hf import HFPolicy
from tap.rollouts import rollout_cohorts
from tap.world.build import build_world


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_timed(fns: dict, repeats: int) -> dict:
    """{name: (median seconds, last value)} over `repeats` rounds, the names interleaved within each
    round so that a slow spell of a shared machine falls on every arm alike."""
    seconds: dict = {name: [] for name in fns}
    values: dict = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            s, values[name] = timed(fn)
            seconds[name].append(s)
    return {name: (statistics.median(seconds[name]), values[name]) for name in fns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--cohorts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the scoring timings (median taken)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cost.json")
    args = parser.parse_args()

    config = load_config(args.config)
    world = build_world(config)
    policy = HFPolicy.from_pretrained(world.policy_dir, batch_size=config.rollout.batch_size)
    items = world.cohorts[world.cohorts.cohort_id.isin(sorted(world.cohorts.cohort_id.unique())[: args.cohorts])]
    n = args.cohorts
    r = config.rollout
    (gen_s, rollouts), = median_timed({"gen": lambda: rollout_cohorts(
        policy, items, num_generations=r.num_generations, max_new_tokens=r.max_new_tokens, seed=r.seed,
        prompts_per_batch=max(1, r.batch_size // r.num_generations))}, args.repeats).values()
    objective = Objective.of(config.label)  # the features read the label runs' GRPO objective
    features = dict(items=items, policy=policy, probe=world.probe, objective=objective)
    timings = median_timed({
        "R": lambda: build_features(rollouts, {"R"}),
        "RF": lambda: build_features(rollouts, {"R", "F"}, **features),
        "RG": lambda: build_features(rollouts, {"R", "G"}, **features),
    }, args.repeats)
    (r_s, _), (rf_s, rf), (g_s, g) = timings["R"], timings["RF"], timings["RG"]
    probe_prompts = policy.encode_prompts(list(world.probe.prompt))
    probe_golds = policy.encode_answers(list(world.probe.gold))
    probe_logps = forward_pass(policy, probe_prompts, probe_golds).logps
    direction = median_timed({  # what the expected-accuracy direction adds to a scoring run (once per run)
        "F": lambda: forward_pass(policy, probe_prompts, probe_golds, weights=pass_weights(probe_logps)),
        "G": lambda: probe_pass_gradient(policy, list(world.probe.prompt), list(world.probe.gold)),
    }, args.repeats)
    pass_f_s, pass_g_s = direction["F"][0], direction["G"][0]
    with tempfile.TemporaryDirectory() as run:  # 1 seed per cohort, in this process, all cores (same as above)
        label_wall, _ = timed(lambda: api.label(run, config=config, cohorts=items, seeds=1, workers=1))
        ledger = Ledger(Path(run) / "labels.sqlite").table()
    label_s, label_flops = float(ledger.wall_seconds.sum()), float(ledger.flops.mean())

    gen_flops = float(rollouts.gen_flops.sum()) / n
    rows = {
        "TAP scoring, R (rollouts + reward features)": ((gen_s + r_s) / n, gen_flops),
        "TAP scoring, R+F (the default predictor)": ((gen_s + rf_s) / n, gen_flops + float(rf.cost_F_flops.mean())),
        "gradient baseline (rollouts + G)": ((gen_s + g_s) / n, gen_flops + float(g.cost_G_flops.mean())),
        "1-seed GRPO label run": (label_s / n, label_flops),
    }
    label_cost, grad_cost = rows["1-seed GRPO label run"], rows["gradient baseline (rollouts + G)"]
    tap = rows["TAP scoring, R+F (the default predictor)"]
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "cohorts": n,
        "cohort_size": int(items.groupby("cohort_id").size().max()),
        "num_generations": r.num_generations,
        "label_steps": config.label.steps,
        "label_battery_wall_seconds": label_wall,
        "scoring_repeats": args.repeats,
        "per_cohort": {name: {"seconds": s, "flops": f} for name, (s, f) in rows.items()},
        "per_cohort_ratios": {
            name: {"x_label_seconds": s / label_cost[0], "x_gradient_seconds": s / grad_cost[0]}
            for name, (s, f) in rows.items()
        },
        "ratios": {
            "tap_over_label_seconds": tap[0] / label_cost[0],
            "tap_over_label_flops": tap[1] / label_cost[1],
            "tap_over_gradient_seconds": tap[0] / grad_cost[0],
            "tap_over_gradient_flops": tap[1] / grad_cost[1],
        },
        "expected_accuracy_direction": {
            "what": "once per scoring run: F = one probe forward pass with the expected-accuracy weights "
                    "(head_align_pass_*), G = one probe backward pass (grad_pass_*); included in the rows above",
            "probe_items": int(len(world.probe)),
            "F_seconds_per_run": pass_f_s, "G_seconds_per_run": pass_g_s,
            "F_seconds_per_cohort": pass_f_s / n, "G_seconds_per_cohort": pass_g_s / n,
            "F_share_of_RF_features": pass_f_s / rf_s, "G_share_of_G_features": pass_g_s / g_s,
        },
        "goal": "TAP scoring (R+F) <= 1/20 of a 1-seed label run and <= 1/2 of the gradient baseline, per cohort, in "
                "seconds",
    }
    payload["goal_met"] = {"x_label": payload["ratios"]["tap_over_label_seconds"] <= 1 / 20,
                           "x_gradient": payload["ratios"]["tap_over_gradient_seconds"] <= 1 / 2}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'per cohort':<46}{'seconds':>10}{'GFLOPs':>10}{'x label (s)':>13}{'x gradient (s)':>16}")
    for name, (s, f) in rows.items():
        print(f"{name:<46}{s:>10.4f}{f / 1e9:>10.2f}{s / label_cost[0]:>13.4f}{s / grad_cost[0]:>16.3f}")
    ratios = payload["ratios"]
    d = payload["expected_accuracy_direction"]
    print(f"expected-accuracy direction, once per run of {n} cohorts: F {pass_f_s:.4f} s "
          f"({d['F_share_of_RF_features']:.1%} of the R+F features' time), G {pass_g_s:.4f} s "
          f"({d['G_share_of_G_features']:.1%} of the G features' time)")
    print(
        f"TAP (R+F) / label run: {ratios['tap_over_label_seconds']:.4f} in seconds, "
        f"{ratios['tap_over_label_flops']:.4f} in FLOPs "
        f"(goal <= 0.05: {'met' if ratios['tap_over_label_seconds'] <= 0.05 else 'NOT met'}); "
        f"TAP / gradient baseline: {ratios['tap_over_gradient_seconds']:.3f} in seconds, "
        f"{ratios['tap_over_gradient_flops']:.3f} in FLOPs "
        f"(goal <= 0.5: {'met' if ratios['tap_over_gradient_seconds'] <= 1 / 2 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
