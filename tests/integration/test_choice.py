"""Per-step choice quality (`tap choice`) on the default tiny policy: at every state all arms choose
among the same candidates, each choice is judged against the same oracle labels (label runs from
that state, through the ledger), and the trajectory follows the TAP arm's choice."""

import json

import numpy as np
import pandas as pd
import pytest

from tap.experiments.choice import judge, summarize
from tap.config import load_config
from tap.labels.ledger import Ledger
from tap.experiments.loop import candidates
from tests.conftest import run_tap

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it

CHOICE = ["loop.steps=2", "loop.candidates=3", "loop.train_steps=1", "loop.seeds=1", "loop.oracle_seeds=1"]


def test_every_arm_chooses_among_the_same_candidates_at_the_same_state(default_world, tap_home, tmp_path):
    sets = [a for s in CHOICE for a in ("--set", s)]
    result = run_tap("choice", str(tmp_path), *sets, "--workers", "1", env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_parquet(tmp_path / "choice.parquet")
    scores = pd.read_parquet(tmp_path / "choice_candidates.parquet")
    config = load_config(None, CHOICE)
    arms = list(config.loop.choice_arms)
    assert len(table) == 2 * len(arms) and set(table.arm) == set(arms)
    for (seed, step), state in table.groupby(["loop_seed", "step"]):
        pool = set(candidates(config, default_world.items, seed, step - 1, 3).cohort_id)
        assert set(state.chosen) <= pool
        here = scores[(scores.loop_seed == seed) & (scores.step == step)]
        for arm in [*arms, "oracle"]:
            assert set(here[here.arm == arm].cohort_id) == pool  # every arm scored exactly this state's candidates
        oracle = here[here.arm == "oracle"].set_index("cohort_id").score
        assert state.best_value.nunique() == 1 and state.best_value.iloc[0] == pytest.approx(oracle.max())
        for row in state.itertuples():
            assert row.oracle_value == pytest.approx(oracle[row.chosen]) and row.regret >= 0 and 1 <= row.rank <= 3
            if row.arm not in ("random",):
                arm_scores = here[here.arm == row.arm].set_index("cohort_id").score
                assert arm_scores[row.chosen] == arm_scores.max()
        followed = here[(here.arm == "oracle") & here.followed.astype(bool)].cohort_id.tolist()
        assert followed == [state[state.arm == "tap"].chosen.iloc[0]]
    ledger = Ledger(tmp_path / "choice" / "labels.sqlite").table()
    ok = ledger[ledger.status == "ok"]
    assert len(ok) == 2 * 3 * 2  # per state: 3 oracle runs + 3 short runs
    assert (
        ok.config_hash.nunique() == 2
    )  # two states (different weights); a 1-step short run is the oracle's settings on another seed
    summary = json.loads((tmp_path / "choice.json").read_text())
    assert summary["states"] == 2 and set(summary["arms"]) == set(arms) and "tap" in summary["paired_vs_random"]
    assert "Choice quality" in result.stdout


def test_the_cascade_short_runs_only_taps_top_candidates(default_world, tap_home, tmp_path):
    """Without the short-run arm, the ledger holds the oracle's runs and one short run per state: of the
    candidate TAP ranked first (cascade1), on the seed the oracle does not use; the arm is priced."""
    settings = [*CHOICE, "loop.steps=1", 'loop.choice_arms=["tap", "random", "cascade1"]']  # the last --set wins
    sets = [a for s in settings for a in ("--set", s)]
    result = run_tap("choice", str(tmp_path), *sets, "--workers", "1", env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr[-3000:]
    scores = pd.read_parquet(tmp_path / "choice_candidates.parquet")
    tap = scores[scores.arm == "tap"].set_index("cohort_id").score
    ok = Ledger(tmp_path / "choice" / "labels.sqlite").table().query("status == 'ok'")
    assert sorted(ok[ok.seed == 0].cohort_id) == sorted(tap.index)  # the oracle: every candidate
    assert ok[ok.seed == 1].cohort_id.tolist() == [tap.idxmax()]  # the short run: TAP's first only
    table = pd.read_parquet(tmp_path / "choice.parquet").set_index("arm")
    assert table.loc["cascade1", "chosen"] == tap.idxmax() and table.loc["cascade1", "short_runs"] == 1
    assert table.loc["cascade1", "seconds"] > table.loc["tap", "seconds"] > 0 == table.loc["random", "seconds"]
    summary = json.loads((tmp_path / "choice.json").read_text())
    assert summary["arms"]["cascade1"]["cost_per_state"]["short_runs"] == 1


def test_judge_and_summary():
    assert judge(np.array([0.1, 0.3, 0.2]), 2) == {
        "oracle_value": 0.2,
        "best_value": 0.3,
        "mean_value": pytest.approx(0.2),
        "regret": pytest.approx(0.1),
        "rank": 2.0,
        "gain": pytest.approx(0.0),
        "best_gain": pytest.approx(0.1),
    }
    rows = []
    for seed in range(4):
        for step in (1, 2):
            oracle = np.array([0.0, 1.0, 2.0]) + seed
            for arm, pick in (("tap", 2), ("random", (seed + step) % 3)):
                rows.append(
                    {
                        "loop_seed": seed,
                        "step": step,
                        "arm": arm,
                        "chosen": str(pick),
                        "scorer": arm,
                        "score": 0.0,
                        **judge(oracle, pick),
                    }
                )
    summary = summarize(pd.DataFrame(rows), resamples=200)
    assert summary["arms"]["tap"]["regret"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert summary["arms"]["tap"]["fraction_of_oracle"]["mean"] == pytest.approx(1.0)
    paired = summary["paired_vs_random"]["tap"]["regret"]
    assert paired["mean"] < 0 and paired["lo"] <= paired["mean"] <= paired["hi"]
    assert summary["uniform"]["regret"] == pytest.approx(1.0)


def test_the_report_draws_choice_quality():
    from tap.report.experiment_figures import choice_quality

    summary = {
        "states": 8,
        "candidates": 3,
        "target": "lift_pass",
        "uniform": {"regret": 0.5},
        "arms": {
            "random": {"regret": {"mean": 0.4, "lo": 0.2, "hi": 0.6}},
            "tap": {"regret": {"mean": 0.1, "lo": 0.0, "hi": 0.3}},
        },
    }
    figure = choice_quality(summary)
    assert list(figure.data[0].x) == ["tap", "random"] and list(figure.data[0].error_y.array) == pytest.approx(
        [0.2, 0.2]
    )
