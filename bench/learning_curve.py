"""How many label runs before TAP ranks data better than the free heuristics? (issue 16, item 4)

For m labelled cohorts (16, 32, 64, 128, ..., the whole battery) and 10 random subsamples of m
cohorts each (the whole battery: 10 fold splits), every scorer below is judged by the headline
protocol inside the subsample — grouped 5-fold, models trained on 4/5 of the m cohorts — against a
held-out seed: for each seed h the models learn from the other seeds' mean labels and are scored
on y[·, h] (ρ and pairwise accuracy within each held-out fold; the top 10% of the subsample,
pooled over its folds, as a fraction of the oracle's gain). Scorers: TAP auto (R+F), the best
single feature chosen in-fold (R, and R+F), the gradient family (fixed sign), the short-run
scorers (another seed's lift after h GRPO steps), random. Values are means over subsamples with
the 2.5–97.5% spread over subsamples.

Writes RUN_DIR/learning_curve.json (the report draws it) and, with --out, a copy plus the command.

    python bench/learning_curve.py runs/large --out docs/results/learning-curve
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from tap.api.predict import _labelled_features, _run_config, _short_runs
from tap.evaluate import metrics as M
from tap.evaluate.evaluation import _point_maker
from tap.evaluate.protocols import fit_model, group_folds, predict_model
from tap.evaluate.scorers import build_scorers, configured_scorer_name
from tap.stats import percentile_interval
from tap.store import RunPaths, write_json

SIZES = (16, 32, 64, 128, 256)


def _curve_scorers(scorers: list, configured: str) -> list:
    keep = []
    for s in scorers:
        if s.name in ("TAP auto R+F", configured, "best feature R", "best feature R+F", "random") or s.name.startswith(
            "short run"
        ):
            keep.append(s)
        elif s.group == "gradient" and "| within subject" not in s.name:
            keep.append(s)
    return keep


def _one(scorer, data: dict, rows: np.ndarray, split_seed: int, q: float) -> dict:
    """One scorer on one subsample: mean over held-out seeds of within-fold ρ, pairwise accuracy and
    the top-q fraction of the oracle."""
    from threadpoolctl import threadpool_limits

    X = data["features"][scorer.columns].to_numpy(float)[rows] if scorer.columns else None
    y_cs, groups, subjects = data["y_cs"][rows], data["groups"][rows], data["domains"][rows]
    seeds = y_cs.shape[1]
    rng = np.random.RandomState(split_seed)
    out = {"rho": [], "pairwise": [], "oracle": []}
    with threadpool_limits(1):
        for h in range(seeds):
            folds = group_folds(groups, min(5, len(np.unique(groups))), rng)
            target = y_cs[:, h]
            if scorer.make is not None:
                train_y = np.delete(y_cs, h, axis=1).mean(axis=1)
                scores = np.zeros(len(rows))
                for f in np.unique(folds):
                    test = folds == f
                    model = fit_model(_point_maker(scorer)(), X[~test], train_y[~test], groups[~test], subjects[~test])
                    scores[test] = predict_model(model, X[test], subjects[test])
            elif scorer.seed_scores is not None:
                scores = scorer.seed_scores[rows, (h + 1) % seeds]
            else:  # random
                scores = rng.normal(size=len(rows))
            out["rho"].append(M.fold_mean(M.spearman, scores, target, folds))
            out["pairwise"].append(M.fold_mean(M.pairwise_accuracy, scores, target, folds))
            out["oracle"].append(M.selection_on_seed(scores, target, q)["fraction_of_oracle"])
    return {k: float(np.nanmean(v)) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--out", type=Path, help="also copy learning_curve.json here (e.g. docs/results/learning-curve)"
    )
    parser.add_argument("--subsamples", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()

    started = time.perf_counter()
    config = _run_config(args.run_dir, None)
    data = _labelled_features(args.run_dir, config)
    n = len(data["y_cs"])
    short = _short_runs(
        args.run_dir, config, data["selection"], data["features"].cohort_id, data["seeds"], data["rows"], None
    )
    configured = configured_scorer_name(config.predictor.model_dump())
    scorers = _curve_scorers(build_scorers(data["features"], data["label_cost"], data["y_cs"].shape[1],
                                           config.predictor.model_dump(), short), configured)
    sizes = sorted({min(m, n) for m in args.sizes})
    q = config.evaluate.top_q
    rng = np.random.default_rng(0)
    plan = []  # (size, subsample, rows, split seed)
    for m in sizes:
        for b in range(args.subsamples):
            rows = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
            plan.append((m, b, rows, int(rng.integers(1 << 30))))
    from joblib import Parallel, delayed

    jobs = [(s, m, b, rows, seed) for m, b, rows, seed in plan for s in scorers]
    results = Parallel(n_jobs=args.jobs)(delayed(_one)(s, data, rows, seed, q) for s, m, b, rows, seed in jobs)
    curves: dict[str, dict] = {}
    for (s, m, b, _, _), result in zip(jobs, results):
        entry = curves.setdefault(s.name, {"group": s.group, "cost_seconds": s.cost_seconds, "points": {}})
        entry["points"].setdefault(str(m), []).append(result)
    table = {}
    for name, entry in curves.items():
        table[name] = {"group": entry["group"], "cost_seconds": entry["cost_seconds"], "sizes": {}}
        for m, runs in entry["points"].items():
            table[name]["sizes"][m] = {
                k: percentile_interval(np.nanmean([r[k] for r in runs]), [r[k] for r in runs])  # spread over draws
                for k in ("rho", "pairwise", "oracle")
            }
    def crossing(name: str, free: str = "best feature R") -> int | None:
        """The smallest m from which `name`'s mean ρ stays above `free`'s."""
        if name not in table or free not in table:
            return None
        above = {
            int(m): table[name]["sizes"][m]["rho"]["value"] > table[free]["sizes"][m]["rho"]["value"]
            for m in table[name]["sizes"]
        }
        return min((m for m in above if all(above[k] for k in above if k >= m)), default=None)

    out = {
        "run_dir": str(args.run_dir),
        "cohorts": n,
        "seeds": int(data["y_cs"].shape[1]),
        "target": config.evaluate.target,
        "sizes": sizes,
        "subsamples": args.subsamples,
        "top_q": q,
        "protocol": "within each subsample of m cohorts: grouped 5-fold, trained on the other seeds' mean labels, "
                    "scored on the held-out seed",
        "configured": configured,
        "crossing": {
            "free": "best feature R",
            "TAP auto R+F": crossing("TAP auto R+F"),
            configured: crossing(configured),
            "meaning": "smallest m from which the scorer's mean ρ stays above the best reward-only feature chosen "
                       "in-fold",
        },
        "curves": table,
        "seconds": time.perf_counter() - started,
        "command": "python bench/learning_curve.py " + " ".join(sys.argv[1:]),
    }
    write_json(out, RunPaths(args.run_dir).root / "learning_curve.json")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copy(RunPaths(args.run_dir).root / "learning_curve.json", args.out / "learning_curve.json")
    names = sorted(table, key=lambda k: -np.nan_to_num(table[k]["sizes"][str(sizes[-1])]["rho"]["value"], nan=-9))
    print(f"learning curve: {n} cohorts x {out['seeds']} seeds, {args.subsamples} subsamples per size; "
          f"ρ within held-out folds vs a held-out seed (mean over subsamples)")
    print(f"{'scorer':34s}" + "".join(f"{m:>9d}" for m in sizes) + "   top-10% of oracle at " + str(sizes[-1]))
    for name in names:
        row = table[name]["sizes"]
        print(f"{name[:34]:34s}" + "".join(f"{row[str(m)]['rho']['value']:+9.3f}" for m in sizes)
              + f"   {row[str(sizes[-1])]['oracle']['value']:+.3f}")
    print(f"above the best reward-only feature (in-fold) from: TAP auto R+F {out['crossing']['TAP auto R+F']}, "
          f"{configured} {out['crossing'][configured]} labelled cohorts; {out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
