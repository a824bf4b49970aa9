"""Metric functions against scipy/numpy on random data and on hand-made cases."""

import numpy as np
import pytest
from scipy.stats import kendalltau, pearsonr, spearmanr

from tap.evaluate import metrics as M

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("seed", range(5))
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=40)
    pred = y + rng.normal(scale=1.0, size=40)
    assert M.spearman(pred, y) == pytest.approx(spearmanr(pred, y).statistic)
    assert M.pearson(pred, y) == pytest.approx(pearsonr(pred, y).statistic)


def test_constant_inputs_give_nan_not_an_error():
    assert np.isnan(M.spearman(np.ones(5), np.arange(5)))
    assert np.isnan(M.pairwise_accuracy(np.arange(5), np.ones(5)))


def test_pairwise_accuracy_by_hand_and_against_kendall():
    assert M.pairwise_accuracy([1, 2, 3], [10, 20, 30]) == 1.0
    assert M.pairwise_accuracy([3, 2, 1], [10, 20, 30]) == 0.0
    assert M.pairwise_accuracy([1, 1, 3], [10, 20, 30]) == pytest.approx((0.5 + 1 + 1) / 3)
    assert M.pairwise_accuracy([1, 2, 3], [10, 10, 30]) == 1.0  # the tied-y pair does not count
    y, pred = RNG.normal(size=30), RNG.normal(size=30)
    # without ties, pairwise accuracy = (1 + Kendall's tau) / 2
    assert M.pairwise_accuracy(pred, y) == pytest.approx((1 + kendalltau(pred, y).statistic) / 2)


def test_selection_by_hand():
    y_seed = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    scores = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], float)  # ranks the worst first
    worst = M.selection_on_seed(scores, y_seed, q=0.2)
    assert worst["selected"] == 0.5 and worst["random"] == 4.5 and worst["oracle"] == 8.5
    assert worst["gain"] == -4.0 and worst["fraction_of_oracle"] == pytest.approx(-1.0)
    best = M.selection_on_seed(-scores, y_seed, q=0.2)
    assert best["fraction_of_oracle"] == pytest.approx(1.0) and best["relative_gain"] == pytest.approx(4.0 / 4.5)
    assert M.top_q_mask(np.arange(10.0), 0.01).sum() == 1  # at least one cohort


def test_reliability_spearman_brown_and_ceiling():
    assert M.spearman_brown(0.5, 1) == 0.5
    assert M.spearman_brown(0.5, 3) == pytest.approx(1.5 / 2.0)
    assert M.noise_ceiling(0.5, 3) == pytest.approx(np.sqrt(0.75))
    projection = M.ceiling_projection(0.6)
    assert list(projection) == list(range(1, 11)) and all(np.diff(list(projection.values())) > 0)
    true = RNG.normal(size=200)
    y_cs = true[:, None] + RNG.normal(scale=1.0, size=(200, 3))  # r1 ≈ 1 / (1 + 1) = 0.5
    r1 = M.seed_reliability(y_cs, method="pearson")
    assert 0.4 < r1 < 0.6
    manual = np.mean([pearsonr(y_cs[:, a], y_cs[:, b]).statistic for a, b in ((0, 1), (0, 2), (1, 2))])
    assert r1 == pytest.approx(manual)


def test_bootstrap_interval_covers_and_matches_numpy_percentiles():
    x = RNG.normal(loc=2.0, size=100)
    interval = M.bootstrap(lambda idx: x[idx].mean(), len(x), resamples=2000, seed=1)
    lo, hi = interval["lo"], interval["hi"]
    rng = np.random.default_rng(1)
    means = [x[rng.integers(0, 100, 100)].mean() for _ in range(2000)]
    assert (lo, hi) == pytest.approx((np.quantile(means, 0.025), np.quantile(means, 0.975)))
    assert lo < x.mean() < hi and hi - lo == pytest.approx(2 * 1.96 * x.std() / 10, rel=0.2)
    assert interval["value"] == pytest.approx(x.mean()) and "undefined" not in interval


def test_bootstrap_counts_undefined_resamples_instead_of_hiding_them():
    x = np.array([0.0, 0.0, 0.0, 1.0, 2.0])  # a resample of only zeros has no correlation
    interval = M.bootstrap(lambda idx: M.spearman(x[idx], x[idx] ** 2), len(x), resamples=500, seed=0)
    rng = np.random.default_rng(0)
    constant = sum(np.ptp(x[rng.integers(0, 5, 5)]) == 0 for _ in range(500))
    assert constant > 0 and interval["undefined"] == constant
    assert np.isfinite(interval["lo"]) and interval["value"] == pytest.approx(1.0)
    everything_undefined = M.percentile_interval(0.5, [float("nan"), None])
    assert everything_undefined["undefined"] == 2 and np.isnan(everything_undefined["lo"])


def test_a_bootstrap_over_groups_draws_whole_groups_and_is_as_wide_as_the_groups_are_many():
    """Cohorts that share pool items resample together: 8 copies of each of 6 values carry the
    information of 6 values, not 48, and the interval says so; with every row its own group the
    draws are the cohort bootstrap's, draw for draw."""
    distinct = RNG.normal(size=6)
    groups = np.repeat(np.arange(6), 8)[RNG.permutation(48)]  # a group's rows scattered through the table
    values = distinct[groups]
    per_row = M.bootstrap(lambda idx: values[idx].mean(), 48, resamples=2000, seed=3)
    per_group = M.bootstrap(lambda idx: values[idx].mean(), 48, resamples=2000, seed=3, groups=groups)
    six = M.bootstrap(lambda idx: distinct[idx].mean(), 6, resamples=2000, seed=3)
    assert per_group["hi"] - per_group["lo"] == pytest.approx(six["hi"] - six["lo"], rel=0.25)
    assert per_group["hi"] - per_group["lo"] > 2 * (per_row["hi"] - per_row["lo"])  # ~√8 wider
    from tap.stats import resample_groups, resample_indices

    for draw in resample_groups(groups, 50, 0):
        assert all((groups[draw] == g).sum() % 8 == 0 for g in range(6))  # whole groups only
    singletons = zip(resample_groups(np.arange(20), 30, 5), resample_indices(20, 30, 5))
    assert all(np.array_equal(a, b) for a, b in singletons)


def test_average_ranks_are_scipys_to_the_bit_with_ties_and_nan():
    from scipy.stats import rankdata

    from tap.stats import average_ranks

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 8, 33):
        for _ in range(50):
            x = rng.integers(0, max(1, n // 3), n).astype(float)  # many ties
            assert np.array_equal(average_ranks(x), rankdata(x))
            x = rng.normal(size=n)
            assert np.array_equal(average_ranks(x), rankdata(x))
    assert np.isnan(average_ranks(np.array([1.0, np.nan, 0.0]))).all()
