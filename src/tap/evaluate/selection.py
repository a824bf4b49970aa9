"""Held-out-seed selection (DESIGN.md, "Measuring honestly"): for each seed h a scorer's scores come
from the other seeds only, its top q of cohorts is scored by y[·, h], and the selection curve is the
mean held-out lift of the top q at q = 5%, 10%, ..., 100%."""

from __future__ import annotations

import numpy as np

from tap.evaluate import metrics as M
from tap.evaluate.scorers import Scorer


def measured_scores(scorer: Scorer, y_cs: np.ndarray) -> np.ndarray:
    """Per-seed scores of the measured selectors: another seed's lift (or its short run's), or the
    others' mean. Held-out seed h is never read."""
    seeds = y_cs.shape[1]
    if scorer.seed_scores is not None:
        return np.stack([scorer.seed_scores[:, (h + 1) % seeds] for h in range(seeds)])
    if scorer.name == "measured lift, 1 seed":
        return np.stack([y_cs[:, (h + 1) % seeds] for h in range(seeds)])
    return np.stack([np.delete(y_cs, h, axis=1).mean(axis=1) for h in range(seeds)])


def heldout_selection(scores: np.ndarray, y_cs: np.ndarray, q: float) -> dict:
    """Mean over held-out seeds of the selection metrics, plus ρ(scores_h, y[·, h])."""
    rows = [M.selection_on_seed(scores[h], y_cs[:, h], q) for h in range(y_cs.shape[1])]
    out = {
        k: float(np.nanmean([r[k] for r in rows]))
        for k in ("selected", "random", "oracle", "gain", "fraction_of_oracle")
    }
    out["relative_gain"] = out["gain"] / abs(out["random"]) if out["random"] else float("nan")
    rhos = [M.spearman(scores[h], y_cs[:, h]) for h in range(y_cs.shape[1])]
    out["heldout_spearman"] = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else float("nan")
    return out


CURVE_Q = tuple(round(0.05 * k, 2) for k in range(1, 21))  # 5%, 10%, ..., 100%


def selection_curve(scores: np.ndarray, y_cs: np.ndarray, qs=CURVE_Q) -> list[float]:
    """Mean held-out-seed lift of the top q of cohorts, averaged over seeds, for each q."""
    return [float(np.mean([y_cs[M.top_q_mask(scores[h], q), h].mean() for h in range(y_cs.shape[1])])) for q in qs]
