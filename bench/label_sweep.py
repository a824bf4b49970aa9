"""How the GRPO label settings were chosen: label statistics of the same battery under each setting.

Labels the first N cohorts of the default tiny world with S seeds under each setting of the sweep
(learning rate, steps, reward scaling), each into a fresh ledger, and records the battery summary
`tap labels show` prints: mean label, share improving, across-cohort std, mean within-cohort seed
std, their ratio and the single-seed reliability r1 (mean pairwise Spearman between seeds), plus
the median seconds per label run. Writes bench/results/label_sweep.json and prints a table; the
table in docs/labels.md is this file.

    python bench/label_sweep.py [--cohorts 32] [--seeds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from tap import api
from tap.config import load_config
from tap.world.build import build_world

SWEEP = [  # (learning_rate, steps, scale_rewards); the last is the default
    (1e-4, 6, "group"),
    (5e-5, 6, "group"),
    (2e-4, 6, "group"),
    (1e-4, 12, "group"),
    (1e-4, 6, "none"),
    (3e-5, 12, "group"),
]
KEYS = ("mean_label", "share_improving", "across_cohort_std", "within_cohort_seed_std", "across_over_within",
        "single_seed_reliability", "median_wall_seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "label_sweep.json")
    args = parser.parse_args()

    base = load_config()
    world = build_world(base)
    rows = []
    for lr, steps, scale in SWEEP:
        config = load_config(
            None, [f"label.learning_rate={lr}", f"label.steps={steps}", f"label.scale_rewards={scale}"]
        )
        with tempfile.TemporaryDirectory(prefix="tap-sweep-", dir="/tmp") as run:
            world.cohorts.to_parquet(Path(run) / "cohorts.parquet")
            world.items.to_parquet(Path(run) / "items.parquet")
            api.label(run, config=config, max_cohorts=args.cohorts, seeds=args.seeds, workers=args.workers)
            summary = api.labels_table(run)[1]  # the run folder's config: what api.label ran with
        rows.append({"learning_rate": lr, "steps": steps, "scale_rewards": scale, **{k: summary[k] for k in KEYS},
                     "cohorts": summary["cohorts"], "runs": summary["ok_runs"]})
        print(f"lr {lr:g} steps {steps} scale {scale}: " + ", ".join(f"{k} {summary[k]:.4f}" for k in KEYS), flush=True)
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "cohorts": args.cohorts, "seeds": args.seeds, "workers": args.workers, "cohort_size": base.world.cohorts.size,
        "num_generations": base.label.num_generations, "loss_type": base.label.loss_type, "target": "lift_nll",
        "settings": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
