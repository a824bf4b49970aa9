"""The sign artefact, measured on null features (issue 16, item 2; docs/evaluation.md).

Features drawn independently of the label (n = 64 cohorts, like the default battery). For each of
300 draws: a learned-sign single feature (SignedFeature) and a shrunken ridge on 2 null features,
each scored by LOCO ρ, ρ pooled over grouped K-fold's held-out folds, and ρ within held-out folds
averaged (the headline; 5 folds x 2 repeats). Reported: the mean over draws (± its standard error),
and for the learned sign also the mean over draws whose full-battery |ρ| is below 0.05 or above 0.15.

    python bench/null_feature.py      # writes docs/results/evaluation/null_feature.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from tap.evaluate.metrics import fold_mean, spearman
from tap.evaluate.protocols import kfold, loco
from tap.evaluate.scorers import SignedFeature
from tap.predict.predictor import TAPPredictor

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "evaluation" / "null_feature.json"


def ridge():
    return TAPPredictor(model="ridge", alpha=100.0, interval="none")


def protocols(make, x, y, seed) -> dict:
    out = kfold(make, x, y, folds=5, repeats=2, seed=seed)
    return {
        "loco": spearman(loco(make, x, y)["pred"], y),
        "kfold_pooled": float(np.mean([spearman(out["kfold"][r], y) for r in range(2)])),
        "kfold_within": float(np.mean([fold_mean(spearman, out["kfold"][r], y, out["folds"][r]) for r in range(2)])),
    }


def summary(rows: list[dict]) -> dict:
    return {
        k: {
            "mean": float(np.nanmean([r[k] for r in rows])),
            "se": float(np.nanstd([r[k] for r in rows]) / np.sqrt(len(rows))),
        }
        for k in ("loco", "kfold_pooled", "kfold_within")
    }


def main() -> None:
    rng = np.random.default_rng(0)
    n, draws = 64, 300
    signed, shrunk, full = [], [], []
    for _ in range(draws):
        y, x = rng.normal(size=n), rng.normal(size=(n, 2))
        full.append(abs(spearman(x[:, 0], y)))
        signed.append(protocols(SignedFeature, x[:, :1], y, int(rng.integers(1 << 30))))
        shrunk.append(protocols(ridge, x, y, int(rng.integers(1 << 30))))
    full = np.array(full)
    out = {
        "command": "python bench/null_feature.py",
        "cohorts": n,
        "draws": draws,
        "folds": 5,
        "repeats": 2,
        "learned_sign": {
            "all": summary(signed),
            "full_abs_rho_below_0.05": {
                "draws": int((full < 0.05).sum()),
                **summary([r for r, f in zip(signed, full) if f < 0.05]),
            },
            "full_abs_rho_above_0.15": {
                "draws": int((full > 0.15).sum()),
                **summary([r for r, f in zip(signed, full) if f > 0.15]),
            },
        },
        "ridge_alpha_100": {"all": summary(shrunk)},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'scorer':36s} {'LOCO':>14s} {'K-fold pooled':>14s} {'K-fold within':>14s}")
    rows = [("learned sign, all draws", out["learned_sign"]["all"]),
            ("learned sign, full |ρ| < 0.05", out["learned_sign"]["full_abs_rho_below_0.05"]),
            ("learned sign, full |ρ| > 0.15", out["learned_sign"]["full_abs_rho_above_0.15"]),
            ("ridge (alpha 100), all draws", out["ridge_alpha_100"]["all"])]
    for name, s in rows:
        print(
            f"{name:36s}"
            + "".join(f" {s[k]['mean']:+8.3f} ±{s[k]['se']:.3f}" for k in ("loco", "kfold_pooled", "kfold_within"))
        )
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
