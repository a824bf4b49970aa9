"""How wide the headline intervals are when the bootstrap resamples item groups (as every interval now
does) against cohorts one by one (as they did before): the same run, labels, fits and resample seed,
two evaluations that differ only in what a resample draws (`evaluate_scorers(interval_groups=...)`).

For each run folder: the grouped K-fold ρ of the configured predictor and of the scorers the README
quotes (those the battery has), the held-out-seed selection's fraction of the oracle, the noise
ceiling, and the paired difference to the configured predictor — value, both intervals, both widths
and their ratio. Writes bench/results/interval_widths.json and prints a table.

    python bench/interval_widths.py NAME=RUN_DIR [NAME=RUN_DIR ...] [--out bench/results/interval_widths.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
QUOTED = ("TAP auto R+F", "TAP gbm R+F", "TAP gbm R+F+G", "TAP ridge R+F+G", "best feature R+F", "head_align_dot",
          "head_grad_dot", "grad_cos", "gold_nll", "measured lift, 2 seeds", "random")
METRICS = ("kfold_spearman", "top_fraction_of_oracle")


def _pair(grouped: dict, by_cohort: dict) -> dict:
    width = lambda t: t["hi"] - t["lo"]  # noqa: E731
    return {"value": grouped["value"], "groups": [grouped["lo"], grouped["hi"]],
            "cohorts": [by_cohort["lo"], by_cohort["hi"]], "width_groups": width(grouped),
            "width_cohorts": width(by_cohort), "ratio": width(grouped) / width(by_cohort) if width(by_cohort) else None}


def widths(run_dir: Path) -> dict:
    from tap.api.predict import _labelled_features, _run_config
    from tap.evaluate.evaluation import evaluate_scorers
    from tap.evaluate.scorers import build_scorers, configured_scorer_name

    config = _run_config(run_dir, None)
    data = _labelled_features(run_dir, config)
    predictor = config.predictor.model_dump()
    configured = configured_scorer_name(predictor)
    n_seeds = data["y_cs"].shape[1]
    scorers = [s for s in build_scorers(data["features"], data["label_cost"], n_seeds, predictor)
               if s.name in (configured, *QUOTED)]
    ev = config.evaluate
    common = dict(q=ev.top_q, resamples=ev.bootstrap, seed=ev.bootstrap_seed, random_draws=ev.random_draws,
                  level=config.predictor.level, n_jobs=min(2, os.cpu_count() or 1), groups=data["groups"],
                  folds=ev.folds, repeats=ev.repeats, loco_max=0, headline=configured)
    started = time.perf_counter()
    grouped, _ = evaluate_scorers(scorers, data["features"], data["y_cs"], data["domains"], data["members"], **common)
    by_cohort, _ = evaluate_scorers(scorers, data["features"], data["y_cs"], data["domains"], data["members"],
                                    interval_groups=np.arange(len(data["y_cs"])), **common)
    entries = {e["name"]: e for e in by_cohort["scorers"]}
    out = {"run": str(run_dir), "cohorts": grouped["cohorts"], "seeds": grouped["seeds"],
           "groups": grouped["protocol"]["groups"], "largest_group": grouped["protocol"]["largest_group"],
           "configured": configured, "bootstrap": ev.bootstrap, "scorers": {}}
    for entry in grouped["scorers"]:
        if entry["group"] == "random":
            continue
        other = entries[entry["name"]]["metrics"]
        out["scorers"][entry["name"]] = {m: _pair(entry["metrics"][m], other[m]) for m in METRICS
                                         if m in entry["metrics"]}
    out["ceiling"] = _pair(grouped["noise"]["ceiling"], by_cohort["noise"]["ceiling"])
    cohort_paired = by_cohort["paired"].get("minus_headline", {})
    out["paired_minus_configured"] = {name: _pair(diff, cohort_paired[name])
                                      for name, diff in grouped["paired"].get("minus_headline", {}).items()}
    out["seconds"] = time.perf_counter() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR: a run folder with features.parquet and labels.sqlite.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "interval_widths.json")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = dict(previous.get("runs", {}))
    for spec in args.runs:
        name, _, path = spec.partition("=")
        runs[name] = {**widths(Path(path)), "command": f"python bench/interval_widths.py {spec}"}
        _write(args.out, commit, runs)  # after each run: a long list keeps what it finished
        print(f"\n{name}: {runs[name]['cohorts']} cohorts in {runs[name]['groups']} item groups "
              f"(largest {runs[name]['largest_group']})")
        print(f"{'scorer':<34}{'K-fold ρ':>9}  {'by item group':>16}  {'by cohort':>16}  {'ratio':>6}")
        for scorer, metrics in runs[name]["scorers"].items():
            k = metrics.get("kfold_spearman")
            if k is None:  # measured lift: selection numbers only
                continue
            print(f"{scorer:<34}{k['value']:>9.2f}  [{k['groups'][0]:>6.2f}, {k['groups'][1]:>5.2f}]  "
                  f"[{k['cohorts'][0]:>6.2f}, {k['cohorts'][1]:>5.2f}]  {k['ratio'] or float('nan'):>6.2f}")
    print(f"wrote {args.out}")


def _write(out: Path, commit: str, runs: dict) -> None:
    payload = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores", "commit": commit,
               "command": "python bench/interval_widths.py " + " ".join(sys.argv[1:]), "runs": runs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
