"""Compute the chosen feature families for a rollouts table -> one row per cohort, with costs.

Cost columns (per cohort): `cost_rollout_seconds` and `cost_rollout_flops` (the cohort's share of
generating its rollouts; NaN for rollouts files written before these were recorded); `cost_R_seconds`;
`cost_F_seconds`, `cost_F_forward_tokens` and
`cost_F_flops` (≈ 2·P per forward token) for the forward-pass family. Token-level F features read
the sampler's own log-probs and entropies and cost no extra forward pass; the probe's mean
representation is computed once and its cost shared across cohorts.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from tap.advantages import Objective
from tap.features.groups import Undefined, cohorts_from_rollouts
from tap.features.registry import compute_rollout_features
from tap.features.representations import MODEL_FEATURES, cohort_diversity, gold_nll, probe_similarity

FAMILIES = ("R", "F", "G")
EXACT_GRADIENT_PARAMS = 2_000_000  # models up to this size get exact gradient scores
GRADIENT_PROJECTION_DIM = 8192


EXACT_VOCAB_LIMIT = 4096  # above this, head_align uses a sketch of SKETCH_DIM rows
SKETCH_DIM = 1024


def _forward_features(policy, items: pd.DataFrame, rollouts: pd.DataFrame, probe: pd.DataFrame, objective: Objective,
                      seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The model-based F features per cohort (gold_nll, probe_similarity, cohort_diversity, head_align_*,
    head_align_pass_*) from three forward passes: the probe (its mean prompt representation, G_p and its golds'
    log-probs), the probe again with the expected-accuracy weights those log-probs give (G_pass), and the cohorts'
    items with their rollouts, each distinct prompt read once and followed by its gold (gold NLL,
    prompt representations) and its rollouts (G_c per cohort, weighted as `objective`, the label
    runs' GRPO loss). Returns the table and the cost."""
    from tap.features.forward import forward_pass
    from tap.features.head_align import _sketch, alignment, cohort_weights, pass_weights, probe_continuations

    vocab = policy.model.get_output_embeddings().weight.shape[0]  # the head's rows (may exceed the tokenizer's size)
    sketch = None if vocab <= EXACT_VOCAB_LIMIT else _sketch(vocab, SKETCH_DIM, seed)
    conts, weights = probe_continuations(policy, list(probe.gold))
    probe_pass = forward_pass(policy, policy.encode_prompts(list(probe.prompt)), conts, weights=weights, sketch=sketch,
                              prompt_means=True)
    probe_mean, g_p = probe_pass.prompt_means.mean(0), probe_pass.head[0]
    pass_pass = forward_pass(policy, policy.encode_prompts(list(probe.prompt)), conts,
                             weights=pass_weights(probe_pass.logps), sketch=sketch)
    g_pass = pass_pass.head[0]
    golds = policy.encode_answers(list(items.gold))
    ordered = rollouts.sort_values(["cohort_id", "position", "sample"])
    records, token_weights = [], []
    for _, frame in ordered.groupby("cohort_id", sort=True):
        rows = frame[["prompt", "token_ids", "reward"]].to_dict(orient="records")
        records += rows
        token_weights += cohort_weights(rows, int(frame.groupby("position").size().iloc[0]), objective)
    n = len(items)
    both = forward_pass(  # the golds' segment is None: read, not part of any G_c
        policy,
        policy.encode_prompts(list(items.prompt) + [r["prompt"] for r in records]),
        golds + [list(r["token_ids"]) for r in records],
        weights=[None] * n + token_weights,
        segments=[None] * n + list(ordered.cohort_id.astype(str)),
        sketch=sketch,
        prompt_means=True,
        temperature=objective.temperature,
    )
    nll = np.array([-lp.mean() for lp in both.logps[:n]], dtype=np.float64)
    item_means = both.prompt_means[:n]
    rows = []
    for cohort_id, index in items.groupby("cohort_id", sort=True).indices.items():
        row: dict = {"cohort_id": str(cohort_id)}
        missing = []
        for name, fn, args in (
            ("gold_nll", gold_nll, (nll[index],)),
            ("probe_similarity", probe_similarity, (item_means[index], probe_mean)),
            ("cohort_diversity", cohort_diversity, (item_means[index],)),
        ):
            try:
                row[name] = fn(*args)
            except Undefined as why:
                row[name] = np.nan
                missing.append(f"{name}: {why}")
        row["undefined_model"] = "; ".join(missing)
        if str(cohort_id) in both.head:
            row.update(alignment(both.head[str(cohort_id)], g_p, adam=sketch is None))
            row.update(alignment(both.head[str(cohort_id)], g_pass, adam=sketch is None, prefix="head_align_pass"))
        rows.append(row)
    tokens = probe_pass.tokens + pass_pass.tokens + both.tokens
    return pd.DataFrame(rows), {"forward_tokens": tokens, "flops": 2.0 * policy.num_parameters * tokens}


