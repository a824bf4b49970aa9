"""Harmful data and the learning-signal gate, measured on every world of the zoo (issue 30, items 3 and 4).

For each world exported under docs/results/zoo/ (features.parquet, labels.parquet, cohorts.parquet), runs
`tap.evaluate.evaluation.evaluate_scorers` (grouped K-fold over item groups, 95% bootstrap intervals over item
groups) on two scorers: the configured predictor (the config's default: ridge α 1000 on R+F shrunk toward the
label-free prior head_align_pass_dot, `predictor.gate = "nondegenerate"`) and the same predictor without the gate.
Records per world:
- K-fold ρ of each, and ungated − gated, paired over the same resamples;
- the gated predictor's held-out P(lift < 0) (repeat 0 of the K-fold, CV+): AUROC for lift < 0, the Brier score
  beside the base rate's, and reliability bins; the same for the ungated one;
- the AUROC of the reward-only heuristics (low pass rate, few non-degenerate groups).
Test worlds (configs/zoo/README.md) are marked; nothing here is chosen on any world.

    python bench/harm.py [--worlds tiny-default reasoning-gym ...] [--out docs/results/harm/harm.json]

Writes the JSON and prints a table. About a minute per world on 2 cores (the 256-cohort world most).
"""

from __future__ import annotations

import argparse
import dataclasses
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


def world_metrics(folder: Path, resamples: int, repeats: int) -> dict:
    from tap.config import load_config
    from tap.evaluate.evaluation import evaluate_scorers
    from tap.evaluate.scorers import build_scorers

    features = pd.read_parquet(folder / "features.parquet")
    labels = pd.read_parquet(folder / "labels.parquet")
    cohorts = pd.read_parquet(folder / "cohorts.parquet").set_index("cohort_id").reindex(features.cohort_id)
    target = load_config(folder / "config.toml").evaluate.target
    y_cs = labels.pivot_table(index="cohort_id", columns="seed", values=target).reindex(features.cohort_id).to_numpy()
    predictor = load_config().predictor.model_dump()  # the configured default: ridge R+F → head_align_pass_dot, gated
    gated = next(s for s in build_scorers(features, (1.0, 1.0), y_cs.shape[1], predictor, which="headline")
                 if s.group == "tap")
    plain = next(s for s in build_scorers(features, (1.0, 1.0), y_cs.shape[1], {**predictor, "gate": "none"},
                                          which="headline") if s.group == "tap")
    plain = dataclasses.replace(plain, name=plain.name + " without the gate")
    domains = cohorts.domain.to_numpy()
    metrics, predictions = evaluate_scorers(
        [gated, plain], features, y_cs, domains, [{d} for d in domains], resamples=resamples, repeats=repeats,
        groups=pd.factorize(cohorts.group)[0], headline=gated.name, loco_max=0,
    )
    entries = {e["name"]: e for e in metrics["scorers"]}
    groups = pd.factorize(cohorts.group)[0]
    p_harm = predictions[predictions.scorer == gated.name].set_index("cohort_id").p_harm.reindex(features.cohort_id)
    closed = features.frac_nondegenerate.to_numpy(float) == 0
    return {
        "cohorts": int(len(features)), "seeds": int(y_cs.shape[1]), "target": target,
        "item_groups": metrics["protocol"]["groups"], "test_world": folder.name in TEST_WORLDS,
        "without_learning_signal": int(closed.sum()),
        "mean_label_without_learning_signal": float(np.mean(y_cs.mean(axis=1)[closed])) if closed.any() else None,
        "kfold_spearman": {name: e["metrics"]["kfold_spearman"] for name, e in entries.items()},
        "ungated_minus_gated": metrics["paired"]["minus_headline"].get(plain.name),
        "harm": {name: e.get("harm") for name, e in entries.items()},
        "harm_heuristics": metrics["harm_heuristics"],
        "auroc_minus_heuristic": paired_auroc(p_harm.to_numpy(float), features, y_cs.mean(axis=1), groups, resamples),
        "noise_ceiling": metrics["noise"]["ceiling"],
        "scorers": {"gated": gated.name, "ungated": plain.name},
    }


def paired_auroc(p_harm: np.ndarray, features: pd.DataFrame, y: np.ndarray, groups: np.ndarray, resamples: int) -> dict:
    """AUROC of the held-out P(lift < 0) minus each reward-only heuristic's, paired over resamples of item groups
    (the evaluation's own resampler and seed)."""
    from tap.evaluate.intervals import HARM_HEURISTICS
    from tap.stats import auroc, percentile_interval, resample_groups

    harmful = y < 0
    boots = resample_groups(groups, resamples, 0)
    out = {}
    for name, (column, sign) in HARM_HEURISTICS.items():
        score = sign * features[column].to_numpy(float)

        def diff(idx: np.ndarray) -> float:
            return auroc(p_harm[idx], harmful[idx]) - auroc(score[idx], harmful[idx])

        out[name] = percentile_interval(diff(np.arange(len(y))), [diff(idx) for idx in boots])
    return out


def fmt(entry: dict | None, digits: int = 2) -> str:
    if not entry:
        return "—"
    return f"{entry['value']:.{digits}f} [{entry['lo']:.{digits}f}, {entry['hi']:.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", nargs="+", default=sorted(p.parent.name for p in ZOO.glob("*/features.parquet")))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "harm" / "harm.json")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    worlds, seconds = {}, {}
    for name in args.worlds:
        start = time.perf_counter()
        worlds[name] = world_metrics(ZOO / name, args.resamples, args.repeats)
        seconds[name] = round(time.perf_counter() - start, 1)
        print(f"{name}: {seconds[name]} s", flush=True)
    out = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": f"{platform.machine()}, 2 cores",
        "command": "python bench/harm.py" + ("" if args.worlds == parser.get_default("worlds")
                                             else " --worlds " + " ".join(args.worlds))
        + ("" if args.resamples == 1000 else f" --resamples {args.resamples}")
        + ("" if args.repeats == 10 else f" --repeats {args.repeats}"),
        "resamples": args.resamples, "repeats": args.repeats, "seconds": seconds, "worlds": worlds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, sort_keys=True, default=float) + "\n")
    print(f"\n{'world':20s} {'gated ρ':22s} {'ungated − gated':22s} {'AUROC P(harm)':22s} {'Brier / base':14s} "
          f"{'low pass rate':22s} {'few non-degenerate':22s}")
    for name, w in worlds.items():
        gated = w["scorers"]["gated"]
        harm = w["harm"][gated] or {}
        heur = w["harm_heuristics"]
        brier = (f"{harm['brier']['value']:.3f} / {harm['brier_base_rate']['value']:.3f}" if harm else "—")
        print(f"{name + (' (test)' if w['test_world'] else ''):20s} {fmt(w['kfold_spearman'][gated]):22s} "
              f"{fmt(w['ungated_minus_gated']):22s} {fmt(harm.get('auroc')):22s} {brier:14s} "
              f"{fmt(heur.get('low pass rate')):22s} {fmt(heur.get('few non-degenerate groups')):22s}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
