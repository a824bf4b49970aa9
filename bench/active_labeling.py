"""Active labeling against random order, replayed on the large battery (issue 18, item 2).

The 256-cohort battery of Evidence II (docs/results/large-study: features.parquet, and the 3-seed
mean label of every cohort in predictions.parquet) is the label source: buying a cohort's label
costs its 3 label runs and reads its committed mean, so no label run is spent here. Each repetition
holds out 64 random cohorts as a test set (never labelled, never seen by the selection) and starts
both orders from the same 16 random pool cohorts; then labels 8 cohorts per round, by expected
improvement (tap.experiments.active) or at random, up to 192. After every round the configured predictor
(configs/tiny.toml's [predictor]: ridge on R+F) is fitted on the labelled cohorts and ranks the test
set: Spearman ρ and the top-10% fraction of the oracle's gain (tap.evaluate.metrics). Both orders
are paired by repetition (same test set, same start); intervals are 95% t-intervals over
repetitions.

    python bench/active_labeling.py --repeats 10 --out docs/results/active-labeling
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from tap.experiments.active import PaidLabels, label_order
from tap.api import feature_catalog
from tap.api.predict import configured_predictor
from tap.config import load_config
from tap.evaluate import metrics as M
from tap.features.compute import feature_columns
from tap.stats import t_interval
from tap.store import write_json

REPO = Path(__file__).resolve().parents[1]
BATTERY = REPO / "docs/results/large-study"


def load_battery(families: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    features = pd.read_parquet(BATTERY / "features.parquet").set_index("cohort_id")
    labels = pd.read_parquet(BATTERY / "predictions.parquet").groupby("cohort_id").label.first()
    tags = {name: tag for name, tag, _ in feature_catalog()}
    columns = [
        c for c in feature_columns(features.reset_index()) if tags.get(c) in families and features[c].notna().any()
    ]
    features = features.loc[labels.index, columns].astype(float)
    return features, labels


SEEDS_PER_COHORT = 3  # the large battery's label.seeds: what buying one cohort's label costs
REFERENCE = 64


def replay(features: pd.DataFrame, labels: pd.Series, config, args) -> dict:
    """{order: {labelled count: [per repetition: ρ and top-q fraction of the oracle on the test set]}}."""
    q = config.evaluate.top_q

    def make_model():
        return configured_predictor(config, list(features.columns), arrays=True, interval="none")

    curves = {s: {} for s in ("active", "random")}
    began = time.perf_counter()
    for rep in range(args.repeats):
        order = np.random.default_rng(1000 + rep).permutation(len(features))
        test_ids = features.index[order[:args.test]]
        pool = features.drop(index=test_ids)
        X_test, y_test = features.loc[test_ids].to_numpy(float), labels.loc[test_ids].to_numpy(float)
        for strategy in ("active", "random"):
            paid = PaidLabels(lambda ids: {i: float(labels[i]) for i in ids})

            def evaluate(paid: PaidLabels, strategy: str = strategy) -> None:
                ids = list(paid.labels)
                model = make_model().fit(pool.loc[ids].to_numpy(float), np.array([paid.labels[i] for i in ids]))
                scores = model.predict(X_test)
                curves[strategy].setdefault(len(ids), []).append({
                    "rep": rep, "rho": M.spearman(scores, y_test),
                    "oracle": M.selection_on_seed(scores, y_test, q)["fraction_of_oracle"]})

            label_order(
                pool,
                paid,
                args.budget,
                strategy=strategy,
                start=args.start,
                batch=args.batch,
                make_model=make_model,
                q=q,
                seed=rep,
                after_round=evaluate,
            )
        print(
            f"\rrepetition {rep + 1}/{args.repeats}  {time.perf_counter() - began:.0f} s",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    return curves


def curve_table(curves: dict) -> dict:
    """Per labelled count: each order's mean [t-interval] and their paired difference, for ρ and the oracle fraction."""
    table = {}
    for n in sorted(curves["active"]):
        a = pd.DataFrame(curves["active"][n]).sort_values("rep")
        r = pd.DataFrame(curves["random"][n]).sort_values("rep")
        table[n] = {
            "label_runs": n * SEEDS_PER_COHORT,
            **{f"{s}_{m}": t_interval(d[m]) for s, d in (("active", a), ("random", r)) for m in ("rho", "oracle")},
            **{f"paired_{m}": t_interval(a[m].to_numpy() - r[m].to_numpy()) for m in ("rho", "oracle")},
        }
    return table


def savings(table: dict) -> dict:
    """Per metric: the smallest labelled count from which each order's mean stays at or above random order's at 64."""
    sizes = sorted(table)
    out = {}
    for m in ("rho", "oracle"):
        goal = table[REFERENCE][f"random_{m}"]["mean"]

        def stays(order: str) -> int | None:
            return next(
                (n for n in sizes if all(table[k][f"{order}_{m}"]["mean"] >= goal for k in sizes if k >= n)), None
            )

        reached = stays("active")
        out[m] = {"random_at_64": goal, "active_stays_above_from": reached, "random_stays_above_from": stays("random"),
                  "cohorts_saved": None if reached is None else REFERENCE - reached,
                  "label_runs_saved": None if reached is None else (REFERENCE - reached) * SEEDS_PER_COHORT}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--test", type=int, default=64)
    parser.add_argument("--start", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--budget", type=int, default=192)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    config = load_config()
    features, labels = load_battery(config.predictor.families)
    began = time.perf_counter()
    table = curve_table(replay(features, labels, config, args))
    saved = savings(table)

    def iv(x: dict) -> str:
        return f"{x['mean']:+.2f} [{x['lo']:+.2f}, {x['hi']:+.2f}]"

    print(f"{'cohorts':>8} {'label runs':>10} {'ρ active':>9} {'ρ random':>9} {'ρ paired':>22} {'top-10% active':>15} "
          f"{'top-10% random':>15} {'top-10% paired':>22}")
    for n, t in table.items():
        print(
            f"{n:>8} {t['label_runs']:>10} {t['active_rho']['mean']:>9.3f} {t['random_rho']['mean']:>9.3f} "
            f"{iv(t['paired_rho']):>22} "
            f"{t['active_oracle']['mean']:>15.3f} {t['random_oracle']['mean']:>15.3f} {iv(t['paired_oracle']):>22}"
        )
    print(f"savings vs random order at {REFERENCE} cohorts: {saved}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        command = "python bench/" + Path(__file__).name + " " + " ".join(sys.argv[1:])
        write_json(
            {
                "command": command,
                "battery": str(BATTERY.relative_to(REPO)),
                "cohorts": int(len(features)),
                "features": list(features.columns),
                "predictor": config.predictor.model_dump(),
                "repeats": args.repeats,
                "test_cohorts": args.test,
                "start": args.start,
                "batch": args.batch,
                "label_runs_per_cohort": SEEDS_PER_COHORT,
                "top_q": config.evaluate.top_q,
                "curve": {str(n): t for n, t in table.items()},
                "savings_vs_random_at_64": saved,
                "seconds": time.perf_counter() - began,
                "machine": platform.machine(),
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
            args.out / "active_labeling.json",
        )
        print(f"wrote {args.out / 'active_labeling.json'}")


if __name__ == "__main__":
    main()
