"""The probe: what lift is measured on, item by item.

For each probe item, at one point of a label run (the base policy, after GRPO step 1, 3, ..., and
after the last step), a record holds:
    gold_logprob_sum  Σ_t log π_T(gold_t | prompt, gold_<t) over the gold answer's tokens + the end token,
                      π_T = softmax(logits / T) at the sampling temperature T (the label temperature)
    gold_tokens       how many tokens that sum covers
    gold_nll          −mean_t log π(...) at temperature 1 (what `lift_nll` averages)
    greedy_correct    the item's verifier's reward for the greedy completion (what `delta_accuracy` averages)
    pass_k            the mean reward of k samples at the sampling temperature (`label.probe_samples` = k), for
                      items whose verifier accepts more than one string (NaN for `exact` items and when k = 0)
The expected accuracy of an item at the sampling temperature — the policy's probability of a correct
answer — is exp(gold_logprob_sum) where the verifier accepts one canonical string (`exact`: the gold
itself, end token included), else pass_k. Targets are means over items of these per-item values,
so any target is recomputable from the records without a relabel:
    lift_nll       = mean gold_nll (before) − mean gold_nll (after)      nats/token, + = better
    delta_accuracy = mean greedy_correct (after) − mean greedy_correct (before)
    lift_pass      = mean expected accuracy (after) − mean (before)      what RLVR maximizes
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tap.errors import TapInputError
from tap.policy.base import Policy
from tap.verify.registry import judge

RECORD_COLUMNS = [
    "item",
    "subject",
    "verifier",
    "gold_logprob_sum",
    "gold_tokens",
    "gold_nll",
    "greedy_correct",
    "pass_k",
]
CANONICAL_VERIFIERS = ("exact",)  # one accepted string: the gold (numbers by value aside)


def item_verifiers(probe: pd.DataFrame, default: str) -> list[str]:
    """Each probe item's verifier: its own (presets set one), else `default`."""
    if "verifier" not in probe:
        return [default] * len(probe)
    return [v if isinstance(v, str) and v else default for v in probe["verifier"]]


def probe_records(
    policy: Policy,
    probe: pd.DataFrame,
    *,
    max_new_tokens: int,
    verifier: str = "exact",
    samples: int = 0,
    temperature: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """One record per probe item (columns RECORD_COLUMNS) for `policy` as it is now. `samples` = k
    completions are drawn for each item whose verifier is not canonical (their expected accuracy
    needs them), on a forked random stream, so recording never changes what training samples next."""
    prompts, golds = list(probe.prompt), [str(g) for g in probe.gold]
    verifiers = item_verifiers(probe, verifier)
    prompt_ids, gold_ids = policy.encode_prompts(prompts), policy.encode_answers(golds)
    logps = policy.token_logprobs(prompt_ids, gold_ids)
    canonical = any(v in CANONICAL_VERIFIERS for v in verifiers)
    gold_logps = logps if temperature == 1.0 or not canonical else _logps_at(policy, prompt_ids, gold_ids, temperature)
    texts = policy.greedy(prompts, max_new_tokens=max_new_tokens)
    greedy = [
        judge(v, t, g, where=f"probe item {i}").reward for i, (t, g, v) in enumerate(zip(texts, golds, verifiers))
    ]
    pass_k = [math.nan] * len(prompts)
    sampled = [i for i, v in enumerate(verifiers) if v not in CANONICAL_VERIFIERS] if samples > 0 else []
    if sampled:
        groups = policy.sample(
            [prompts[i] for i in sampled], samples, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
        )
        for i, group in zip(sampled, groups):
            pass_k[i] = float(
                np.mean([judge(verifiers[i], c.text, golds[i], where=f"probe item {i}").reward for c in group])
            )
    return pd.DataFrame({
        "item": np.arange(len(prompts)), "subject": list(probe.subject), "verifier": verifiers,
        "gold_logprob_sum": [float(lp.sum()) for lp in gold_logps], "gold_tokens": [len(lp) for lp in logps],
        "gold_nll": np.array([-lp.mean() for lp in logps], dtype=np.float64),  # as score_gold computes it
        "greedy_correct": greedy, "pass_k": pass_k,
    })


def _logps_at(policy: Policy, prompt_ids: list, gold_ids: list, temperature: float) -> list[np.ndarray]:
    """Teacher-forced log π_T of each gold token, π_T = softmax(logits / temperature): the gold's
    probability when sampling at that temperature (what an `exact` item's expected accuracy is)."""
    at = getattr(policy, "continuation_logps", None)
    if at is None:
        raise TapInputError(
            f"label.temperature = {temperature:g}: the probability of an exact-match probe item's gold at that "
            f"temperature needs the policy's logits, which the {type(policy).__name__} backend does not give; "
            "label at temperature 1.0, or with the hf backend"
        )
    import torch

    with torch.no_grad():
        return [lp.float().cpu().numpy() for lp in at(prompt_ids, gold_ids, temperature=temperature)]


def expected_accuracy(records: pd.DataFrame) -> pd.Series:
    """Per item: exp(gold_logprob_sum) for a canonical-string verifier, else the k-sample pass rate."""
    canonical = records.verifier.isin(CANONICAL_VERIFIERS)
    return pd.Series(np.where(canonical, np.exp(records.gold_logprob_sum), records.pass_k), index=records.index)


def summarize(records: pd.DataFrame) -> dict:
    """{subject: {"accuracy", "gold_nll", "pass"}} with an "all" entry: means over items, subjects in
    their order of first appearance (what the ledger's before/after columns hold)."""
    frame = pd.DataFrame({"subject": records.subject.values, "accuracy": records.greedy_correct.values,
                          "gold_nll": records.gold_nll.values, "pass": expected_accuracy(records).values})
    table = frame.groupby("subject", sort=False).mean()
    table.loc["all"] = frame[["accuracy", "gold_nll", "pass"]].mean()
    return {str(s): {k: float(v) for k, v in row.items()} for s, row in table.iterrows()}


def lifts(before: dict, after: dict) -> dict:
    """The three targets from before/after summaries, overall (lift_nll, delta_accuracy, lift_pass)."""
    return {"lift_nll": before["all"]["gold_nll"] - after["all"]["gold_nll"],
            "delta_accuracy": after["all"]["accuracy"] - before["all"]["accuracy"],
            "lift_pass": after["all"]["pass"] - before["all"]["pass"]}


def probe_metrics(
    policy: Policy, probe: pd.DataFrame, *, max_new_tokens: int = 8, verifier: str = "exact"
) -> pd.DataFrame:
    """Per-subject greedy accuracy, mean gold-answer NLL and expected accuracy on the probe, plus an
    "all" row (the mean over items, not over subjects): `summarize` of `probe_records` as a table."""
    summary = summarize(probe_records(policy, probe, max_new_tokens=max_new_tokens, verifier=verifier))
    return pd.DataFrame([{"subject": s, **m} for s, m in summary.items()])
