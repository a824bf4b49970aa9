"""The evaluation of every scorer on synthetic cohorts whose true lift is known."""

import json

import numpy as np
import pandas as pd
import pytest

from tap.evaluate.evaluation import evaluate_scorers, headline_rows, permutation_importances, selection_curve
from tap.evaluate.scorers import SignedFeature, build_scorers
from tap.store import _json_safe, write_json

SUBJECTS = np.array(["math", "code", "science", "knowledge"])


def _world(n=32, seeds=3, noise=0.3, seed=0):
    """Cohorts whose lift is −pass_rate_mean (a feature that predicts *lower* lift) plus seed noise;
    the other features are noise. Every 8th cohort is mixed."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    features = pd.DataFrame({
        "cohort_id": [f"c{i:03d}" for i in range(n)],
        "pass_rate_mean": -truth + 0.1 * rng.normal(size=n),
        "adv_std": rng.normal(size=n),
        "frac_nondegenerate": rng.normal(size=n),
        "token_entropy_mean": rng.normal(size=n),
        "grad_dot": truth + 1.0 * rng.normal(size=n),
        "cost_rollout_seconds": 0.5, "cost_rollout_flops": 1e9, "cost_R_seconds": 0.01,
        "cost_F_seconds": 0.2, "cost_F_flops": 2e9, "cost_G_seconds": 1.0, "cost_G_flops": 6e9,
    })
    features.loc[3, "adv_std"] = np.nan  # an undefined feature
    y_cs = truth[:, None] + noise * rng.normal(size=(n, seeds))
    domains = np.where(np.arange(n) % 8 == 7, "mixed", SUBJECTS[np.arange(n) % 4])
    members = [{"math", "code"} if d == "mixed" else {d} for d in domains]
    return features, y_cs, domains, members


PREDICTOR = {"interval": "jackknife+", "level": 0.8, "n_folds": 4, "max_iter": 20, "random_state": 0}


@pytest.fixture(scope="module")
def evaluated():
    features, y_cs, domains, members = _world()
    scorers = build_scorers(features, (30.0, 5e12), y_cs.shape[1], PREDICTOR)
    metrics, predictions = evaluate_scorers(scorers, features, y_cs, domains, members, q=0.25, resamples=60, random_draws=30, level=0.8)
    return scorers, metrics, predictions, features, y_cs


def _by_name(metrics):
    return {e["name"]: e for e in metrics["scorers"]}


def test_every_scorer_is_evaluated_with_its_cost(evaluated):
    scorers, metrics, *_ = evaluated
    names = [s.name for s in scorers]
    for expected in ("TAP gbm R", "TAP ridge R", "TAP gbm R+F", "TAP ridge R+F+G", "pass_rate_mean", "token_entropy_mean",
                     "grad_dot", "measured lift, 1 seed", "measured lift, 2 seeds", "random"):
        assert expected in names
    entries = _by_name(metrics)
    assert entries["TAP gbm R"]["cost_seconds"] == pytest.approx(0.51)
    assert entries["TAP gbm R+F+G"]["cost_seconds"] == pytest.approx(1.71)
    assert entries["grad_dot"]["cost_seconds"] == pytest.approx(1.5) and entries["grad_dot"]["cost_flops"] == pytest.approx(7e9)
    assert entries["token_entropy_mean"]["cost_seconds"] == pytest.approx(0.51)  # read off the sampler: no forward pass
    assert entries["measured lift, 2 seeds"]["cost_seconds"] == pytest.approx(60.0)
    assert entries["random"]["cost_seconds"] == 0


def test_an_informative_feature_is_used_the_right_way_round(evaluated):
    _, metrics, *_ = evaluated
    entries = _by_name(metrics)
    rho = entries["pass_rate_mean"]["metrics"]["loco_spearman"]
    assert rho["value"] > 0.8 and rho["lo"] <= rho["value"] <= rho["hi"]
    assert entries["pass_rate_mean"]["metrics"]["top_gain"]["value"] > 0.5
    assert entries["TAP ridge R"]["metrics"]["loco_spearman"]["value"] > 0.8
    noise = entries["adv_std"]["metrics"]["loco_spearman"]
    assert noise["lo"] < 0.3 and noise["value"] < 0.5  # pure noise (its sign is learned per fold: slightly negative bias)
    assert entries["grad_dot"]["note"].startswith("fixed sign")


def test_random_scorer_averages_to_nothing(evaluated):
    _, metrics, *_ = evaluated
    random = _by_name(metrics)["random"]["metrics"]
    assert abs(random["loco_spearman"]["value"]) < 0.1 and abs(random["top_gain"]["value"]) < 0.15
    assert random["loco_spearman"]["lo"] < 0 < random["loco_spearman"]["hi"]


def test_measured_lift_selects_well_and_has_no_loco_numbers(evaluated):
    _, metrics, *_ = evaluated
    measured = _by_name(metrics)["measured lift, 2 seeds"]["metrics"]
    assert "loco_spearman" not in measured
    assert measured["heldout_spearman"]["value"] > 0.8 and measured["top_fraction_of_oracle"]["value"] > 0.7
    assert measured["top_gain_vs_measured"]["value"] == pytest.approx(0)


def test_noise_ceiling_and_lodo_and_coverage(evaluated):
    _, metrics, _, _, y_cs = evaluated
    noise = metrics["noise"]
    assert 0.8 < noise["single_seed_reliability"]["value"] < 1
    assert noise["ceiling"]["value"] == pytest.approx(noise["projection"]["3"])
    tap = _by_name(metrics)["TAP ridge R"]
    assert set(tap["lodo_per_subject"]) == {"math", "code", "science", "knowledge"}
    assert tap["metrics"]["lodo_spearman"]["value"] > 0.7
    cov = tap["coverage"]
    assert cov["level"] == 0.8 and 0.5 < cov["coverage"]["value"] <= 1 and cov["mean_width"] > 0


def test_predictions_are_long_form_and_metrics_are_strict_json(evaluated, tmp_path):
    scorers, metrics, predictions, features, y_cs = evaluated
    model_based = [s.name for s in scorers if s.make is not None]
    assert set(predictions.scorer) == set(model_based) and len(predictions) == len(model_based) * len(features)
    tap = predictions[predictions.scorer == "TAP gbm R"]
    assert tap.loco_lo.notna().all() and (tap.loco_lo < tap.loco_hi).all()
    np.testing.assert_allclose(tap.label, y_cs.mean(axis=1))
    assert predictions[predictions.subject == "mixed"].lodo_pred.isna().all()
    write_json(metrics, tmp_path / "metrics.json")
    json.loads((tmp_path / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    rows = headline_rows(metrics)
    assert len(rows) == len(scorers) and {"loco_spearman_lo", "top_gain_vs_measured", "coverage"} <= set(rows[0])


def test_parallel_workers_give_the_same_numbers():
    features, y_cs, domains, members = _world(n=16)
    scorers = [s for s in build_scorers(features, (1.0, 1.0), 3, PREDICTOR) if s.name in ("TAP gbm R", "adv_std", "measured lift, 2 seeds", "random")]
    one, _ = evaluate_scorers(scorers, features, y_cs, domains, members, resamples=20, random_draws=5, n_jobs=1)
    two, _ = evaluate_scorers(scorers, features, y_cs, domains, members, resamples=20, random_draws=5, n_jobs=2)
    assert json.dumps(_json_safe(one), sort_keys=True) == json.dumps(_json_safe(two), sort_keys=True)  # NaN-aware


def test_signed_feature_learns_its_sign_and_fill_from_training_rows_only():
    x = np.array([[1.0], [2.0], [np.nan], [4.0]])
    model = SignedFeature().fit(x, np.array([4.0, 3.0, 2.0, 1.0]))
    assert model.sign_ == -1 and model.fill_ == 2.0
    np.testing.assert_allclose(model.predict(np.array([[3.0], [np.nan]])), [-3.0, -2.0])
    assert SignedFeature(sign=1.0).fit(x, np.array([4.0, 3.0, 2.0, 1.0])).sign_ == 1
    assert SignedFeature().fit(np.ones((4, 1)), np.arange(4.0)).sign_ == 1  # a constant column: no evidence, +1


def test_selection_curve_of_the_oracle_falls_to_the_mean_at_100_percent():
    rng = np.random.default_rng(1)
    y_cs = rng.normal(size=(40, 3))
    curve = selection_curve(y_cs.T.copy(), y_cs)  # each seed ranked by itself: the in-sample oracle
    assert np.all(np.diff(curve) <= 1e-12) and curve[-1] == pytest.approx(y_cs.mean())
    assert curve[0] == pytest.approx(np.mean([np.sort(y_cs[:, h])[-2:].mean() for h in range(3)]))  # top 5% of 40 = 2


def test_permutation_importance_ranks_the_informative_feature_first():
    features, y_cs, _, _ = _world(n=48)
    from tap.predict.predictor import TAPPredictor

    table = permutation_importances(lambda: TAPPredictor(model="ridge", interval="none"),
                                    features[["adv_std", "pass_rate_mean", "frac_nondegenerate"]], y_cs.mean(axis=1), repeats=5)
    assert table.feature.iloc[0] == "pass_rate_mean" and table.importance.iloc[0] > 0.5
    assert abs(table.set_index("feature").importance["frac_nondegenerate"]) < 0.2
