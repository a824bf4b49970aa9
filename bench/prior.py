"""A predictor better than its best ingredient? The label-free prior and the expected-accuracy direction on every
world of the zoo (issue 30, items 1 and 2).

For each world exported under docs/results/zoo/ (features.parquet, labels.parquet, cohorts.parquet):

1. **K-fold headline** (the headline protocol, `tap.evaluate.protocols.kfold`: grouped 5-fold, ρ within each
   held-out fold averaged over folds and repeats; 95% intervals resample item groups, paired differences on the same
   resamples): the candidate predictors below, the label-free priors alone and the best single feature chosen
   in-fold (R+F; `BestFeature`), with ρ / noise ceiling.
2. **Learning curve**: k labelled cohorts (k = 0, 16, 32, 64, 128 while at least 16 are left to rank), drawn as
   whole item groups (`tap.evaluate.adapt.pick_labelled`, `--draws` draws); every method is fit on the k and ranks the
   rest; a point is the mean ρ over draws. Its 95% interval resamples item groups: each resample keeps, in every
   draw, the evaluation cohorts of the groups it drew (with their multiplicity) and averages ρ over draws; paired
   differences use the same resamples.
3. **Signals within a subject**: ρ of every theory-signed score (head_align_*, head_align_pass_*, grad_*,
   grad_pass_*) with the label over the world and within each domain of ≥ 12 cohorts from ≥ 4 item groups,
   intervals over item groups.

Candidates (on R+F with the learning-signal gate, the configured default's skeleton), for each label-free prior
P in (head_align_dot, head_align_pass_dot: the probe-NLL and the expected-accuracy directions through the LM head):
- "ridge R+F" (today's configured predictor, ridge α = 1);
- "ridge R+F → P, α" (α = 100, 1000): the ridge fit to the labels' departures from the standardized prior P
  (TAPPredictor(prior=P), tap.predict.shrink);
- "bayes R+F → P": the same with scikit-learn's BayesianRidge, its penalty set by the labels' evidence;
- "auto R+F → P": TAP auto with that prior (the prior alone, ridges shrunk toward it, then its own space;
  the one-standard-error rule).
The default is chosen on the development worlds only, before the test worlds are looked at: the candidate with the
best mean, over development worlds, of (ρ at k = 16, K-fold ρ). The test worlds are reported, never tuned on.

    python bench/prior.py [--worlds tiny-default ...] [--draws 20] [--resamples 1000] [--out docs/results/prior]

Writes prior.json there and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "docs" / "results" / "zoo"
TEST_WORLDS = ("interference", "tiny-two-subjects", "rg-arith-market", "tiny-seed1")
KS = (0, 16, 32, 64, 128)
MIN_EVAL = 16
PRIORS = ("head_align_dot", "head_align_pass_dot")  # the label-free priors: NLL and expected-accuracy directions
SIGNALS = ("head_align_dot", "head_align_adam", "head_align_pass_dot", "head_align_pass_adam", "grad_dot", "grad_cos",
           "grad_adam", "grad_pass_dot", "grad_pass_cos", "grad_pass_adam")
CANDIDATES = {  # name -> TAPPredictor parameters (families R+F, the gate on)
    "ridge R+F": {"model": "ridge", "alpha": 1.0},
    **{f"ridge R+F → {prior}, α {alpha:g}": {"model": "ridge", "alpha": alpha, "prior": prior}
       for prior in PRIORS for alpha in (100.0, 1000.0)},
    **{f"bayes R+F → {prior}": {"model": "bayes", "prior": prior} for prior in PRIORS},
    **{f"auto R+F → {prior}": {"model": "auto", "prior": prior} for prior in PRIORS},
}
BEST = "best feature R+F (in-fold)"


def load(folder: Path):
    from tap.config import load_config

    features = pd.read_parquet(folder / "features.parquet")
    features["cohort_id"] = features.cohort_id.astype(str)
    labels = pd.read_parquet(folder / "labels.parquet")
    cohorts = pd.read_parquet(folder / "cohorts.parquet")
    cohorts["cohort_id"] = cohorts.cohort_id.astype(str)
    cohorts = cohorts.set_index("cohort_id").reindex(features.cohort_id)
    target = load_config(folder / "config.toml").evaluate.target
    y_cs = labels.pivot_table(index="cohort_id", columns="seed", values=target).reindex(features.cohort_id).to_numpy()
    return features, y_cs, cohorts, target


def usable_columns(features: pd.DataFrame, families=("R", "F")) -> list[str]:
    from tap.features.catalog import feature_tags
    from tap.features.compute import feature_columns

    tags = feature_tags()
    return [c for c in feature_columns(features) if tags.get(c) in families and features[c].notna().any()]


def tap_maker(params: dict, columns: list[str]):
    from tap.predict.gate import gate_for
    from tap.predict.predictor import TAPPredictor
    from tap.predict.shrink import prior_for

    def make():
        return TAPPredictor(families=("R", "F"), interval="none", random_state=0,
                            gate=gate_for("nondegenerate", columns),
                            **{**params, "prior": prior_for(params.get("prior", "none"), columns)})

    return make


def methods(columns: list[str]) -> dict:
    """name -> (columns it reads, model factory, whether it learns from labels)."""
    from tap.evaluate.scorers import BestFeature, SignedFeature

    out = {name: (columns, tap_maker(params, columns), True) for name, params in CANDIDATES.items()}
    out[BEST] = (columns, BestFeature, True)
    for prior in PRIORS:
        if prior in columns:
            out[f"{prior} alone"] = ([prior], lambda: SignedFeature(sign=1.0), False)
    return out


def kfold_headline(features, y_cs, cohorts, columns, resamples: int, repeats: int) -> dict:
    """Grouped K-fold (`tap.evaluate.protocols.kfold`, the headline protocol: ρ within each held-out fold, averaged
    over folds and repeats) of every method, with ρ / noise ceiling; intervals resample item groups (each resample
    reads one repeat, as `tap evaluate` does), and every candidate's differences to today's predictor, to the best
    single feature chosen in-fold and to the prior alone are paired on the same resamples and folds."""
    from tap.evaluate.metrics import noise_ceiling
    from tap.evaluate.protocols import kfold
    from tap.stats import fold_mean, percentile_interval, resample_groups, seed_reliability, spearman

    y = y_cs.mean(axis=1)
    groups = pd.factorize(cohorts.group)[0]
    preds = {}
    for name, (cols, make, _) in methods(columns).items():
        out = kfold(make, features[cols].to_numpy(float), y, groups, folds=5, repeats=repeats, seed=0)
        preds[name] = (out["kfold"], out["folds"])

    def stats(rows, repeat=None):
        chosen = range(repeats) if repeat is None else [repeat]
        rho = {name: float(np.nanmean([fold_mean(spearman, pred[r][rows], y[rows], folds[r][rows]) for r in chosen]))
               for name, (pred, folds) in preds.items()}
        return rho, noise_ceiling(seed_reliability(y_cs[rows]), y_cs.shape[1])

    point, ceiling = stats(np.arange(len(y)))
    samples = [stats(rows, b % repeats) for b, rows in enumerate(resample_groups(groups, resamples, 1))]
    out = {"noise_ceiling": percentile_interval(ceiling, [c for _, c in samples]),
           "item_groups": int(len(set(groups))), "kfold_spearman": {}, "rho_over_ceiling": {}, "paired": {}}
    for name in preds:
        out["kfold_spearman"][name] = percentile_interval(point[name], [s[name] for s, _ in samples])
        out["rho_over_ceiling"][name] = percentile_interval(
            point[name] / ceiling, [s[name] / c if c > 0 else np.nan for s, c in samples])
    for name in CANDIDATES:
        for ref in ("ridge R+F", BEST, *(f"{p} alone" for p in PRIORS)):
            if ref in preds and ref != name:
                out["paired"].setdefault(name, {})[f"minus {ref}"] = percentile_interval(
                    point[name] - point[ref], [s[name] - s[ref] for s, _ in samples])
    return out


def learning_curve(features, y_cs, cohorts, columns, draws: int, resamples: int, seed: int = 0) -> dict:
    from tap.evaluate.adapt import pick_labelled
    from tap.evaluate.protocols import fit_model, predict_model
    from tap.stats import percentile_interval, resample_groups, spearman

    y = y_cs.mean(axis=1)
    groups = pd.factorize(cohorts.group)[0]
    rng = np.random.default_rng(seed)
    table = methods(columns)
    boot = resample_groups(groups, resamples, seed + 1)
    out = {}
    for k in KS:
        if len(y) - k < MIN_EVAL:
            continue
        runs = []  # per draw: (evaluation rows, {method: predictions on them})
        for _ in range(draws):
            labelled, evaluation = pick_labelled(groups, k, rng)
            if len(evaluation) < MIN_EVAL:
                continue
            predicted = {}
            for name, (cols, make, learns) in table.items():
                if learns and k == 0 and "prior" not in CANDIDATES.get(name, {}):
                    continue  # a model without a prior has nothing to fit on 0 labels
                X = features[cols].to_numpy(float)
                model = fit_model(make(), X[labelled], y[labelled], groups[labelled], None)
                predicted[name] = predict_model(model, X[evaluation])
            runs.append((evaluation, predicted))
        names = [n for n in table if all(n in p for _, p in runs)]

        def curve(rows_of_draw):
            return {n: float(np.nanmean([spearman(p[n][m], y[e][m]) for (e, p), m in zip(runs, rows_of_draw)]))
                    for n in names}

        point = curve([np.arange(len(e)) for e, _ in runs])
        samples = []
        for rows in boot:
            count = np.bincount(rows, minlength=len(y))
            samples.append(curve([np.repeat(np.arange(len(e)), count[e]) for e, _ in runs]))
        entry = {"draws": len(runs), "evaluation_cohorts": float(np.mean([len(e) for e, _ in runs])),
                 "rho": {n: percentile_interval(point[n], [s[n] for s in samples]) for n in names}, "paired": {}}
        for name in CANDIDATES:
            for ref in (BEST, *(f"{p} alone" for p in PRIORS), "ridge R+F"):
                if name in names and ref in names and ref != name:
                    entry["paired"].setdefault(name, {})[f"minus {ref}"] = percentile_interval(
                        point[name] - point[ref], [s[name] - s[ref] for s in samples])
        out[str(k)] = entry
    return out


def signals(features, y_cs, cohorts, resamples: int, min_cohorts: int = 12, min_groups: int = 4) -> dict:
    """ρ of each theory-signed score with the label, over the world and within each domain of at least `min_cohorts`
    cohorts from at least `min_groups` item groups (fewer make an interval over item groups meaningless)."""
    from tap.stats import bootstrap, spearman

    y = y_cs.mean(axis=1)
    groups = pd.factorize(cohorts.group)[0]
    domains = cohorts.domain.to_numpy()
    out = {}
    for name in SIGNALS:
        if name not in features or not features[name].notna().any():
            continue
        x = features[name].to_numpy(float)
        x = np.where(np.isfinite(x), x, np.nanmedian(x))
        entry = {"all": bootstrap(lambda i: spearman(x[i], y[i]), len(y), resamples=resamples, groups=groups)}
        for domain in sorted(set(domains)):
            rows = np.flatnonzero(domains == domain)
            if len(rows) >= min_cohorts and len(set(groups[rows])) >= min_groups:
                entry[domain] = {**bootstrap(lambda i: spearman(x[rows][i], y[rows][i]), len(rows),
                                             resamples=resamples, groups=groups[rows]), "cohorts": int(len(rows))}
        out[name] = entry
    return out


def choose(worlds: dict) -> dict:
    """The candidate with the best mean over development worlds of (ρ at k = 16, K-fold ρ)."""
    dev = [w for w, e in worlds.items() if not e["test_world"]]
    scores = {}
    for name in CANDIDATES:
        values = []
        for w in dev:
            e = worlds[w]
            curve16 = e["learning_curve"].get("16", {}).get("rho", {}).get(name, {}).get("value")
            kf = e["kfold"]["kfold_spearman"][name]["value"]
            values.append(np.nanmean([np.nan if curve16 is None else curve16, kf]))
        scores[name] = float(np.mean(values))
    return {"rule": "best mean over development worlds of the mean of (ρ at k = 16 labelled cohorts, K-fold ρ)",
            "development_worlds": dev, "scores": scores, "chosen": max(scores, key=scores.get)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, default=ZOO)
    parser.add_argument("--worlds", nargs="*", default=None, help="World names (default: every world of the zoo).")
    parser.add_argument("--draws", type=int, default=20, help="Draws of labelled cohorts per k.")
    parser.add_argument("--resamples", type=int, default=1000, help="Bootstrap resamples of item groups.")
    parser.add_argument("--repeats", type=int, default=5, help="Repeats of the grouped K-fold.")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "prior")
    args = parser.parse_args()
    from tap import __version__

    names = args.worlds or sorted(p.name for p in args.zoo.iterdir() if (p / "features.parquet").exists())
    start = time.perf_counter()
    worlds = {}
    for name in names:
        t0 = time.perf_counter()
        features, y_cs, cohorts, target = load(args.zoo / name)
        columns = usable_columns(features)
        worlds[name] = {
            "test_world": name in TEST_WORLDS, "cohorts": int(len(features)), "seeds": int(y_cs.shape[1]),
            "target": target, "columns": columns,
            "kfold": kfold_headline(features, y_cs, cohorts, columns, args.resamples, args.repeats),
            "learning_curve": learning_curve(features, y_cs, cohorts, columns, args.draws, args.resamples),
            "signals": signals(features, y_cs, cohorts, args.resamples),
        }
        worlds[name]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {worlds[name]['seconds']} s", flush=True)
    payload = {
        "command": "python bench/prior.py " + " ".join(
            [*(["--worlds", *args.worlds] if args.worlds else []), "--draws", str(args.draws), "--resamples",
             str(args.resamples), "--repeats", str(args.repeats)]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tap_version": __version__,
        "machine": platform.machine(), "seconds": round(time.perf_counter() - start, 1),
        "protocol": {"ks": list(KS), "min_eval": MIN_EVAL, "draws": args.draws, "resamples": args.resamples,
                     "kfold": {"folds": 5, "repeats": args.repeats}, "priors": list(PRIORS), "candidates": CANDIDATES,
                     "families": ["R", "F"], "gate": "nondegenerate", "test_worlds": list(TEST_WORLDS)},
        "worlds": worlds,
        "choice": choose(worlds) if any(not w["test_world"] for w in worlds.values()) else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prior.json").write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print_tables(payload)


def _fmt(entry) -> str:
    if not entry or entry.get("value") is None or not np.isfinite(entry["value"]):
        return "—"
    return f"{entry['value']:.2f} [{entry['lo']:.2f}, {entry['hi']:.2f}]"


def print_tables(payload: dict) -> None:
    for name, w in payload["worlds"].items():
        print(f"\n{name}{' (test)' if w['test_world'] else ''}: {w['cohorts']} cohorts, noise ceiling "
              f"{w['kfold']['noise_ceiling']['value']:.2f}")
        print(f"  {'method':<28}{'K-fold ρ':>22}" + "".join(f"{'k=' + k:>22}" for k in w["learning_curve"]))
        for method, rho in w["kfold"]["kfold_spearman"].items():
            row = "".join(f"{_fmt(e['rho'].get(method)):>22}" for e in w["learning_curve"].values())
            print(f"  {method:<28}{_fmt(rho):>22}{row}")
    if payload.get("choice"):
        print("\nchoice on development worlds:", json.dumps(payload["choice"], indent=1))


if __name__ == "__main__":
    main()
