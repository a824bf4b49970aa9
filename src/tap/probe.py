"""Probe metrics: what lift is measured on (greedy accuracy and gold-answer NLL, per subject)."""

from __future__ import annotations

import pandas as pd

from tap.policy.base import Policy
from tap.verify.registry import judge


def probe_metrics(policy: Policy, probe: pd.DataFrame, *, max_new_tokens: int = 8, verifier: str = "exact") -> pd.DataFrame:
    """Per-subject greedy accuracy and mean gold-answer NLL on the probe, plus an "all" row.

    `probe` needs columns prompt, gold and subject; a `verifier` column (presets set one) judges each
    item with its own verifier, else `verifier` judges all. Subjects keep their order of first
    appearance; "all" is the mean over items (not over subjects).
    """
    prompts, golds = list(probe.prompt), list(probe.gold)
    verifiers = [v if isinstance(v, str) and v else verifier for v in probe["verifier"]] if "verifier" in probe else [verifier] * len(probe)
    texts = policy.greedy(prompts, max_new_tokens=max_new_tokens)
    correct = [judge(v, t, g, where=f"probe item {i}").reward for i, (t, g, v) in enumerate(zip(texts, golds, verifiers))]
    nll = policy.score_gold(prompts, golds)
    frame = pd.DataFrame({"subject": probe.subject.values, "accuracy": correct, "gold_nll": nll})
    table = frame.groupby("subject", sort=False).mean()
    table.loc["all"] = frame[["accuracy", "gold_nll"]].mean()
    return table.rename_axis("subject").reset_index()
