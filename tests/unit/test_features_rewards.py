"""R and token-level F features on hand-built rollout groups, values computed by hand."""

import math

import numpy as np
import pytest

from tap.features import rewards as R
from tap.features import tokens as T
from tap.features.groups import CohortRollouts, Group, Undefined
from tap.features.registry import FEATURES, compute_rollout_features


def group(rewards, answers=None, lengths=None, truncated=None, logprobs=None, entropies=None):
    g = len(rewards)
    answers = answers if answers is not None else [str(int(r)) for r in rewards]
    lengths = lengths if lengths is not None else [2] * g
    return Group(
        rewards=np.array(rewards, dtype=float),
        answers=tuple(answers),
        n_tokens=np.array(lengths, dtype=float),
        truncated=np.array(truncated if truncated is not None else [False] * g),
        logprobs=tuple(np.array(x, dtype=float) for x in (logprobs or [[-0.5] * n for n in lengths])),
        entropies=tuple(np.array(x, dtype=float) for x in (entropies or [[1.0] * n for n in lengths])),
    )


def cohort(*groups):
    return CohortRollouts("c", tuple(groups))


# one mixed group (p = 1/4), one all-correct, one all-wrong
MIXED = group([1, 0, 0, 0], answers=["7", "5", "5", None], lengths=[2, 3, 3, 4], truncated=[False, False, False, True])
ALL_RIGHT = group([1, 1, 1, 1], answers=["3", "3", "3", "3"])
ALL_WRONG = group([0, 0, 0, 0], answers=["1", "2", "3", "4"])
C = cohort(MIXED, ALL_RIGHT, ALL_WRONG)


def test_pass_rates_and_shares():
    assert R.pass_rate_mean(C) == pytest.approx((0.25 + 1 + 0) / 3)
    assert R.pass_rate_std(C) == pytest.approx(np.std([0.25, 1.0, 0.0]))
    assert R.learnability(C) == pytest.approx((0.25 * 0.75) / 3)
    assert R.frac_nondegenerate(C) == pytest.approx(1 / 3)
    assert R.frac_all_correct(C) == pytest.approx(1 / 3)
    assert R.frac_all_wrong(C) == pytest.approx(1 / 3)
    assert R.frac_in_band(C) == pytest.approx(1 / 3)  # 0.25 is inside [0.2, 0.8]
    assert R.pass_at_g(C) == pytest.approx(2 / 3)


def test_advantages():
    # mixed group: A = [0.75, -0.25, -0.25, -0.25]; degenerate groups: A = 0
    a = np.array([0.75, -0.25, -0.25, -0.25] + [0.0] * 8)
    assert R.adv_std(C) == pytest.approx(a.std())
    assert R.adv_abs_mean(C) == pytest.approx(np.abs(a).mean())
    std = np.std([1, 0, 0, 0], ddof=1)  # 0.5
    assert R.adv_abs_mean_scaled(C) == pytest.approx((0.75 + 3 * 0.25) / (std + 1e-4) / 12)
    assert R.reward_std_mean(C) == pytest.approx(np.std([1, 0, 0, 0]) / 3)


def test_posterior_variance_by_hand():
    def beta_var(k, g):
        a, b = 1 + k, 1 + g - k
        return a * b / ((a + b) ** 2 * (a + b + 1))

    assert R.posterior_var(C) == pytest.approx((beta_var(1, 4) + beta_var(4, 4) + beta_var(0, 4)) / 3)
    assert beta_var(0, 4) == pytest.approx(5 / (36 * 7))


def test_format_truncation_and_lengths():
    assert R.format_fail_rate(C) == pytest.approx(1 / 12)
    assert R.truncation_rate(C) == pytest.approx(1 / 12)
    assert R.len_mean(C) == pytest.approx((2 + 3 + 3 + 4 + 8 * 2) / 12)
    # correct lengths: 2 (mixed) + 2,2,2,2; wrong: 3,3,4 + 2,2,2,2
    assert R.len_gap_correct_vs_wrong(C) == pytest.approx(2.0 - (3 + 3 + 4 + 8) / 7)


def test_answer_statistics():
    # mixed: majority "5" (2 of 4), not rewarded; all-right: "3" 4/4 rewarded; all-wrong: ties -> "1", 1/4
    assert R.answer_agreement(C) == pytest.approx((2 / 4 + 1 + 1 / 4) / 3)
    assert R.majority_matches_gold(C) == pytest.approx(1 / 3)
    assert R.distinct_answer_frac(C) == pytest.approx((2 / 4 + 1 / 4 + 4 / 4) / 3)


def test_g_equals_one_and_empty_answers():
    single = cohort(group([1]), group([0], answers=[""]), group([0], answers=[None]))
    assert R.frac_nondegenerate(single) == 0.0
    assert R.adv_std(single) == 0.0 and R.adv_abs_mean_scaled(single) == 0.0
    assert R.answer_agreement(single) == pytest.approx((1 + 1 + 0) / 3)
    assert R.format_fail_rate(single) == pytest.approx(1 / 3)


def test_gaps_are_undefined_without_both_kinds():
    only_right = cohort(ALL_RIGHT)
    for fn in (R.len_gap_correct_vs_wrong, T.entropy_gap_correct_vs_wrong, T.logprob_gap_correct_vs_wrong):
        with pytest.raises(Undefined):
            fn(only_right)
    with pytest.raises(Undefined):
        R.pass_rate_mean(cohort())


def test_token_features():
    mixed = group([1, 0], lengths=[1, 2], logprobs=[[-0.1], [-1.0, -2.0]], entropies=[[0.2], [1.0, 2.0]])
    c = cohort(mixed)
    assert T.token_entropy_mean(c) == pytest.approx((0.2 + 1 + 2) / 3)
    assert T.entropy_gap_correct_vs_wrong(c) == pytest.approx(0.2 - 1.5)
    assert T.seq_logprob_mean(c) == pytest.approx((-0.1 - 3.0) / 2)
    assert T.logprob_gap_correct_vs_wrong(c) == pytest.approx(-0.1 + 3.0)


def test_registry_tags_definitions_and_no_silent_nan():
    assert {f.tag for f in FEATURES.values()} == {"R", "F"}
    assert all(f.definition for f in FEATURES.values())
    table = compute_rollout_features([C, cohort(ALL_RIGHT)])
    assert len(table) == 2
    row = table.set_index("cohort_id").iloc[1]
    nan_features = [name for name in FEATURES if math.isnan(row[name])]
    assert nan_features and all(name in row["undefined"] for name in nan_features)
    assert table.iloc[0]["undefined"] == ""
