"""Evidence I's statistics on hand-built batteries: targets, own/other parts, variance explained,
step lifts from records, and the first-order prediction of one AdamW step."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tap.evaluate import evidence
from tap.evaluate.linearization import first_order
from tap.labels.summary import step_lifts

SUBJECTS = ["math", "code", "science", "knowledge"]


def _battery(n_per_subject=6, seeds=3, seed=0):
    """Cohorts whose lift is +subject effect + noise; own-subject deltas four times the others'."""
    rng = np.random.default_rng(seed)
    effect = {"math": 0.02, "code": -0.01, "science": 0.0, "knowledge": -0.02}
    cohorts, rows = [], []
    for s in SUBJECTS:
        for k in range(n_per_subject):
            cid = f"{s}-{k}"
            cohorts.append(
                {
                    "cohort_id": cid,
                    "subject": s,
                    "vendor": "v1" if k % 2 else "v2",
                    "difficulty_lo": k % 3 + 1,
                    "difficulty_hi": k % 3 + 2,
                    "corruption_rate": 0.1 * (k % 4),
                    "duplicate_rate": 0.0,
                    "off_format_rate": 0.0,
                }
            )
            for seed_ in range(seeds):
                own = effect[s] + rng.normal(scale=0.002)
                deltas = {
                    t: {
                        "lift_nll": own if t == s else own / 4,
                        "delta_accuracy": 0.0,
                        "lift_pass": own / 2 if t == s else 0.0,
                    }
                    for t in SUBJECTS
                }
                total = {
                    m: float(np.mean([deltas[t][m] for t in SUBJECTS]))
                    for m in ("lift_nll", "delta_accuracy", "lift_pass")
                }
                rows.append(
                    {"cohort_id": cid, "seed": seed_, "status": "ok", **total, "subject_deltas": json.dumps(deltas)}
                )
    return pd.DataFrame(rows), pd.DataFrame(cohorts)


def test_target_table_and_correlations():
    rows, cohorts = _battery()
    table = evidence.target_table(rows, resamples=50)
    nll = table["lift_nll"]
    assert nll["cohorts"] == 24 and nll["seeds"] == 3
    assert nll["mean"]["value"] == pytest.approx(rows.groupby("cohort_id").lift_nll.mean().mean())
    assert (
        nll["across_over_within"]["value"] > 5 and nll["single_seed_reliability"]["value"] > 0.8
    )  # subject effects dominate noise
    corr = evidence.target_correlations(rows, cohorts, resamples=50)
    assert corr["all"]["lift_nll ~ lift_pass"]["value"] > 0.9 and set(corr) == {"all", *SUBJECTS}


def test_own_and_other_parts_add_up_to_the_lift():
    rows, cohorts = _battery()
    probe = pd.DataFrame({"subject": [s for s in SUBJECTS for _ in range(5)]})
    parts = evidence.own_and_other(rows, cohorts, probe, resamples=50)["lift_nll"]
    assert parts["own_part"]["value"] + parts["other_part"]["value"] == pytest.approx(rows.lift_nll.mean(), abs=1e-12)
    assert parts["own"]["value"] == pytest.approx(4 * parts["other"]["value"])


def test_variance_explained_by_the_subject_and_the_oracle_knob_model():
    rows, cohorts = _battery()
    explained = evidence.variance_explained(rows, cohorts, resamples=50)["lift_nll"]
    assert explained["r2"]["subject"]["value"] > 0.95 and explained["r2"]["vendor"]["value"] < 0.3
    assert explained["r2"]["subject"]["adjusted"] < explained["r2"]["subject"]["value"]
    assert explained["oracle_knob_loco_spearman"]["ridge"]["value"] > 0.8


def test_step_lifts_recompute_each_target_from_records():
    probe = pd.DataFrame({"prompt": ["a", "b"], "gold": ["1", "2"], "subject": ["math", "code"]})
    base = {"gold_logprob_sum": [-1.0, -2.0], "gold_nll": [0.5, 1.0], "greedy_correct": [0.0, 1.0]}
    after = {"gold_logprob_sum": [-0.5, -2.5], "gold_nll": [0.25, 1.25], "greedy_correct": [1.0, 1.0]}
    records = pd.concat(
        [
            pd.DataFrame(
                {"cohort_id": "", "cohort_hash": "", "seed": -1, "step": 0, "item": [0, 1], "pass_k": np.nan, **base}
            ),
            pd.DataFrame(
                {"cohort_id": "c", "cohort_hash": "h", "seed": 0, "step": 1, "item": [0, 1], "pass_k": np.nan, **after}
            ),
        ]
    )
    lifts = step_lifts(records, probe, "exact").iloc[0]
    assert lifts.lift_nll == pytest.approx(0.75 - 0.75) and lifts.delta_accuracy == pytest.approx(0.5)
    assert lifts.lift_pass == pytest.approx((np.exp(-0.5) + np.exp(-2.5) - np.exp(-1.0) - np.exp(-2.0)) / 2)


