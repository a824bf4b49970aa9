"""How `tap evaluate`'s time grows with the battery (issue 16, item 6).

In one process: every scorer evaluated on the first 64 labelled cohorts of RUN_DIR (the baseline),
then `tap evaluate` on all of them (which writes RUN_DIR/metrics.json). Prints both times and their
ratio, and writes bench/results/evaluate.json.

    python bench/evaluate.py runs/large
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from tap import api
from tap.api.predict import _labelled_features, _run_config, _short_runs
from tap.evaluate.evaluation import evaluate_scorers
from tap.evaluate.scorers import build_scorers

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--baseline", type=int, default=64, help="cohorts in the baseline run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "evaluate.json")
    args = parser.parse_args()

    config = _run_config(args.run_dir, None)
    data = _labelled_features(args.run_dir, config)
    n = len(data["y_cs"])
    m = min(args.baseline, n)
    short = _short_runs(
        args.run_dir, config, data["selection"], data["features"].cohort_id, data["seeds"], data["rows"], None
    )
    rows = slice(0, m)
    sub_short = {h: (lifts[rows], s, f) for h, (lifts, s, f) in short.items()}
    scorers = build_scorers(
        data["features"].iloc[rows], data["label_cost"], data["y_cs"].shape[1], config.predictor.model_dump(), sub_short
    )
    ev = config.evaluate
    headline = f"TAP {config.predictor.model} {'+'.join(config.predictor.families)}"
    started = time.perf_counter()
    evaluate_scorers(
        scorers,
        data["features"].iloc[rows].reset_index(drop=True),
        data["y_cs"][rows],
        data["domains"][rows],
        data["members"][rows],
        q=ev.top_q,
        resamples=ev.bootstrap,
        seed=ev.bootstrap_seed,
        random_draws=ev.random_draws,
        level=config.predictor.level,
        n_jobs=min(2, os.cpu_count() or 1),
        groups=data["groups"][rows],
        folds=ev.folds,
        repeats=ev.repeats,
        loco_max=ev.loco_max_cohorts,
        headline=headline,
    )
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    metrics = api.evaluate(args.run_dir, config=config)
    full = time.perf_counter() - started
    out = {
        "command": "python bench/evaluate.py " + " ".join(sys.argv[1:]),
        "run_dir": str(args.run_dir),
        "baseline_cohorts": m,
        "cohorts": n,
        "scorers": len(metrics["scorers"]),
        "loco_max_cohorts": ev.loco_max_cohorts,
        "folds": ev.folds,
        "repeats": ev.repeats,
        "bootstrap": ev.bootstrap,
        "baseline_seconds": baseline,
        "full_seconds": full,
        "ratio": full / baseline,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'cohorts':>8} {'seconds':>9}")
    print(f"{m:>8} {baseline:>9.1f}")
    print(f"{n:>8} {full:>9.1f}   ratio {full / baseline:.2f} (LOCO only up to {ev.loco_max_cohorts} cohorts)")
    print(f"wrote {args.out} and {args.run_dir / 'metrics.json'}")


if __name__ == "__main__":
    main()
