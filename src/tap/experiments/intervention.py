"""The causal intervention: does raising frac_nondegenerate, and nothing else, raise the lift?

Matched cohorts come from one subject's clean pool items, sorted by the base policy's pass rate on
G samples into "always solved" (p = 1), "never solved" (p = 0) and "sometimes solved" (0 < p < 1).
A cohort of size n at level k holds k sometimes-solved items and n − k degenerate ones, split evenly
between always- and never-solved, so frac_nondegenerate moves from 0 to 1 while the subject, the
item source, the cohort size and the always : never balance stay fixed. Each cohort is labelled with
S seeds like any other; the slope of lift on the achieved frac_nondegenerate (least squares over
cohorts) gets a bootstrap interval over cohorts, resampled within each subject.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from tap.stats import percentile_interval


def item_pass_rates(policy, items: pd.DataFrame, *, num_generations: int, max_new_tokens: int, seed: int = 0,
                    verifier: str = "exact") -> pd.DataFrame:
    """The base policy's pass rate on each item (G samples), as item_id -> pass_rate."""
    from tap.rollouts import rollout_cohorts

    as_cohorts = items.assign(cohort_id=items.item_id, position=0)
    rollouts = rollout_cohorts(policy, as_cohorts, num_generations=num_generations, max_new_tokens=max_new_tokens,
                               seed=seed, verifier=verifier)
    return rollouts.groupby("item_id").reward.mean().rename("pass_rate").reset_index()


def matched_cohorts(
    items: pd.DataFrame, *, size: int, levels: list[int], replicates: int, seed: int = 0
) -> pd.DataFrame:
    """Cohorts per subject x level x replicate (long form). `items` needs item_id, subject, prompt,
    gold and pass_rate. Subjects without enough items of each kind for the top level are skipped."""
    rng = random.Random(f"intervention-{seed}")
    rows = []
    for subject, part in items.groupby("subject", sort=True):
        kinds = {"always": part[part.pass_rate == 1], "never": part[part.pass_rate == 0],
                 "sometimes": part[(part.pass_rate > 0) & (part.pass_rate < 1)]}
        need = {"sometimes": max(levels), "always": (size - min(levels) + 1) // 2, "never": (size - min(levels)) // 2}
        if any(len(kinds[k]) < need[k] for k in need):
            continue
        for level in levels:
            for replicate in range(replicates):
                n_always = (size - level + 1) // 2
                picks = {"sometimes": level, "always": n_always, "never": size - level - n_always}
                chosen = [row for kind, n in picks.items() for row in rng.sample(kinds[kind].to_dict("records"), n)]
                rng.shuffle(chosen)
                cohort_id = f"iv-{subject}-k{level}-r{replicate}"
                for position, item in enumerate(chosen):
                    rows.append(
                        {
                            "cohort_id": cohort_id,
                            "position": position,
                            "item_id": item["item_id"],
                            "subject": subject,
                            "prompt": item["prompt"],
                            "gold": item["gold"],
                            "level": level,
                            "target_frac_nondegenerate": level / size,
                            "base_pass_rate": item["pass_rate"],
                        }
                    )
    return pd.DataFrame(rows)


def slope_with_interval(table: pd.DataFrame, x: str, y: str, *, resamples: int = 2000, seed: int = 0) -> dict:
    """Least-squares slope of y on x over cohorts, with a 95% bootstrap interval (cohorts resampled
    within each subject, so every resample keeps the design's subject mix)."""
    def slope(frame: pd.DataFrame) -> float:
        if frame[x].nunique() < 2:
            return float("nan")
        return float(np.polyfit(frame[x], frame[y], 1)[0])

    rng = np.random.default_rng(seed)
    groups = [g for _, g in table.groupby("subject")]
    boots = []
    for _ in range(resamples):
        sample = pd.concat([g.iloc[rng.integers(0, len(g), len(g))] for g in groups])
        boots.append(slope(sample))
    per_subject = {str(s): slope(g) for s, g in table.groupby("subject")}
    return {
        **percentile_interval(slope(table), boots, key="slope"),
        "per_subject": per_subject,
        "cohorts": int(len(table)),
    }