def _gradient_features(policy, rollouts: pd.DataFrame, probe: pd.DataFrame, objective: Objective, k: int | None = None,
                       seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """grad_* over all parameters and head_grad_* over the LM-head matrix, per cohort, with cost.
    Projections (large models) share one CountSketch, and the probe gradient is sketched once."""
    from tap.features.gradients import (
        CountSketch, cohort_gradient, head_parameter_names, probe_gradient, probe_pass_gradient, scores,
    )

    if k is None:
        k = 0 if policy.num_parameters <= EXACT_GRADIENT_PARAMS else GRADIENT_PROJECTION_DIM
    g_p = probe_gradient(policy, list(probe.prompt), list(probe.gold))
    g_pass = probe_pass_gradient(policy, list(probe.prompt), list(probe.gold))
    sketch = CountSketch(k, seed) if k > 0 else None
    sketched_probe = sketch(g_p) if sketch is not None else None
    sketched_pass = sketch(g_pass) if sketch is not None else None
    head_names, tied = head_parameter_names(policy.model)
    rows, tokens = [], 0
    for cohort_id, frame in rollouts.sort_values(["cohort_id", "position", "sample"]).groupby("cohort_id", sort=True):
        g = int(frame.groupby("position").size().iloc[0])
        g_c = cohort_gradient(policy, frame[["prompt", "token_ids", "reward"]].to_dict(orient="records"), g, objective)
        rows.append(
            {
                "cohort_id": str(cohort_id),
                **scores(g_c, g_p, list(g_c), k=k, seed=seed, sketch=sketch, sketched_probe=sketched_probe),
                **scores(g_c, g_pass, list(g_c), k=k, seed=seed, sketch=sketch, sketched_probe=sketched_pass,
                         prefix="grad_pass"),
                **scores(g_c, g_p, head_names, k=0, prefix="head_grad"),
                "head_tied": tied,
            }
        )
        tokens += int(frame.n_tokens.sum()) + sum(len(ids) for ids in policy.encode_prompts(list(frame.prompt)))
    tokens += 2 * sum(  # two probe backward passes: gold NLL and expected accuracy
        len(p) + len(policy.tokenizer(x)["input_ids"]) + 1
        for p, x in zip(policy.encode_prompts(list(probe.prompt)), probe.gold)
    )
    return pd.DataFrame(rows), {
        "backward_tokens": tokens,
        "flops": 6.0 * policy.num_parameters * tokens,
        "projection_dim": k,
    }


def _rollout_cost(rollouts: pd.DataFrame) -> pd.DataFrame:
    """Seconds and FLOPs of generating each cohort's rollouts (NaN when the file lacks them)."""
    ids = rollouts.cohort_id.astype(str)
    out = pd.DataFrame({"cohort_id": sorted(ids.unique())})
    for column, name in (("gen_seconds", "cost_rollout_seconds"), ("gen_flops", "cost_rollout_flops")):
        out[name] = out.cohort_id.map(rollouts[column].groupby(ids).sum()) if column in rollouts else np.nan
    return out


def build_features(
    rollouts: pd.DataFrame,
    families: set[str],
    *,
    items: pd.DataFrame | None = None,
    policy=None,
    probe: pd.DataFrame | None = None,
    objective: Objective | None = None,
) -> pd.DataFrame:
    """Features of every cohort in `rollouts`. The model-based F features need `policy`, the
    cohort `items` (cohort_id, prompt, gold) and the `probe` (prompt). The G and head_align
    features read the GRPO objective the label runs train with (`objective`: advantage scaling,
    loss type and temperature; default TRL's group scaling, "dapo", T = 1)."""
    objective = objective or Objective()
    unknown = set(families) - set(FAMILIES)
    if unknown:
        from tap.errors import TapInputError

        raise TapInputError(f"unknown feature family {sorted(unknown)[0]!r} (available here: {', '.join(FAMILIES)})")
    cohorts = cohorts_from_rollouts(rollouts)
    n = max(1, len(cohorts))
    start = time.perf_counter()
    table = compute_rollout_features(cohorts, {"R"})
    table["cost_R_seconds"] = (time.perf_counter() - start) / n
    table = table.merge(_rollout_cost(rollouts), on="cohort_id", how="left")
    if "F" in families:
        start = time.perf_counter()
        token_level = compute_rollout_features(cohorts, {"F"})
        table = table.merge(token_level.rename(columns={"undefined": "undefined_F"}), on="cohort_id")
        cost = {"forward_tokens": 0, "flops": 0.0}
        if policy is not None and items is not None and probe is not None:
            model_table, cost = _forward_features(
                policy, items[items.cohort_id.isin(table.cohort_id)], rollouts, probe, objective
            )
            table = table.merge(model_table, on="cohort_id", how="left")
        table["cost_F_seconds"] = (time.perf_counter() - start) / n
        table["cost_F_forward_tokens"] = cost["forward_tokens"] / n
        table["cost_F_flops"] = cost["flops"] / n
        extra = [c for c in ("undefined_F", "undefined_model") if c in table]
        table["undefined"] = table[["undefined", *extra]].apply(lambda r: "; ".join(x for x in r if x), axis=1)
        table = table.drop(columns=extra)
    if "G" in families:
        if policy is None or probe is None:
            raise ValueError("the gradient family needs the policy and the probe")
        start = time.perf_counter()
        grad_table, cost = _gradient_features(policy, rollouts, probe, objective)
        table = table.merge(grad_table, on="cohort_id", how="left")
        table["cost_G_seconds"] = (time.perf_counter() - start) / n
        table["cost_G_backward_tokens"] = cost["backward_tokens"] / n
        table["cost_G_flops"] = cost["flops"] / n
        table["grad_projection_dim"] = cost["projection_dim"]
    return table


def feature_columns(table: pd.DataFrame) -> list[str]:
    skip = {"cohort_id", "undefined", "head_tied", "grad_projection_dim"}
    return [c for c in table.columns if c not in skip and not c.startswith("cost_")]


__all__ = ["build_features", "feature_columns", "MODEL_FEATURES"]
