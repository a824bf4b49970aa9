"""The TAP-then-short-run cascade (issue 31): TAP ranks all M candidates at the cost of its rollouts and
features, a short GRPO run is paid for on its top k only, and the best short run is chosen. `tap
choice` judges it per state ("cascade<k>" arms) and `tap loop` follows it ("cascade" arm)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

CASCADE = re.compile(r"cascade([1-9][0-9]*)")


def cascade_top(arm: str) -> int | None:
    """k of a "cascade<k>" arm, else None."""
    found = CASCADE.fullmatch(arm)
    return int(found.group(1)) if found else None


def cascade_pick(
    scores: np.ndarray, short_run: Callable[[list[int]], np.ndarray], k: int
) -> tuple[int, np.ndarray, list[int]]:
    """The cascade's choice: the k best candidates by `scores` (ties keep candidate order), a short run
    on each of those only (`short_run(indices)` -> their values), and the best short run (ties go to
    TAP's higher rank). Returns (the chosen index, the short-run values on the top k with NaN elsewhere,
    the top k's indices)."""
    scores = np.nan_to_num(np.asarray(scores, float), nan=-np.inf)
    top = [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
    values = np.asarray(short_run(top), float)
    out = np.full(len(scores), np.nan)
    out[top] = values
    return top[int(np.argmax(np.nan_to_num(values, nan=-np.inf)))], out, top


def probe_summary(policy, probe: pd.DataFrame, settings: dict) -> dict:
    """The probe as a label run measures it (tap.labels.trl_run.record_probe: the label settings'
    temperature, samples and sampling stream): {subject and "all": {"accuracy", "gold_nll", "pass"}},
    the summary that tap.probe.lifts turns into every target."""
    from tap.labels.trl_run import PROBE_SAMPLE_SEED
    from tap.probe import probe_records, summarize

    return summarize(probe_records(policy, probe, max_new_tokens=settings["probe_max_new_tokens"],
                                   verifier=settings["verifier"], samples=settings.get("probe_samples", 0),
                                   temperature=settings["temperature"], seed=PROBE_SAMPLE_SEED))


def short_run_lifts(policy, cohort: pd.DataFrame, settings: dict, seed: int, probe: pd.DataFrame, before: dict) -> dict:
    """A short run from the policy's current weights, leaving them as they are: GRPO-train a copy of
    its model on `cohort` for settings["steps"] steps with a fresh optimizer (as a label run does),
    measure the probe (probe_summary) and return the lifts of every target against `before`
    (tap.probe.lifts)."""
    from tap.labels.trl_run import LabelUnit, train_cohort
    from tap.policy.hf import HFPolicy
    from tap.probe import lifts

    model = copy.deepcopy(policy.model)
    unit = LabelUnit(str(cohort.cohort_id.iloc[0]), seed, tuple(cohort.prompt), tuple(cohort.gold), "", (), {},
                     settings, "cascade")
    model = train_cohort(unit, model, policy.tokenizer, prompt_format=policy.prompt_format)["model"]
    copy_policy = HFPolicy(model, policy.tokenizer, batch_size=policy.batch_size, device=policy.device,
                           prompt_format=policy.prompt_format, stop=policy.stop)
    return lifts(before, probe_summary(copy_policy, probe, settings))
