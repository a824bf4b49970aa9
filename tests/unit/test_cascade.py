"""The TAP-then-short-run cascade (tap/experiments/cascade.py) and the prices `tap choice` puts on
every arm (tap/experiments/choice.py): the cascade pays for short runs of its top k only."""

import numpy as np
import pandas as pd
import pytest

from tap.experiments.cascade import cascade_pick, cascade_top
from tap.experiments.choice import arm_price, judge, state_costs, summarize


def test_the_cascade_short_runs_only_its_top_k_and_picks_the_best_short_run():
    asked = []

    def short_run(indices):
        asked.append(list(indices))
        return [{1: 0.0, 3: 0.2, 2: 0.5}[i] for i in indices]

    scores = np.array([0.1, 0.5, 0.3, 0.4])
    index, values, top = cascade_pick(scores, short_run, 2)
    assert asked == [[1, 3]] and top == [1, 3]  # one call, on TAP's two best only
    assert index == 3  # the better short run of the two, though TAP ranked 1 first
    assert np.isnan(values[[0, 2]]).all() and list(values[[1, 3]]) == [0.0, 0.2]
    index, _, top = cascade_pick(scores, short_run, 1)
    assert index == 1 and top == [1]  # k = 1 is TAP's own choice


def test_cascade_ties_and_missing_scores_keep_a_deterministic_order():
    index, _, top = cascade_pick(np.array([np.nan, 1.0, 1.0, 0.0]), lambda idx: [0.3 for _ in idx], 3)
    assert top == [1, 2, 3] and index == 1  # NaN last; equal scores in candidate order; equal short runs: TAP's order


def test_cascade_arm_names():
    names = ("cascade1", "cascade12", "tap", "cascade", "cascade0")
    assert [cascade_top(a) for a in names] == [1, 12, None, None, None]


def test_each_arm_pays_for_what_it_reads():
    features = pd.DataFrame({"cost_rollout_seconds": [1.0, 1.0], "cost_rollout_flops": [10.0, 10.0],
                             "cost_R_seconds": [0.1, 0.1], "cost_F_seconds": [0.5, 0.5], "cost_F_flops": [5.0, 5.0],
                             "cost_G_seconds": [2.0, 2.0], "cost_G_flops": [40.0, 40.0]}, index=["a", "b"])
    parts = state_costs(features)
    assert parts["rollouts"] == {"seconds": 2.0, "flops": 20.0} and parts["G"] == {"seconds": 4.0, "flops": 80.0}
    shorts = pd.DataFrame({"seconds": [7.0, 9.0], "flops": [100.0, 300.0]}, index=["a", "b"])
    price = lambda arm, ran=(): arm_price(arm, parts, {"R", "F"}, shorts, list(ran))  # noqa: E731
    assert price("random") == {"seconds": 0.0, "flops": 0.0, "short_runs": 0}
    assert price("reward_filter")["seconds"] == pytest.approx(2.2)
    assert price("gradient") == {"seconds": pytest.approx(6.2), "flops": 100.0, "short_runs": 0}
    assert price("tap") == {"seconds": pytest.approx(3.2), "flops": 30.0, "short_runs": 0}
    assert price("short_run", ["a", "b"]) == {"seconds": 16.0, "flops": 400.0, "short_runs": 2}
    assert price("cascade1", ["b"]) == {"seconds": pytest.approx(12.2), "flops": 330.0, "short_runs": 1}


def test_the_summary_prices_each_arm_against_the_short_run():
    rows = []
    for seed in range(3):
        oracle = np.array([0.0, 1.0, 2.0])
        for arm, pick, seconds in (("tap", 2, 1.0), ("short_run", 2, 8.0), ("cascade1", 2, 3.0), ("random", 0, 0.0)):
            rows.append({"loop_seed": seed, "step": 1, "arm": arm, "chosen": str(pick), "scorer": arm, "score": 0.0,
                         **judge(oracle, pick), "seconds": seconds, "flops": 10 * seconds, "short_runs": 0})
    summary = summarize(pd.DataFrame(rows), resamples=50)
    assert summary["arms"]["cascade1"]["cost_per_state"]["seconds_vs_short_run"] == pytest.approx(3 / 8)
    assert summary["arms"]["random"]["cost_per_state"]["seconds"] == 0.0
    assert "cost_per_state" not in summarize(pd.DataFrame(rows).drop(columns=["seconds", "flops", "short_runs"]),
                                             resamples=50)["arms"]["tap"]


def test_the_report_draws_share_of_the_oracle_against_cost():
    from tap.report.experiment_figures import choice_cost

    share = {"mean": 0.7, "lo": 0.6, "hi": 0.8}
    summary = {"states": 4, "arms": {
        "tap": {"fraction_of_oracle": share, "cost_per_state": {"seconds": 2.0}},
        "cascade2": {"fraction_of_oracle": {**share, "mean": 0.9, "hi": 0.95}, "cost_per_state": {"seconds": 9.0}},
        "random": {"fraction_of_oracle": {"mean": 0.0, "lo": -0.1, "hi": 0.1}, "cost_per_state": {"seconds": 0.0}},
    }}
    trace = choice_cost(summary).data[0]
    assert list(trace.text) == ["tap", "cascade2", "random"] and list(trace.y) == [0.7, 0.9, 0.0]
    assert list(trace.x) == [2.0, 9.0, 0.5]  # random's zero drawn at a quarter of the cheapest priced arm (log axis)
    assert list(trace.error_y.array) == pytest.approx([0.1, 0.05, 0.1])
