"""Label-run throughput: label runs per minute with 1 vs 2 workers, in one command.

Both arms label the same cohorts x seeds of the default tiny world into fresh ledgers (1 worker
runs in-process with all cores as torch threads; 2 workers are a process pool with the cores split
between them). Prints a table and writes bench/results/labels.json. Goal: >= 1.6x with 2 workers.

    python bench/labels.py [--cohorts 24] [--seeds 1] [--config configs/tiny.toml]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from tap import api
from tap.config import load_config
from tap.world.build import build_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--cohorts", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "labels.json")
    args = parser.parse_args()

    config = load_config(args.config)
    world = build_world(config)
    arms = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="tapb-", dir="/tmp") as run:
            world.cohorts.to_parquet(Path(run) / "cohorts.parquet")
            start = time.perf_counter()
            result = api.label(run, config=config, max_cohorts=args.cohorts, seeds=args.seeds, workers=workers)
            seconds = time.perf_counter() - start
        arms[workers] = {
            "runs": result.succeeded,
            "failed": result.failed,
            "seconds": seconds,
            "runs_per_minute": 60 * result.succeeded / seconds,
        }
    speedup = arms[2]["runs_per_minute"] / arms[1]["runs_per_minute"]
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "cohorts": args.cohorts, "seeds": args.seeds, "steps": config.label.steps,
        "arms": {f"{w} worker{'s' if w > 1 else ''}": v for w, v in arms.items()},
        "speedup_2_over_1": speedup, "goal": 1.6,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'workers':<10}{'runs':>6}{'seconds':>10}{'runs/min':>10}{'ratio':>8}")
    for w, v in arms.items():
        print(
            f"{w:<10}{v['runs']:>6}{v['seconds']:>10.1f}{v['runs_per_minute']:>10.1f}"
            f"{v['runs_per_minute'] / arms[1]['runs_per_minute']:>8.2f}"
        )
    print(f"goal >= 1.6x with 2 workers: {'met' if speedup >= 1.6 else 'NOT met'} ({speedup:.2f}x)")


if __name__ == "__main__":
    main()
