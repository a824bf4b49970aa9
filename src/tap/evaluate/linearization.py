"""The linearization check: does a first-order prediction of one GRPO step match the probe change?

For a unit (cohort x seed), with g_c the gradient of the GRPO objective at the base weights (ascent
direction; `tap.features.gradients.cohort_gradient`) and g_p the gradient of a probe target
(`g_nll` = ∇ mean-item mean-token gold log-prob, so that lift_nll ≈ ⟨g_nll, Δθ⟩; `g_pass` =
∇ mean-item exp(Σ gold log-prob), the expected accuracy of canonical-answer items):
    SGD step:   Δθ = lr · g_c                         -> "dot":  lr · ⟨g_c, g_p⟩
    AdamW step: Δθ = lr · ĝ / (|ĝ| + ε),  ĝ = c · g_c  -> "adam": lr · Σ ĝ/(|ĝ| + ε) ⊙ g_p
where c = min(1, max_grad_norm / ‖g_c‖) is the trainer's gradient clipping (AdamW's first step,
bias-corrected, moves each weight by lr · ĝ/(|ĝ| + ε); weight decay 0). The actual change after h
steps comes from the unit's per-item probe records. Two sources of g_c:
    (a) the very completions TRL sampled for the unit's first step (ledger table first_steps): this
        isolates the code — at h = 1 the ranking should be near perfect;
    (b) the independent `tap rollout` completions (rollouts.parquet), as TAP scores a cohort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tap.advantages import Objective
from tap.evaluate import metrics as M
from tap.features.gradients import ADAM_EPS, cohort_gradient

CLIP_NORM = 1.0  # transformers' TrainingArguments.max_grad_norm default, which the label runs keep


def first_order(g_c: dict, probes: dict[str, dict], lr: float, clip: float = CLIP_NORM) -> dict[str, float]:
    """{f"{kind}_{target}": predicted lift} for kind in (dot, adam), target in `probes`."""
    norm = float(sum((g ** 2).sum() for g in g_c.values())) ** 0.5
    c = min(1.0, clip / (norm + 1e-6)) if clip else 1.0
    out = {}
    for target, g_p in probes.items():
        out[f"dot_{target}"] = lr * float(sum((g_c[n] * g_p[n]).sum() for n in g_c))
        out[f"adam_{target}"] = lr * float(
            sum(((c * g_c[n]) / ((c * g_c[n]).abs() + ADAM_EPS) * g_p[n]).sum() for n in g_c)
        )
    return out


def unit_predictions(policy, first_steps: pd.DataFrame, probes: dict, settings: dict) -> pd.DataFrame:
    """(a): one row per unit with the first-order predictions from its own first-step completions."""
    rows = []
    for (cohort_id, cohort_hash, seed), part in first_steps.groupby(["cohort_id", "cohort_hash", "seed"]):
        part = part.sort_values("order")
        g_c = cohort_gradient(policy, part[["prompt", "token_ids", "reward"]].to_dict(orient="records"),
                              settings["num_generations"], Objective.of(settings))
        rows.append(
            {
                "cohort_id": cohort_id,
                "cohort_hash": cohort_hash,
                "seed": int(seed),
                **first_order(g_c, probes, settings["learning_rate"]),
            }
        )
    return pd.DataFrame(rows)


def cohort_predictions(policy, rollouts: pd.DataFrame, probes: dict, settings: dict) -> pd.DataFrame:
    """(b): one row per cohort with the first-order predictions from its `tap rollout` completions."""
    rows = []
    for cohort_id, part in rollouts.groupby("cohort_id", sort=True):
        part = part.sort_values(["position", "sample"])
        g = int(part.groupby("position").size().iloc[0])
        g_c = cohort_gradient(
            policy, part[["prompt", "token_ids", "reward"]].to_dict(orient="records"), g, Objective.of(settings)
        )
        rows.append({"cohort_id": cohort_id, **first_order(g_c, probes, settings["learning_rate"])})
    return pd.DataFrame(rows)


def _rho(pred: np.ndarray, actual: np.ndarray, groups: np.ndarray, resamples: int, seed: int) -> dict:
    n = len(pred)
    boot = M.bootstrap(lambda idx: M.spearman(pred[idx], actual[idx]), n, resamples=resamples, seed=seed, groups=groups)
    return {**boot, "n": n}


def _groups(cohort_ids: pd.Series, groups: pd.Series | None) -> np.ndarray:
    """Each row's item group (a cohort `groups` does not know is a group of its own)."""
    known = cohort_ids.map(groups) if groups is not None else pd.Series(np.nan, index=cohort_ids.index)
    return np.array([f"g{g:.0f}" if pd.notna(g) else f"c{c}" for c, g in zip(cohort_ids, known)])


def check(units: pd.DataFrame, cohorts: pd.DataFrame, lifts: pd.DataFrame, *, targets=("lift_nll", "lift_pass"),
          resamples: int = 1000, seed: int = 0, groups: pd.Series | None = None) -> dict:
    """Spearman ρ (95% bootstrap interval) of each first-order prediction with the actual lift after
    each recorded step: (a) pooled over units, (b) over cohorts against the mean over seeds. Also the
    median of actual / predicted for the Adam score at each step (1 = the linearization is exact).
    Intervals resample item groups (`groups`: cohort id -> group; a unit goes with its cohort)."""
    keys = ["cohort_id", "cohort_hash", "seed"]
    out = {"a": {}, "b": {}}
    for step in sorted(lifts.step.unique()):
        at = lifts[lifts.step == step]
        joined = units.merge(at, on=keys)
        per_cohort = at.groupby("cohort_id")[list(targets)].mean().reset_index().merge(cohorts, on="cohort_id")
        for target in targets:
            name = target.replace("lift_", "")
            for source, table in (("a", joined), ("b", per_cohort)):
                actual = table[target].to_numpy(float)
                rows = _groups(table.cohort_id, groups)
                entry = {
                    kind: _rho(table[f"{kind}_{name}"].to_numpy(float), actual, rows, resamples, seed)
                    for kind in ("dot", "adam")
                }
                predicted = table[f"adam_{name}"].to_numpy(float)
                ok = np.abs(predicted) > 0
                entry["actual_over_adam_median"] = float(np.median(actual[ok] / predicted[ok])) if ok.any() else None
                out[source].setdefault(str(int(step)), {})[target] = entry
    return out
