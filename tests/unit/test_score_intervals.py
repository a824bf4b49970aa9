"""`tap score`'s numbers say what they assume: the dataset-level interval includes the predictor's own
error, and scores of cohorts from another dataset or model say their intervals assume resemblance."""

import numpy as np
import pandas as pd
import pytest

from tap.api.scoring import dataset_lift, provenance_notes
from tap.config import config_to_toml, load_config
from tap.predict.predictor import TAPPredictor


def test_the_dataset_interval_includes_the_predictors_held_out_errors():
    scores = pd.DataFrame({"predicted_lift": [0.01] * 6})
    alone = dataset_lift(scores)
    assert (alone["lo"], alone["hi"]) == pytest.approx((0.01, 0.01)) and not alone["includes_predictor_error"]
    errors = np.random.default_rng(0).normal(scale=0.02, size=64)
    both = dataset_lift(scores, errors)
    assert both["includes_predictor_error"] and both["lo"] < 0.0 < 0.01 < both["hi"]
    assert both["hi"] - both["lo"] == pytest.approx(2 * 1.96 * 0.02, rel=0.25)  # one whole error, shared


def test_a_datasets_predictor_error_is_a_shared_bias_that_does_not_shrink_with_its_size():
    """A new dataset's error is mostly shared by its cohorts: with held-out errors whose folds differ
    by a bias of ±0.01, the interval of a 400-cohort dataset stays at least that wide, where
    independent per-cohort errors would shrink it like 1/√400."""
    rng = np.random.default_rng(1)
    folds = np.repeat(np.arange(5), 20)
    errors = np.array([-0.01, -0.005, 0.0, 0.005, 0.01])[folds] + rng.normal(scale=0.002, size=100)
    scores = pd.DataFrame({"predicted_lift": rng.normal(loc=0.01, scale=0.001, size=400)})
    whole = dataset_lift(scores, errors, folds)
    assert whole["lo"] < 0.01 - 0.008 and whole["hi"] > 0.01 + 0.008  # the outer folds' bias is inside
    small = dataset_lift(scores.head(8), errors, folds)
    assert (whole["hi"] - whole["lo"]) > 0.8 * (small["hi"] - small["lo"])  # no 1/√N shrinkage
    alone = dataset_lift(scores, errors)  # each error a fold of its own: one whole error shared
    spread = np.quantile(errors, 0.975) - np.quantile(errors, 0.025)
    assert alone["hi"] - alone["lo"] == pytest.approx(spread, rel=0.25)


def test_the_folds_of_a_predictors_held_out_errors():
    from tap.api.scoring import heldout_error_folds

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"adv_std": rng.normal(size=40)})
    y = X.adv_std.to_numpy() + rng.normal(scale=0.1, size=40)
    cv = TAPPredictor(model="ridge", random_state=0).fit(X, y)
    assert np.array_equal(heldout_error_folds(cv), cv.fold_of_)
    split = TAPPredictor(model="ridge", interval="split", random_state=0).fit(X, y)
    assert len(heldout_error_folds(split)) == len(split.heldout_errors_) == 10
    assert heldout_error_folds(TAPPredictor(model="ridge", interval="none").fit(X, y)) is None


@pytest.fixture
def trained(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"adv_std": rng.normal(size=40)})
    predictor = TAPPredictor(model="ridge", random_state=0).fit(
        X, X.adv_std.to_numpy() + rng.normal(scale=0.1, size=40)
    )
    (tmp_path / "config.toml").write_text(config_to_toml(load_config()))
    pd.DataFrame({"prompt": ["1+1=", "2+2="], "split": ["pool", "pool"]}).to_parquet(tmp_path / "items.parquet")
    meta = {"run_dir": str(tmp_path), "cohorts": 40, "config": load_config().model_dump(mode="json")}
    return predictor, tmp_path / "predictor.skops", meta


def test_scores_of_the_training_worlds_items_only_state_the_guarantee(trained):
    predictor, path, meta = trained
    notes = provenance_notes(predictor, path, meta, pd.DataFrame({"prompt": ["1+1="]}), None)
    assert len(notes) == 1 and "5-fold CV+" in notes[0] and "exchangeable with the 40 cohorts" in notes[0]


def test_scores_from_another_dataset_or_model_say_the_intervals_assume_resemblance(trained):
    predictor, path, meta = trained
    notes = provenance_notes(predictor, path, meta, pd.DataFrame({"prompt": ["What is 7*6?"]}), "/models/qwen")
    assert "another model (/models/qwen" in notes[-1] and "another dataset" in notes[-1]
    assert "a guide, not a guarantee" in notes[-1]


def test_score_flags_cohorts_outside_training_without_learning_signal_and_likely_harmful():
    from tap.api.scoring import feature_ranges, learning_signal, outside_training, scoring_notes

    train = pd.DataFrame({"adv_std": [0.0, 1.0, 2.0], "gold_nll": [1.0, 1.5, 2.0]})
    ranges = feature_ranges(train)
    assert ranges == {"adv_std": [0.0, 2.0], "gold_nll": [1.0, 2.0]}
    new = pd.DataFrame({"adv_std": [2.1, 2.3, -1.0], "gold_nll": [1.5, 1.5, 9.0]})
    # 2.1 lies within the 10% slack (up to 2.2); 2.3 does not; the third is outside on both
    assert outside_training(new, ranges)["outside_training"] == ["", "adv_std", "adv_std,gold_nll"]
    assert outside_training(new, None) == {}  # a sidecar from before ranges were stored: no column
    feats = pd.DataFrame({"frac_nondegenerate": [0.0, 0.5, np.nan]})
    assert list(learning_signal(feats)["learning_signal"]) == [False, True, True]  # unknown counts as a signal
    result = pd.DataFrame({"p_harm": [0.7, 0.2, 0.5], "likely_harmful": [True, False, True],
                           "learning_signal": [False, True, True], "outside_training": ["", "adv_std", ""]})
    notes = " ".join(scoring_notes(result, predictor=None))
    assert "2 of 3 cohorts likely harmful" in notes and "1 of 3 cohorts had no learning signal" in notes
    assert "no gate" in notes and "1 of 3 cohorts have features outside the range" in notes
