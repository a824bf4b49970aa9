"""`tap score` with no predictor: the zoo's pooled predictor that ships with TAP ranks new cohorts zero-shot.

Real rollouts and features of the shipped tiny policy on cohorts of the default world; the test checks the
scores are the shipped predictor's on the features it wrote (normalized within the cohorts scored, as its
worlds were), that the ranking says it is zero-shot and how well zero-shot did on held-out worlds."""

import json

import numpy as np
import pandas as pd

from tap.evaluate.transfer import normalize
from tap.predict.artifact import SHIPPED_ZOO, load_predictor
from tests.conftest import run_tap


def test_score_without_a_predictor_ranks_zero_shot_with_the_shipped_zoo_predictor(tap_home, tmp_path):
    env = {"TAP_HOME": str(tap_home)}
    built = run_tap("world", "build", "--out", str(tmp_path / "w"), "--set", "world.cohorts.count=9", env=env)
    assert built.returncode == 0, built.stderr
    out = tmp_path / "scores.csv"
    scored = run_tap("score", str(tmp_path / "w" / "cohorts.parquet"), "--out", str(out), env=env)
    assert scored.returncode == 0, scored.stderr
    text = " ".join(scored.stdout.split())
    assert "No predictor given: a zero-shot ranking by the zoo's pooled predictor" in text
    assert "Held out one world at a time, it ranked development worlds" in text and "mean ρ" in text

    meta = json.loads(SHIPPED_ZOO.with_suffix(".json").read_text())
    scores = pd.read_csv(out)
    assert list(scores["rank"]) == list(range(1, 10)) and scores.zero_shot_score.is_monotonic_decreasing
    features = pd.read_parquet(tmp_path / "scores.features.parquet").set_index("cohort_id")
    X = normalize(features[meta["columns"]].to_numpy(float), meta["normalization"])
    expected = pd.Series(load_predictor(SHIPPED_ZOO).predict(pd.DataFrame(X, columns=meta["columns"])),
                         index=features.index)
    assert np.allclose(scores.set_index("cohort_id").zero_shot_score, expected.loc[scores.cohort_id])


def test_the_shipped_zoo_predictor_says_what_it_was_fitted_on():
    meta = json.loads(SHIPPED_ZOO.with_suffix(".json").read_text())
    assert meta["kind"] == "zoo" and meta["normalization"] in ("none", "z", "rank")
    assert len(meta["worlds"]) >= 3 and sum(w["cohorts"] for w in meta["worlds"]) == meta["cohorts"]
    assert {"development", "test"} <= set(meta["zero_shot"]) and meta["zero_shot"]["test"]["rho"]["lo"] is not None
    assert SHIPPED_ZOO.stat().st_size < 200_000  # the package stays small