def test_first_order_follows_adam_and_the_clipping():
    g_c = {"w": torch.tensor([3.0, -4.0, 0.0])}  # ‖g_c‖ = 5: clipped to norm 1
    g_p = {"w": torch.tensor([1.0, 2.0, 5.0])}
    out = first_order(g_c, {"nll": g_p}, lr=0.1)
    assert out["dot_nll"] == pytest.approx(0.1 * (3 - 8))  # SGD: unclipped, as grad_dot is defined
    # AdamW's first step moves each weight by lr·sign(clipped g) (a zero gradient moves nothing)
    assert out["adam_nll"] == pytest.approx(0.1 * (1 - 2 + 0), abs=1e-6)
    unclipped = first_order(g_c, {"nll": g_p}, lr=0.1, clip=0)
    assert unclipped["adam_nll"] == pytest.approx(out["adam_nll"], abs=1e-6)  # Adam's step is scale-free


def test_own_lift_by_cohort_kind():
    """Kinds come from what the items record; each kind's own lift is the mean over its cohorts."""
    items, rows = [], []
    plan = {"clean-0": ("true", False, 0.03), "clean-1": ("true", False, 0.01), "sys-0": ("systematic", True, -0.04),
            "sys-agree": ("systematic", False, 0.02), "rand-0": ("random", True, 0.0)}
    for cid, (source, corrupted, own) in plan.items():
        for pos in range(2):
            items.append({"cohort_id": cid, "subject": "math", "gold_source": source if pos == 0 else "true",
                          "corrupted": corrupted and pos == 0, "duplicate": False, "off_format": False})
        for seed in range(2):
            deltas = {s: {t: (own if s == "math" else 0.001) for t in evidence.TARGETS} for s in SUBJECTS}
            rows.append({"cohort_id": cid, "seed": seed, "status": "ok", "subject_deltas": json.dumps(deltas)})
    cohorts = pd.DataFrame(items)
    kinds = evidence.cohort_kinds(cohorts)
    # a wrong procedure that happens to give the true answer leaves the cohort clean
    assert kinds.to_dict() == {
        "clean-0": "clean",
        "clean-1": "clean",
        "sys-0": "systematic",
        "sys-agree": "clean",
        "rand-0": "random_wrong",
    }
    probe = pd.DataFrame({"subject": [s for s in SUBJECTS for _ in range(5)]})
    table = evidence.own_by_kind(pd.DataFrame(rows), cohorts, probe, resamples=50)["lift_pass"]
    assert table["clean"]["cohorts"] == 3 and table["clean"]["own"]["value"] == pytest.approx(0.02)
    assert table["clean"]["share_own_improving"]["value"] == 1.0 and table["clean"]["other"] == pytest.approx(0.001)
    assert (
        table["systematic"]["own"]["value"] == pytest.approx(-0.04)
        and table["systematic"]["share_own_improving"]["value"] == 0.0
    )
    assert table["random_wrong"]["own"]["value"] == 0.0


def test_evidence_intervals_resample_item_groups():
    """Cohorts that share pool items resample together: when pairs of cohorts share an item, the
    battery has half as many independent units and its intervals widen (about √2)."""
    rows, cohorts = _battery(n_per_subject=8)
    items = cohorts.assign(item_id=[f"i{k}" for k in range(len(cohorts))])
    paired = cohorts.assign(item_id=[f"i{k // 2}" for k in range(len(cohorts))])  # c0+c1 share one item, ...
    alone = evidence.target_table(rows, items, resamples=400)["lift_nll"]["mean"]
    shared = evidence.target_table(rows, paired, resamples=400)["lift_nll"]["mean"]
    assert alone["value"] == shared["value"]
    assert shared["hi"] - shared["lo"] > 1.2 * (alone["hi"] - alone["lo"])
    assert evidence.cohort_groups(paired).nunique() == len(cohorts) // 2
