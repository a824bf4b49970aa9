"""The closed loop on the default tiny policy: same candidates for every arm, online refits, the
optimizer kept across steps, and `tap loop` writing loop.parquet and its summary."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tap.config import load_config
from tap.experiments.loop import OnlineScorer, _train, candidates, summarize
from tap.policy.hf import HFPolicy
from tests.conftest import run_tap

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it

LOOP = ["loop.steps=2", "loop.candidates=3", "loop.train_steps=2", "loop.seeds=2",
        'loop.arms=["tap", "random", "cascade"]', "loop.cascade_top=2"]


def test_online_scorer_uses_its_prior_then_a_ridge_refit():
    features = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, 1.0, 0.0]}, index=["x", "y", "z"])
    scorer = OnlineScorer(lambda f: -f["a"].to_numpy(), "prior: -a", ["a", "b"], refit_after=4)
    scores, name = scorer.score(features)
    assert name == "prior: -a" and list(scores) == [0.0, -1.0, -2.0]
    for a, b in ((0.0, 1.0), (1.0, 0.0), (2.0, 1.0), (3.0, 0.0)):
        scorer.observe(pd.Series({"a": a, "b": b}), realized=2 * a)  # lift grows with a
    scores, name = scorer.score(features)
    assert name == "ridge on 4 observations" and np.argmax(scores) == 2


def test_candidates_are_fresh_deterministic_and_shared_by_arms(default_world):
    config = load_config()
    first = candidates(config, default_world.items, 0, 0, 4)
    assert first.cohort_id.nunique() == 4 and first.cohort_id.str.startswith("s0t0-").all()
    pd.testing.assert_frame_equal(first, candidates(config, default_world.items, 0, 0, 4))
    other = candidates(config, default_world.items, 0, 1, 4)
    assert set(first.item_id) != set(other.item_id)
    assert not set(first.prompt) & set(default_world.probe.prompt)  # candidates come from the pool, never the probe


def test_training_continues_with_the_same_optimizer_state(default_world):
    settings = {**load_config().label.model_dump(), "steps": 2}
    policy = HFPolicy.from_pretrained(default_world.policy_dir)
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=3e-5)
    cohorts = default_world.cohorts
    _train(policy, optimizer, cohorts[cohorts.cohort_id == "c0001"], settings, seed=0)
    _train(policy, optimizer, cohorts[cohorts.cohort_id == "c0002"], settings, seed=1)
    steps = {float(state["step"]) for state in optimizer.state.values()}
    assert steps == {4.0}  # 2 + 2 updates on one AdamW: its moments carried over


def test_tap_loop_writes_the_table_and_a_paired_summary(default_world, tap_home, tmp_path):
    """The loop's realized lift is the configured target (lift_pass: the probe's expected accuracy, measured
    as a label run measures it), and the cascade trains on the better short run of TAP's top two."""
    sets = [a for s in LOOP for a in ("--set", s)]
    result = run_tap("loop", str(tmp_path), *sets, env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_parquet(tmp_path / "loop.parquet")
    assert len(table) == 3 * 2 * 2 and set(table.arm) == {"tap", "random", "cascade"}
    assert set(table[table.arm == "tap"].scorer) == {"prior: adv_std"}  # fewer than 4 observations: no refit yet
    config = load_config(None, LOOP)
    assert config.evaluate.target == "lift_pass" and set(table.target) == {"lift_pass"}
    for row in table.itertuples():
        pool = candidates(config, default_world.items, row.loop_seed, row.step - 1, 3)
        assert row.chosen in set(pool.cohort_id)
    for (seed, arm), run in table.groupby(["loop_seed", "arm"]):
        run = run.sort_values("step")
        np.testing.assert_allclose(run.realized_lift.cumsum(), run.cumulative_lift, atol=1e-9)
        np.testing.assert_allclose(run.realized_lift.iloc[1:], np.diff(run.probe_pass), atol=1e-9)  # the target
        if arm == "cascade":
            for row in run.itertuples():
                shorts = list(row.short_runs)
                assert len(shorts) == 2 and row.chosen == max(shorts, key=lambda r: r["value"])["cohort_id"]
        else:
            assert all(len(r) == 0 for r in run.short_runs)
    tap_first = table[(table.arm == "tap") & (table.step == 1)].set_index("loop_seed").chosen
    cascade_first = table[(table.arm == "cascade") & (table.step == 1)].set_index("loop_seed")
    for seed, row in cascade_first.iterrows():  # same state, same prior: TAP's top pick is among the short runs
        assert tap_first[seed] in {r["cohort_id"] for r in row.short_runs}
    summary = json.loads((tmp_path / "loop.json").read_text())
    assert summary["seeds"] == 2 and summary["target"] == "lift_pass" and set(summary["arms"]) == {"tap", "random",
                                                                                                   "cascade"}
    assert summary["paired_vs_random"]["tap"]["lo"] <= summary["paired_vs_random"]["tap"]["mean"]
    assert "minus random (paired)" in result.stdout


def test_summary_pairs_arms_by_loop_seed():
    rows = [{"loop_seed": s, "arm": arm, "step": 1, "target": "lift_pass", "cumulative_lift": base + gain}
            for s, base in enumerate([0.1, -0.3, 0.5]) for arm, gain in (("tap", 0.01), ("random", 0.0))]
    summary = summarize(pd.DataFrame(rows))
    paired = summary["paired_vs_random"]["tap"]
    assert paired["mean"] == pytest.approx(0.01) and paired["hi"] - paired["lo"] == pytest.approx(0, abs=1e-12)
    assert summary["arms"]["tap"]["hi"] - summary["arms"]["tap"]["lo"] > 0.5  # unpaired spread is wide
