"""Compute the chosen feature families for a rollouts table -> one row per cohort, with costs.

Cost columns (per cohort): `cost_rollout_seconds` and `cost_rollout_flops` (the cohort's share of
generating its rollouts; NaN for rollouts files written before these were recorded); `cost_R_seconds`; `cost_F_seconds`, `cost_F_forward_tokens` and
`cost_F_flops` (≈ 2·P per forward token) for the forward-pass family. Token-level F features read
the sampler's own log-probs and entropies and cost no extra forward pass; the probe's mean
representation is computed once and its cost shared across cohorts.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from tap.features.groups import Undefined, cohorts_from_rollouts
from tap.features.registry import compute_rollout_features
from tap.features.representations import MODEL_FEATURES, cohort_diversity, gold_nll, probe_similarity

FAMILIES = ("R", "F", "G")
EXACT_GRADIENT_PARAMS = 2_000_000  # models up to this size get exact gradient scores
GRADIENT_PROJECTION_DIM = 8192


def _model_features(policy, items: pd.DataFrame, probe: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """gold_nll, probe_similarity and cohort_diversity per cohort, and what they cost in total."""
    tok = policy.tokenizer
    prompts, golds = list(items.prompt), list(items.gold)
    nll = policy.score_gold(prompts, golds)
    reps = policy.prompt_representations(prompts)
    probe_reps = policy.prompt_representations(list(probe.prompt))
    probe_mean = probe_reps.mean(0)
    n_tokens = sum(len(tok(p)["input_ids"]) * 2 + len(tok(g)["input_ids"]) + 1 for p, g in zip(prompts, golds))
    n_tokens += sum(len(tok(p)["input_ids"]) for p in probe.prompt)
    rows = []
    for cohort_id, index in items.groupby("cohort_id", sort=True).indices.items():
        row: dict = {"cohort_id": str(cohort_id)}
        missing = []
        for name, fn, args in (
            ("gold_nll", gold_nll, (nll[index],)),
            ("probe_similarity", probe_similarity, (reps[index], probe_mean)),
            ("cohort_diversity", cohort_diversity, (reps[index],)),
        ):
            try:
                row[name] = fn(*args)
            except Undefined as why:
                row[name] = np.nan
                missing.append(f"{name}: {why}")
        row["undefined_model"] = "; ".join(missing)
        rows.append(row)
    return pd.DataFrame(rows), {"forward_tokens": n_tokens, "flops": 2.0 * policy.num_parameters * n_tokens}


EXACT_VOCAB_LIMIT = 4096  # above this, head_align uses a sketch of SKETCH_DIM rows
SKETCH_DIM = 1024


def _head_align_features(policy, rollouts: pd.DataFrame, probe: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """head_align_dot / _cos (and _adam in exact mode) per cohort, and their forward-token cost."""
    from tap.features.head_align import _sketch, alignment, cohort_head_gradient, probe_head_gradient

    vocab = policy.model.get_output_embeddings().weight.shape[0]  # the head's rows (may exceed the tokenizer's size)
    sketch = None if vocab <= EXACT_VOCAB_LIMIT else _sketch(vocab, SKETCH_DIM, seed)
    g_p = probe_head_gradient(policy, list(probe.prompt), list(probe.gold), sketch)
    rows, tokens = [], 0
    for cohort_id, frame in rollouts.sort_values(["cohort_id", "position", "sample"]).groupby("cohort_id", sort=True):
        g = int(frame.groupby("position").size().iloc[0])
        records = frame[["prompt", "token_ids", "reward"]].to_dict(orient="records")
        rows.append({"cohort_id": str(cohort_id), **alignment(cohort_head_gradient(policy, records, g, sketch=sketch), g_p, adam=sketch is None)})
        tokens += int(frame.n_tokens.sum()) + sum(len(ids) for ids in policy.encode_prompts(list(frame.prompt)))
    tokens += sum(len(ids) for ids in policy.encode_prompts(list(probe.prompt)))
    tokens += sum(len(policy.tokenizer(g, add_special_tokens=False)["input_ids"]) + 1 for g in probe.gold)
    return pd.DataFrame(rows), {"forward_tokens": tokens, "flops": 2.0 * policy.num_parameters * tokens}


def _gradient_features(policy, rollouts: pd.DataFrame, probe: pd.DataFrame, k: int | None = None, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """grad_* over all parameters and head_grad_* over the LM-head matrix, per cohort, with cost."""
    from tap.features.gradients import cohort_gradient, head_parameter_names, probe_gradient, scores

    if k is None:
        k = 0 if policy.num_parameters <= EXACT_GRADIENT_PARAMS else GRADIENT_PROJECTION_DIM
    g_p = probe_gradient(policy, list(probe.prompt), list(probe.gold))
    head_names, tied = head_parameter_names(policy.model)
    rows, tokens = [], 0
    for cohort_id, frame in rollouts.sort_values(["cohort_id", "position", "sample"]).groupby("cohort_id", sort=True):
        g = int(frame.groupby("position").size().iloc[0])
        g_c = cohort_gradient(policy, frame[["prompt", "token_ids", "reward"]].to_dict(orient="records"), g)
        rows.append({"cohort_id": str(cohort_id), **scores(g_c, g_p, list(g_c), k=k, seed=seed),
                     **scores(g_c, g_p, head_names, k=0, prefix="head_grad"), "head_tied": tied})
        tokens += int(frame.n_tokens.sum()) + sum(len(policy.tokenizer(p)["input_ids"]) for p in frame.prompt)
    tokens += sum(len(policy.tokenizer(p)["input_ids"]) + len(policy.tokenizer(x)["input_ids"]) + 1 for p, x in zip(probe.prompt, probe.gold))
    return pd.DataFrame(rows), {"backward_tokens": tokens, "flops": 6.0 * policy.num_parameters * tokens, "projection_dim": k}


def _rollout_cost(rollouts: pd.DataFrame) -> pd.DataFrame:
    """Seconds and FLOPs of generating each cohort's rollouts (NaN when the file lacks them)."""
    ids = rollouts.cohort_id.astype(str)
    out = pd.DataFrame({"cohort_id": sorted(ids.unique())})
    for column, name in (("gen_seconds", "cost_rollout_seconds"), ("gen_flops", "cost_rollout_flops")):
        out[name] = out.cohort_id.map(rollouts[column].groupby(ids).sum()) if column in rollouts else np.nan
    return out


def build_features(
    rollouts: pd.DataFrame, families: set[str], *, items: pd.DataFrame | None = None, policy=None, probe: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Features of every cohort in `rollouts`. The model-based F features need `policy`, the
    cohort `items` (cohort_id, prompt, gold) and the `probe` (prompt)."""
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
            model_table, cost = _model_features(policy, items[items.cohort_id.isin(table.cohort_id)], probe)
            table = table.merge(model_table, on="cohort_id", how="left")
            align_table, align_cost = _head_align_features(policy, rollouts, probe)
            table = table.merge(align_table, on="cohort_id", how="left")
            cost = {k: cost[k] + align_cost[k] for k in cost}
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
        grad_table, cost = _gradient_features(policy, rollouts, probe)
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
